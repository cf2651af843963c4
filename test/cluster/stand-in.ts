// Plays the kubelet for containers of the operator's own image: KWOK's nodes run no containers, so a test or the
// quickstart runs a container of a pod the operator rendered as a local process, exactly as the pod says: its args to
// the image's entrypoint (`collab-operator`, here src/cli.ts), its env resolved as the kubelet does (values, Secret
// keys read from the Secret itself, the pod's own fields), and its termination message file. Only what differs on a
// laptop is changed, and said by the caller: a loopback port, a path on a volume, an endpoint the machine can reach.
// Its end is then put on the KWOK pod through the sim-container-outcomes stage (sim-stages.yaml).
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, readFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { V1Container, V1EnvVar, V1Pod } from "@kubernetes/client-node";
import { kubectl, ROOT } from "./cluster.ts";

/** The kubelet keeps at most this much of a termination message. */
const MAX_TERMINATION_MESSAGE = 4096;

export function getPod(bin: string, namespace: string, name: string): V1Pod {
  return JSON.parse(kubectl(bin, ["-n", namespace, "get", "pod", name, "-o", "json"])) as V1Pod;
}

function container(pod: V1Pod, name: string): V1Container {
  const found = [...(pod.spec?.initContainers ?? []), ...(pod.spec?.containers ?? [])].find((c) => c.name === name);
  if (!found) throw new Error(`pod ${pod.metadata?.name} has no container ${name}`);
  return found;
}

/** The container's environment as the kubelet builds it; a missing Secret or key fails as it would. */
export function containerEnv(bin: string, pod: V1Pod, name: string): Record<string, string> {
  const namespace = pod.metadata?.namespace as string;
  const secrets = new Map<string, Record<string, string>>();
  const secretData = (secret: string) => {
    if (!secrets.has(secret)) {
      const data = JSON.parse(kubectl(bin, ["-n", namespace, "get", "secret", secret, "-o", "json"])).data ?? {};
      secrets.set(secret, data);
    }
    return secrets.get(secret) as Record<string, string>;
  };
  const value = (e: V1EnvVar): string => {
    if (e.value !== undefined) return e.value;
    const ref = e.valueFrom?.secretKeyRef;
    if (ref) {
      const data = secretData(ref.name as string)[ref.key];
      if (data === undefined) throw new Error(`CreateContainerConfigError: couldn't find key ${ref.key} in Secret`);
      return Buffer.from(data, "base64").toString("utf8");
    }
    const field = e.valueFrom?.fieldRef?.fieldPath;
    if (field === "metadata.name") return pod.metadata?.name as string;
    if (field === "metadata.namespace") return namespace;
    throw new Error(`env ${e.name}: the stand-in does not resolve ${JSON.stringify(e.valueFrom)}`);
  };
  return Object.fromEntries((container(pod, name).env ?? []).map((e) => [e.name, value(e)]));
}

/** Starts the container's process: its args to `collab-operator`, with its env and the caller's changes. */
export function startContainer(
  bin: string,
  pod: V1Pod,
  name: string,
  changes: Record<string, string> = {},
): ChildProcess {
  const c = container(pod, name);
  if (c.command) throw new Error(`container ${name} has its own command: it is not the operator image's`);
  return spawn(process.execPath, [join(ROOT, "src/cli.ts"), ...(c.args ?? [])], {
    env: { PATH: process.env.PATH, ...containerEnv(bin, pod, name), ...changes },
    stdio: ["ignore", "pipe", "pipe"],
  });
}

export interface ContainerEnd {
  container: string;
  exitCode: number;
  /** The termination message, as the kubelet reads it from terminationMessagePath. */
  message: string;
  output: string;
}

/**
 * Runs a container to its end, its termination message file at a local path (the kubelet mounts one at
 * `terminationMessagePath`; `terminationLogEnv` names the env var through which the command is told the local path).
 */
export async function runContainer(
  bin: string,
  pod: V1Pod,
  name: string,
  terminationLogEnv: string,
  changes: Record<string, string> = {},
): Promise<ContainerEnd> {
  const terminationLog = join(mkdtempSync(join(tmpdir(), "collab-stand-in-")), "termination-log");
  const child = startContainer(bin, pod, name, { ...changes, [terminationLogEnv]: terminationLog });
  let output = "";
  child.stdout?.on("data", (d) => (output += d));
  child.stderr?.on("data", (d) => (output += d));
  const exitCode = await new Promise<number>((resolve) => child.once("exit", (code) => resolve(code ?? 137)));
  let message = "";
  try {
    message = readFileSync(terminationLog).subarray(0, MAX_TERMINATION_MESSAGE).toString("utf8");
  } catch {
    // no message written
  }
  return { container: name, exitCode, message, output };
}

/** Puts the containers' ends on the KWOK pod: the sim-container-outcomes stage turns them into its status. */
export function reportEnds(bin: string, pod: V1Pod, ends: readonly ContainerEnd[]): void {
  const annotations: Record<string, string> = { "sim.collabllm.io/containers": "ended" };
  for (const end of ends) {
    annotations[`sim.collabllm.io/exit-code.${end.container}`] = String(end.exitCode);
    annotations[`sim.collabllm.io/message.${end.container}`] = end.message;
  }
  const patch = JSON.stringify({ metadata: { annotations } });
  kubectl(bin, [
    "-n",
    pod.metadata?.namespace as string,
    "patch",
    "pod",
    pod.metadata?.name as string,
    "--type=merge",
    "-p",
    patch,
  ]);
}

/**
 * Runs every container of a preflight pod (`collab-operator preflight`) and reports their ends on it. `changes`
 * go into each container's env (the quickstart points the endpoints at a local stand-in for the provider).
 */
export async function runPreflightPod(
  bin: string,
  pod: V1Pod,
  changes: Record<string, string> = {},
): Promise<ContainerEnd[]> {
  const names = (pod.spec?.containers ?? []).map((c) => c.name);
  const ends = await Promise.all(
    names.map((name) => runContainer(bin, pod, name, "COLLAB_GATEWAY_TERMINATION_LOG", changes)),
  );
  reportEnds(bin, pod, ends);
  return ends;
}

/** A loopback port nothing listens on (a moment ago). */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}
