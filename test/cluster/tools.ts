// The packaging and GitOps test tools (helm, lua-health, kstatus), built once by `build-bins.sh tools` from the
// versions pinned in versions.env, and kubectl from the control plane's binaries.
import { execFileSync } from "node:child_process";
import { join } from "node:path";
import { parseAllDocuments } from "yaml";
import { binaries, KUBECONFIG, ROOT } from "./cluster.ts";

let toolsDir: string | undefined;

export type Tool = "helm" | "lua-health" | "kstatus" | "kubectl";

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
