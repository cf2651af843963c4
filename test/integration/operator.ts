// Runs the real operator (`collab-operator run`) as a child process, scoped to one test namespace so tests cannot
// see each other's jobs, and helpers to drive jobs and their pods on the local control plane.
import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";
import { PatchStrategy, setHeaderOptions, type V1Pod } from "@kubernetes/client-node";
import { afterEach } from "vitest";
import { API_VERSION, GROUP, KIND, PLURAL, type Status, VERSION } from "../../src/api/schema.ts";
import type { GatewayReport } from "../../src/contract/report.ts";
import { emptyUsage, type UsageCounters } from "../../src/contract/usage.ts";
import { KUBECONFIG, ROOT } from "../cluster/cluster.ts";
import { validJob } from "../fixtures/invalid-jobs.ts";
import { core, custom, testNamespace } from "./kube.ts";

export interface OperatorProcess {
  child: ChildProcess;
  logs: () => string;
  /** The port of the report endpoint, once the operator logged it. */
  reportPort: () => Promise<number>;
  /** The port of /healthz, /readyz and /metrics, once the operator logged it. */
  metricsPort: () => Promise<number>;
  stop: (signal?: NodeJS.Signals) => Promise<void>;
}

const running = new Set<ChildProcess>();
process.on("exit", () => {
  for (const child of running) child.kill("SIGKILL");
});
const started: OperatorProcess[] = [];
// Registered once per test file (modules are isolated per file): every operator a test started stops after it.
afterEach(async () => {
  for (const op of started.splice(0)) await op.stop("SIGKILL");
});

export function startOperator(
  /** The namespaces to watch (comma-separated), or "" for all. */
  namespace: string,
  opts: {
    leaderElect?: boolean;
    identity?: string;
    resyncSeconds?: number;
    /** Default: the admin kubeconfig of the local cluster. */
    kubeconfig?: string;
    /** Default: the watched namespace. */
    leaseNamespace?: string;
  } = {},
): OperatorProcess {
  const child = spawn(
    process.execPath,
    [
      `${ROOT}/src/cli.ts`,
      "run",
      ...(namespace ? [`--namespaces=${namespace}`] : []),
      `--leader-elect=${opts.leaderElect ?? false}`,
      `--leader-election-namespace=${opts.leaseNamespace ?? namespace}`,
      "--port=0",
      "--report-port=0",
      "--workers=2",
      "--operator-image=collab-operator:test",
      "--trainer-image=collab-trainer:test",
      "--report-base-url=http://127.0.0.1:1",
      ...(opts.resyncSeconds !== undefined ? [`--resync-seconds=${opts.resyncSeconds}`] : []),
    ],
    {
      env: { ...process.env, KUBECONFIG: opts.kubeconfig ?? KUBECONFIG, POD_NAME: opts.identity ?? "operator" },
      stdio: ["ignore", "pipe", "pipe"],
    },
  );
  running.add(child);
  let output = "";
  child.stdout?.on("data", (d) => {
    output += d;
  });
  child.stderr?.on("data", (d) => {
    output += d;
  });
  const loggedPort = (message: string, port: (line: any) => number) =>
    eventually(message, async () => {
      const line = output.split("\n").find((l) => l.includes(`"${message}"`));
      return line ? port(JSON.parse(line)) : undefined;
    });
  const op: OperatorProcess = {
    child,
    logs: () => output,
    reportPort: () => loggedPort("report endpoint listening", (line) => line.address.port),
    metricsPort: () => loggedPort("serving /healthz, /readyz and /metrics", (line) => line.port),
    stop: async (signal = "SIGTERM") => {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill(signal);
        await once(child, "exit");
      }
      running.delete(child);
    },
  };
  started.push(op);
  return op;
}

export const jobApi = { group: GROUP, version: VERSION, plural: PLURAL };

type JobOverrides = { spec?: Record<string, unknown>; metadata?: Record<string, unknown> };

/**
 * Creates a Secret with the key the default job references, and the job itself (spec merged one level deep). The
 * endpoints' preflight is off unless a test sets the endpoints: KWOK runs no preflight container, and only
 * preflight.test.ts plays its part (test/cluster/stand-in.ts).
 */
export async function createJob(namespace: string, name: string, overrides: JobOverrides = {}, withSecret = true) {
  if (withSecret) await createSecret(namespace);
  const base = validJob(name);
  const body = {
    ...base,
    metadata: { ...base.metadata, namespace, ...overrides.metadata },
    spec: {
      ...base.spec,
      userSimulator: { ...base.spec.userSimulator, preflight: false },
      judge: { ...base.spec.judge, preflight: false },
      ...overrides.spec,
    },
  };
  return custom.createNamespacedCustomObject({ ...jobApi, namespace, body });
}

export async function createSecret(namespace: string, name = "llm-keys", key = "OPENAI_API_KEY") {
  await core
    .createNamespacedSecret({ namespace, body: { metadata: { name }, stringData: { [key]: "sk-test-not-real" } } })
    .catch((err: { code?: number }) => {
      if (err.code !== 409) throw err;
    });
}

export interface Job {
  metadata: { name: string; namespace: string; uid: string; generation: number };
  spec: Record<string, any>;
  status?: Status;
}

export async function getJob(namespace: string, name: string): Promise<Job> {
  return (await custom.getNamespacedCustomObject({ ...jobApi, namespace, name })) as Job;
}

export async function listPods(namespace: string, selector?: string): Promise<V1Pod[]> {
  return (await core.listNamespacedPod({ namespace, labelSelector: selector })).items;
}

/** Polls until `check` returns a value (not undefined/false); fails with the last observation after `timeoutMs`. */
export async function eventually<T>(
  what: string,
  check: () => Promise<T | undefined | false>,
  timeoutMs = 60_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const value = await check();
      if (value !== undefined && value !== false) return value;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${last ? `: ${String(last)}` : ""}`);
    await new Promise((r) => setTimeout(r, 300));
  }
}

/**
 * A job named `job` (spec merged in) in a fresh namespace under its own operator, its dataset prepared and its head
 * pod running: what a head pod's gateway reports on, with the token and the URL it reports with.
 */
export async function trainingJob(prefix: string, spec: Record<string, unknown>) {
  const ns = await testNamespace(prefix);
  const operator = startOperator(ns);
  await createJob(ns, "job", { spec });
  await finishPod(ns, "job-a0-prepare", "Succeeded");
  await waitRunning(ns, "job-a0-head");
  const token = await jobToken(ns);
  const reportURL = `http://127.0.0.1:${await operator.reportPort()}/v1/namespaces/${ns}/collabtrainingjobs/job/report`;
  return { ns, operator, token, reportURL };
}

/** A judge gateway's report (GatewayReportSchema) from `pod`, with these cumulative counters. */
export function judgeReport(pod: string, usage: Partial<UsageCounters> = {}, more: Partial<GatewayReport> = {}) {
  return {
    pod,
    role: "judge",
    startId: "0b5a3c4e-1d2f-4a6b-8c9d-0e1f2a3b4c5d",
    usage: { judge: { ...emptyUsage(), ...usage } },
    ...more,
  } satisfies GatewayReport;
}

/** The job's internal token, which its gateways present to the report endpoint. */
export async function jobToken(namespace: string, job = "job"): Promise<string> {
  const secret = await eventually("token secret", () => core.readNamespacedSecret({ namespace, name: `${job}-token` }));
  return Buffer.from(secret.data?.token ?? "", "base64").toString();
}

export function condition(job: Job, type: string) {
  return job.status?.conditions?.find((c) => c.type === type);
}

export async function waitForPhase(namespace: string, name: string, phase: string, timeoutMs = 60_000): Promise<Job> {
  return eventually(
    `job ${name} phase ${phase}`,
    async () => {
      const job = await getJob(namespace, name);
      return job.status?.phase === phase ? job : undefined;
    },
    timeoutMs,
  );
}

/** Waits for the pod to be Running (bound by the scheduler, started by KWOK). */
export async function waitRunning(namespace: string, name: string, timeoutMs = 60_000): Promise<V1Pod> {
  return eventually(
    `pod ${name} Running`,
    async () => {
      const pod = await core.readNamespacedPod({ namespace, name }).catch(() => undefined);
      return pod?.status?.phase === "Running" ? pod : undefined;
    },
    timeoutMs,
  );
}

/** Ends a pod the way KWOK's sim stage does for a test: all containers terminate with the exit code. */
export async function finishPod(namespace: string, name: string, outcome: "Succeeded" | "Failed", exitCode?: number) {
  await waitRunning(namespace, name);
  const annotations: Record<string, string> = { "sim.collabllm.io/outcome": outcome };
  if (exitCode !== undefined) annotations["sim.collabllm.io/exit-code"] = String(exitCode);
  await core.patchNamespacedPod(
    { namespace, name, body: { metadata: { annotations } } },
    setHeaderOptions("Content-Type", PatchStrategy.MergePatch),
  );
}

export { API_VERSION, KIND };
