// What the operator benchmark creates: jobs, the writes a plain client makes for them (the baseline), and the bulk
// of finished and running jobs the scale phases fill the cluster with. Objects come from the operator's own pure
// builders and planner, so the baseline writes exactly what the operator writes, in the same order.
import { randomBytes } from "node:crypto";
import type { V1Pod } from "@kubernetes/client-node";
import type { CollabTrainingJob } from "../src/api/schema.ts";
import { GROUP, PLURAL, VERSION } from "../src/api/schema.ts";
import { parseStoredJob } from "../src/api/stored.ts";
import { PODGROUP_API_VERSION, type ServedApis } from "../src/children/gang.ts";
import { FIELD_MANAGER } from "../src/children/meta.ts";
import { jobObjects } from "../src/children/objects.ts";
import { DEFAULT_OPERATOR_CONTEXT } from "../src/children/pods.ts";
import { tokenSecret } from "../src/children/support.ts";
import { plan } from "../src/operator/plan/plan.ts";
import { validJob } from "../test/fixtures/invalid-jobs.ts";
import { type Kube, type KubeObject, pool } from "./kube.ts";

export const CTX = DEFAULT_OPERATOR_CONTEXT;
export const SECRET = { name: "llm-keys", key: "OPENAI_API_KEY" };
const STATUS_MANAGER = "collab-operator-status"; // the reconciler's status field manager

export const jobsPath = (ns: string) => `/apis/${GROUP}/${VERSION}/namespaces/${ns}/${PLURAL}`;
const RESOURCES: Record<string, string> = {
  Pod: "pods",
  ConfigMap: "configmaps",
  Service: "services",
  PersistentVolumeClaim: "persistentvolumeclaims",
  Secret: "secrets",
  PodGroup: "podgroups",
};
export const corePath = (ns: string, kind: string) => `/api/v1/namespaces/${ns}/${RESOURCES[kind]}`;
/** The collection of a child the planner applies, core or not (a PodGroup). */
const childPath = (ns: string, object: object) => {
  const { apiVersion, kind } = object as { apiVersion: string; kind: string };
  const group = apiVersion === "v1" ? "/api/v1" : `/apis/${apiVersion}`;
  return `${group}/namespaces/${ns}/${RESOURCES[kind]}`;
};

/** `<uid>:<resourceVersion>` of each namespace's referenced Secret, as the reconciler's cache would know it. */
const secretVersions = new Map<string, string>();
let served: Promise<ServedApis> | undefined;

/** What the operator's discovery finds of the gang APIs (Kueue is not asked for: the bench's jobs name no queue). */
function servedApis(kube: Kube): Promise<ServedApis> {
  served ??= kube.send("GET", `/apis/${PODGROUP_API_VERSION}`).then(
    (list) => ({ kueue: false, podGroups: JSON.stringify(list).includes('"PodGroup"') }),
    () => ({ kueue: false, podGroups: false }),
  );
  return served;
}

/** A namespace with the Secret every job references. Idempotent. */
export async function ensureNamespace(kube: Kube, ns: string, labels: Record<string, string> = {}): Promise<void> {
  await ignore409(kube.create("/api/v1/namespaces", { metadata: { name: ns, labels } }));
  const secret =
    (await ignore409(
      kube.create(corePath(ns, "Secret"), {
        metadata: { name: SECRET.name },
        stringData: { [SECRET.key]: "sk-bench-not-real" },
      }),
    )) ?? (await kube.send("GET", `${corePath(ns, "Secret")}/${SECRET.name}`));
  secretVersions.set(ns, `${secret?.metadata.uid}:${secret?.metadata.resourceVersion}`);
}

/** A job as the operator parses it from its cache. */
export function storedJob(raw: unknown): CollabTrainingJob {
  const parsed = parseStoredJob(raw);
  if (!parsed.ok) throw new Error(`bench job does not parse: ${JSON.stringify(parsed.errors)}`);
  return parsed.job;
}

export async function ignore409<T>(p: Promise<T>): Promise<T | undefined> {
  try {
    return await p;
  } catch (err) {
    if ((err as { status?: number }).status === 409) return undefined;
    throw err;
  }
}

export function jobManifest(ns: string, name: string, nodes = 1, spec: Record<string, unknown> = {}) {
  const base = validJob(name);
  return {
    ...base,
    metadata: { name, namespace: ns },
    spec: { ...base.spec, resources: { nodes }, ...spec },
  };
}

export function createJob(
  kube: Kube,
  ns: string,
  name: string,
  nodes = 1,
  spec: Record<string, unknown> = {},
): Promise<KubeObject> {
  return kube.create(jobsPath(ns), jobManifest(ns, name, nodes, spec));
}

const nowSeconds = () => new Date().toISOString().replace(/\.\d{3}Z$/, "Z");

function eventBody(job: KubeObject, type: string, reason: string, message: string) {
  const stamp = new Date().toISOString();
  return {
    apiVersion: "v1",
    kind: "Event",
    metadata: { name: `${job.metadata.name}.${randomBytes(8).toString("hex")}`, namespace: job.metadata.namespace },
    involvedObject: {
      apiVersion: job.apiVersion,
      kind: job.kind,
      name: job.metadata.name,
      namespace: job.metadata.namespace,
      uid: job.metadata.uid,
    },
    type,
    reason,
    message,
    count: 1,
    firstTimestamp: stamp,
    lastTimestamp: stamp,
    source: { component: "bench-baseline" },
  };
}

/**
 * The baseline's reconcile of a job it has just seen, with no cache: the operator's own plan for that world, then
 * the same requests the reconciler makes for it, in its order (token Secret, children, status, Events). Calls
 * `onPod` right after the pod request returns, for the single-job latency.
 */
export async function plainReconcile(
  kube: Kube,
  created: KubeObject,
  pods: V1Pod[] = [],
  onPod?: () => void,
): Promise<KubeObject> {
  const job = storedJob(created);
  const ns = created.metadata.namespace as string;
  const existing = pods.length > 0;
  const p = plan(
    {
      job,
      pods,
      secretKeys: { [SECRET.name]: [SECRET.key] },
      secretVersions: { [SECRET.name]: secretVersions.get(ns) },
      configMapData: undefined,
      serviceSelector: existing ? {} : undefined,
      tokenSecretExists: existing,
      claimExists: existing,
      podEvents: [],
      served: await servedApis(kube),
      podGroups: [],
      kueueWorkloads: [],
      servers: [],
      now: nowSeconds(),
    },
    CTX,
  );
  if (p.createTokenSecret) {
    await kube.create(corePath(ns, "Secret"), tokenSecret(job, randomBytes(32).toString("base64url")));
  }
  for (const { kind, name, object } of pods.length > 0 ? [] : p.apply) {
    await kube.apply(`${childPath(ns, object)}/${name}`, object, FIELD_MANAGER);
    if (kind === "Pod") onPod?.();
  }
  const written = await kube.apply(
    `${jobsPath(ns)}/${created.metadata.name}/status`,
    {
      apiVersion: created.apiVersion,
      kind: created.kind,
      metadata: { name: created.metadata.name, namespace: ns },
      status: p.status,
    },
    STATUS_MANAGER,
  );
  const events = [
    ...p.apply.filter((a) => a.kind === "Pod" && pods.length === 0).map((a) => ["Normal", "CreatedPod", a.name]),
    ...p.events.map((e) => [e.type, e.reason, e.message]),
  ];
  for (const [type, reason, message] of events) {
    await kube.create(`/api/v1/namespaces/${ns}/events`, eventBody(created, type!, reason!, message!));
  }
  return written;
}

/** What a kubelet writes when the trainer exits with `exitCode`: the pod's terminal phase and container states. */
export function terminatedStatus(pod: KubeObject, phase: "Succeeded" | "Failed", exitCode: number) {
  const now = new Date().toISOString().replace(/\.\d{3}Z$/, "Z");
  const spec = pod.spec as { containers: { name: string; image: string }[]; initContainers?: { name: string }[] };
  const terminated = (code: number) => ({
    terminated: { exitCode: code, reason: code === 0 ? "Completed" : "Error", startedAt: now, finishedAt: now },
  });
  return {
    status: {
      phase,
      conditions: [
        { type: "PodScheduled", status: "True", lastTransitionTime: now },
        { type: "Ready", status: "False", reason: "PodCompleted", lastTransitionTime: now },
      ],
      startTime: now,
      containerStatuses: spec.containers.map((c) => ({
        name: c.name,
        image: c.image,
        imageID: "",
        ready: false,
        restartCount: 0,
        started: false,
        state: terminated(exitCode),
      })),
      initContainerStatuses: (spec.initContainers ?? []).map((c) => ({
        name: c.name,
        image: "x",
        imageID: "",
        ready: false,
        restartCount: 0,
        started: false,
        state: terminated(0),
      })),
    },
  };
}

export type Outcome = "Succeeded" | "Failed" | "Running";

/** The outcome of the i-th bulk job: 7 in 10 succeeded, 1 in 10 failed, 2 in 10 still running. */
export function outcomeOf(i: number): Outcome {
  const r = i % 10;
  return r < 7 ? "Succeeded" : r === 7 ? "Failed" : "Running";
}

/**
 * Nodes of the bench's own for the bulk jobs' pods: KWOK plays them, and a NoSchedule taint keeps the scheduler from
 * placing anything else there. Bound to the test fleet's nodes, the bulk's running pods took every GPU of it and the
 * integration tests' pods could no longer schedule.
 */
export const BENCH_NODES = ["bench-node-0", "bench-node-1", "bench-node-2", "bench-node-3"];
export const BENCH_TAINT = "bench.collabllm.io/bulk";

export async function ensureBenchNodes(kube: Kube): Promise<void> {
  const capacity = {
    cpu: "100000",
    memory: "100000Gi",
    pods: "100000",
    "nvidia.com/gpu": "100000",
    "ephemeral-storage": "100Ti",
  };
  for (const name of BENCH_NODES) {
    await ignore409(
      kube.create("/api/v1/nodes", {
        apiVersion: "v1",
        kind: "Node",
        metadata: {
          name,
          annotations: { "kwok.x-k8s.io/node": "fake", "node.alpha.kubernetes.io/ttl": "0" },
          labels: { "kubernetes.io/hostname": name, type: "kwok", "collabllm.io/bench": "scale" },
        },
        spec: { taints: [{ key: BENCH_TAINT, value: "true", effect: "NoSchedule" }] },
        status: { capacity, allocatable: capacity },
      }),
    );
  }
}

/**
 * Writes one bulk job as if it had run: the job, every child the operator would have made (token Secret, ConfigMap,
 * Service, volume claim, prepare pod, training pods), the pods bound to KWOK nodes directly (no scheduling), and the
 * pods' terminal states as a kubelet would write them. Running jobs' training pods are left to KWOK, which starts
 * them. The job's status is left to the operator: the first operator run settles it.
 */
export async function writeBulkJob(kube: Kube, ns: string, name: string, i: number): Promise<void> {
  const outcome = outcomeOf(i);
  const nodes = i % 10 === 9 ? 2 : 1;
  // No endpoint preflight: its pod would go to the test fleet's nodes (this writes no such pod, and a running job would
  // get one from the operator), and a bulk job is cache load, not a job that starts.
  const base = validJob(name).spec;
  const noPreflight = {
    userSimulator: { ...base.userSimulator, preflight: false },
    judge: { ...base.judge, preflight: false },
  };
  const created =
    (await ignore409(createJob(kube, ns, name, nodes, noPreflight))) ??
    (await kube.send("GET", `${jobsPath(ns)}/${name}`));
  const job = storedJob(created);
  const objects = jobObjects(job, CTX) as KubeObject[];
  for (const obj of objects) {
    if (obj.kind === "Secret") (obj as { data?: unknown }).data = { token: randomBytes(32).toString("base64") };
    if (obj.kind === "Pod") (obj.spec as { nodeName?: string }).nodeName = BENCH_NODES[i % BENCH_NODES.length];
    await ignore409(kube.create(childPath(ns, obj), obj));
    if (obj.kind !== "Pod") continue;
    const role = obj.metadata.labels?.["collabllm.io/role"];
    const phase = role === "prepare" ? "Succeeded" : outcome;
    if (phase === "Running") continue;
    const exitCode = phase === "Failed" && role === "head" ? 1 : 0;
    await kube.mergePatch(
      `${corePath(ns, "Pod")}/${obj.metadata.name}/status`,
      terminatedStatus(obj, phase === "Failed" && role !== "head" ? "Succeeded" : phase, exitCode),
    );
  }
}

/** Fills `namespaces` (jobs spread evenly, `perNamespace` each) up to `total` bulk jobs; skips what exists. */
export async function fillBulk(
  kube: Kube,
  total: number,
  perNamespace: number,
  concurrency: number,
  nsName: (n: number) => string,
): Promise<number> {
  await ensureBenchNodes(kube);
  const todo: { ns: string; i: number }[] = [];
  for (let n = 0; n * perNamespace < total; n++) {
    const ns = nsName(n);
    await ensureNamespace(kube, ns, { "collabllm.io/bench": "scale" });
    const have = new Set((await kube.list(jobsPath(ns))).map((j) => j.metadata.name));
    for (let i = n * perNamespace; i < Math.min(total, (n + 1) * perNamespace); i++) {
      if (!have.has(bulkName(i))) todo.push({ ns, i });
    }
  }
  await pool(todo, concurrency, ({ ns, i }) => writeBulkJob(kube, ns, bulkName(i), i));
  return todo.length;
}

export const bulkName = (i: number) => `job-${String(i).padStart(5, "0")}`;
