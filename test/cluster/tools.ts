// The packaging and GitOps test tools (helm, lua-health, kstatus, flux-health), built once by `build-bins.sh tools` from the
// versions pinned in versions.env, and kubectl from the control plane's binaries.
import { execFile, execFileSync, spawnSync } from "node:child_process";
import { join } from "node:path";
import { parseAllDocuments } from "yaml";
import { binaries, KUBECONFIG, ROOT } from "./cluster.ts";

let toolsDir: string | undefined;

export type Tool = "helm" | "lua-health" | "kstatus" | "flux-health" | "kubectl";

/** The path of a tool, building the wrappers the first time (minutes when cold; see README). */
export function tool(name: Tool): string {
  if (name === "kubectl") return join(binaries(), "kubectl");
  toolsDir ??= execFileSync("bash", [join(ROOT, "test/cluster/build-bins.sh"), "tools"], {
    stdio: ["ignore", "pipe", "inherit"],
  })
    .toString()
    .trim();
  return join(toolsDir, name);
}

/** Runs a tool against the local cluster (KUBECONFIG set); returns stdout, or throws with stderr. */
export function run(name: Tool, args: string[], input?: string): string {
  try {
    return execFileSync(tool(name), args, {
      input,
      env: { ...process.env, KUBECONFIG },
      stdio: ["pipe", "pipe", "pipe"],
      maxBuffer: 64 * 1024 * 1024,
    }).toString();
  } catch (error) {
    const e = error as { stderr?: Buffer; stdout?: Buffer };
    throw new Error(
      `${name} ${args.join(" ")} failed: ${e.stderr?.toString().trim() || e.stdout?.toString() || String(error)}`,
    );
  }
}

/** `run` without blocking the event loop (for long waits such as `kubectl wait` beside other work). */
export function runAsync(name: Tool, args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(
      tool(name),
      args,
      { env: { ...process.env, KUBECONFIG }, maxBuffer: 64 * 1024 * 1024 },
      (err, out, stderr) =>
        err ? reject(new Error(`${name} ${args.join(" ")} failed: ${stderr.trim() || String(err)}`)) : resolve(out),
    );
  });
}

export const CHART = join(ROOT, "helm/collab-operator");

export interface Manifest {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; [key: string]: unknown };
  [key: string]: any;
}

/** `helm template` of the chart: its objects, in order. */
export function renderChart(args: string[] = [], namespace = "collab-system", release = "collab-operator"): Manifest[] {
  return parseAllDocuments(run("helm", ["template", release, CHART, "--namespace", namespace, ...args]))
    .map((d) => d.toJS() as Manifest)
    .filter(Boolean);
}

/** The Argo CD health script the chart ships (docs/gitops.md). */
export const ARGOCD_HEALTH = join(CHART, "files/argocd-health.lua");

export interface Verdict {
  status: string;
  message?: string;
}

/** The Flux Kustomization example whose healthCheckExprs are tested (docs/gitops.md). */
export const FLUX_KUSTOMIZATION = join(ROOT, "examples/gitops/flux-kustomization.yaml");

export interface Verdicts {
  argo: Verdict;
  argoOpenLibs: Verdict;
  kstatus: Verdict;
  /** A status, or an error when an expression cannot be evaluated (Flux then polls again). */
  flux: Verdict & { error?: string };
}

/**
 * What Argo CD (the chart's script, with argocd-cm's default libraries and with useOpenLibs), kstatus, and Flux (the
 * example Kustomization's healthCheckExprs) say of each object file, in order.
 */
export function healthVerdicts(files: string[]): Verdicts[] {
  const lines = (out: string) =>
    out
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l) as Verdict);
  const argo = lines(run("lua-health", [ARGOCD_HEALTH, ...files]));
  const argoOpenLibs = lines(run("lua-health", ["-open-libs", ARGOCD_HEALTH, ...files]));
  const kstatus = lines(run("kstatus", files));
  // flux-health exits 1 when an object cannot be evaluated; its lines still say which.
  const flux = lines(spawnSync(tool("flux-health"), [FLUX_KUSTOMIZATION, ...files]).stdout.toString());
  return files.map((_, i) => ({
    argo: argo[i] as Verdict,
    argoOpenLibs: argoOpenLibs[i] as Verdict,
    kstatus: kstatus[i] as Verdict,
    flux: flux[i] as Verdicts["flux"],
  }));
}
