// What the planner sees in its tests: a job and a cache in which every child the job needs exists (its endpoints'
// preflight pod included, passed, unless the test brings its own preflight pod), and small builders for the objects
// the policies read (jobs, pods as the kubelet and scheduler leave them, times around NOW).
import type { V1ContainerStatus, V1Pod, V1PodCondition } from "@kubernetes/client-node";
import type { CollabTrainingJob, Condition, SpecInput, Status } from "../../../../src/api/schema.ts";
import { validateJob } from "../../../../src/api/validate.ts";
import { LABEL } from "../../../../src/children/meta.ts";
import { DEFAULT_OPERATOR_CONTEXT } from "../../../../src/children/pods.ts";
import { checkedEndpoints, PREFLIGHT_ROLE, preflightPod } from "../../../../src/children/preflight.ts";
import { type PodEvent, type PodView, podView } from "../../../../src/operator/plan/observed.ts";
import { type Observed, type Outcome, type Plan, plan } from "../../../../src/operator/plan/plan.ts";
import { renderConfigFiles } from "../../../../src/verl/files.ts";
import { validJob } from "../../../fixtures/invalid-jobs.ts";

export const NOW = "2026-11-22T10:00:00Z";

/** NOW plus `seconds`, as the apiserver writes times (RFC 3339, second precision). */
export const at = (seconds: number): string =>
  new Date(Date.parse(NOW) + seconds * 1000).toISOString().replace(/\.\d{3}Z$/, "Z");

/** The client's types say Date; the cache holds the apiserver's strings. */
export const time = (t: string): Date => t as unknown as Date;

/** Preparation recorded as done ten minutes ago. */
export const DATASET_READY: Condition = {
  type: "DatasetReady",
  status: "True",
  reason: "Prepared",
  message: "",
  lastTransitionTime: at(-600),
};

export const NO_GPU = "0/8 nodes are available: 8 Insufficient nvidia.com/gpu.";

export const TWO_NODES: Partial<SpecInput> = { rl: { batchSize: 16, miniBatchSize: 8 }, resources: { nodes: 2 } };

/** A valid job named `job` (uid u-1, generation 1), with defaults applied as admission would. */
export function job(spec: Partial<SpecInput> = {}, status?: Status): CollabTrainingJob {
  const base = validJob("job");
  const result = validateJob({
    ...base,
    metadata: { name: "job", namespace: "ns", uid: "u-1", generation: 1 },
    spec: { ...base.spec, ...spec },
  });
  if (!result.ok) throw new Error(JSON.stringify(result.errors));
  return { ...result.job, ...(status ? { status } : {}) };
}

export interface PodShape {
  phase?: string;
  /** Owner uid; null for a pod no job controls. */
  owner?: string | null;
  /** Bound to this node (default node-of-<name>); null for a pod the scheduler has not placed. */
  node?: string | null;
  /** PodScheduled=True since then (default a minute ago) when the pod is bound. */
  scheduledAt?: string;
  /** PodScheduled=False with this reason and message (implies no node). */
  notScheduled?: { reason: string; message?: string };
  deletedAt?: string;
  conditions?: V1PodCondition[];
  containers?: V1ContainerStatus[];
  initContainers?: V1ContainerStatus[];
}

/** A pod named as the operator names them (`job-a<attempt>-<role>[-<rank>]`): role and attempt come from the name. */
export function pod(name: string, shape: PodShape = {}): V1Pod {
  const parsed = /^(.+)-a(\d+)-(prepare|sft|head|worker)(?:-\d+)?$/.exec(name);
  if (!parsed) throw new Error(`not an operator pod name: ${name}`);
  const [, jobName, attempt, role] = parsed as unknown as [string, string, string, string];
  const owner = shape.owner === undefined ? "u-1" : shape.owner;
  const placed = shape.node !== null && shape.notScheduled === undefined;
  const scheduled: V1PodCondition[] = shape.notScheduled
    ? [{ type: "PodScheduled", status: "False", ...shape.notScheduled }]
    : placed
      ? [{ type: "PodScheduled", status: "True", lastTransitionTime: time(shape.scheduledAt ?? at(-60)) }]
      : [];
  return {
    metadata: {
      name,
      uid: `uid-${name}`,
      labels: { "collabllm.io/job-name": jobName, "collabllm.io/role": role, "collabllm.io/attempt": attempt },
      ...(owner === null
        ? {}
        : {
            ownerReferences: [
              {
                apiVersion: "collabllm.io/v1alpha1",
                kind: "CollabTrainingJob",
                name: jobName,
                uid: owner,
                controller: true,
              },
            ],
          }),
      ...(shape.deletedAt ? { deletionTimestamp: time(shape.deletedAt) } : {}),
    },
    spec: { containers: [], ...(placed ? { nodeName: shape.node ?? `node-of-${name}` } : {}) },
    status: {
      phase: shape.phase ?? "Running",
      conditions: [...scheduled, ...(shape.conditions ?? [])],
      ...(shape.containers ? { containerStatuses: shape.containers } : {}),
      ...(shape.initContainers ? { initContainerStatuses: shape.initContainers } : {}),
    },
  };
}

const container = (name: string, state: V1ContainerStatus["state"]): V1ContainerStatus => ({
  name,
  image: "i",
  imageID: "",
  ready: false,
  restartCount: 0,
  state,
});

/** A container that ended with `exitCode`. */
export function exited(
  name: string,
  exitCode: number,
  more: { reason?: string; finishedAt?: string; message?: string } = {},
): V1ContainerStatus {
  const { finishedAt, ...rest } = more;
  return container(name, {
    terminated: {
      exitCode,
      reason: exitCode === 0 ? "Completed" : "Error",
      ...rest,
      ...(finishedAt ? { finishedAt: time(finishedAt) } : {}),
    },
  });
}

/** A container that waits to start (ImagePullBackOff, CreateContainerConfigError...). */
export function waiting(name: string, reason: string, message?: string): V1ContainerStatus {
  return container(name, { waiting: { reason, ...(message ? { message } : {}) } });
}

/** A pending pod the scheduler cannot place. */
export const unplaced = (name: string, message = NO_GPU): V1Pod =>
  pod(name, { phase: "Pending", notScheduled: { reason: "Unschedulable", message } });

/** A pending pod a queue holds back, as Kueue's webhook leaves it: managed, with its scheduling gates. */
export const gated = (name: string): V1Pod => {
  const p = pod(name, {
    phase: "Pending",
    notScheduled: { reason: "SchedulingGated", message: "Scheduling is blocked due to non-empty scheduling gates" },
  });
  return {
    ...p,
    metadata: { ...p.metadata, labels: { ...p.metadata?.labels, "kueue.x-k8s.io/managed": "true" } },
    spec: {
      ...p.spec,
      containers: [],
      schedulingGates: [{ name: "kueue.x-k8s.io/admission" }, { name: "kueue.x-k8s.io/topology" }],
    },
  };
};

/** An Event about one of the job's pods, as the capacity policy reads it; its message names who said what. */
export const podEvent = (reason: string, component: string, seconds: number, pod = "job-a0-worker-1"): PodEvent => ({
  pod,
  reason,
  message: `${component} says ${reason}`,
  component,
  time: at(seconds),
});

export const condition = (type: string, status = "True", more: Partial<V1PodCondition> = {}): V1PodCondition => ({
  type,
  status,
  ...more,
});

/** The Secret the test jobs reference, as the cache shows its metadata. */
export const SECRET_VERSIONS: Record<string, string | undefined> = { "llm-keys": "secret-uid-1:100" };

export const isPreflight = (p: V1Pod) => p.metadata?.labels?.[LABEL.role] === PREFLIGHT_ROLE;

export function world(job: CollabTrainingJob, pods: V1Pod[] = [], overrides: Partial<Observed> = {}): Observed {
  const secretVersions = overrides.secretVersions ?? SECRET_VERSIONS;
  return {
    job,
    pods: pods.some(isPreflight) ? pods : [...pods, ...passedPreflight(job, secretVersions)],
    secretKeys: { "llm-keys": ["OPENAI_API_KEY"] },
    secretVersions,
    configMapData: renderConfigFiles(job.spec, { jobName: "job" }),
    serviceSelector: {
      "collabllm.io/job-name": "job",
      "collabllm.io/role": "head",
      "collabllm.io/attempt": String(job.status?.attempt ?? 0),
    },
    tokenSecretExists: true,
    claimExists: true,
    podEvents: [],
    // A cluster without Kueue or the native gang API: Auto schedules no gang (gang.test.ts covers the others).
    served: { kueue: false, podGroups: false },
    podGroups: [],
    kueueWorkloads: [],
    servers: [],
    now: NOW,
    ...overrides,
  };
}

/** The pods of `j` as the policies see them for `attempt`. */
export const view = (j: CollabTrainingJob, pods: V1Pod[], attempt = 0): PodView => podView(world(j, pods), attempt);

export function planWorld(
  job: CollabTrainingJob,
  pods: V1Pod[] = [],
  overrides: Partial<Observed> = {},
  outcome: Outcome = {},
): Plan {
  return plan(world(job, pods, overrides), DEFAULT_OPERATOR_CONTEXT, outcome);
}

/** The job's preflight pod as the kubelet leaves it when every checked endpoint answered (none when none is checked). */
export function passedPreflight(job: CollabTrainingJob, secretVersions = SECRET_VERSIONS): V1Pod[] {
  const desired = preflightPod(job, DEFAULT_OPERATOR_CONTEXT, secretVersions);
  if (!desired) return [];
  const verdicts = checkedEndpoints(job.spec).map(({ role, endpoint }) => ({
    name: role,
    verdict: {
      endpoint: role,
      ready: true,
      reason: "Answered",
      status: 200,
      message: "answered a completion of max_tokens 1",
      model: endpoint.model,
      baseURL: endpoint.baseURL,
      seconds: 0.3,
    },
  }));
  return [
    {
      ...(desired as V1Pod),
      spec: { ...(desired.spec as V1Pod["spec"]), nodeName: "cpu-node" } as V1Pod["spec"],
      status: {
        phase: "Succeeded",
        containerStatuses: verdicts.map(({ name, verdict }) => exited(name, 0, { message: JSON.stringify(verdict) })),
      },
    },
  ];
}
