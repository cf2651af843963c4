// Gang scheduling of a stage's pods, pure: which mechanism a job gets from its spec and what the cluster serves, the
// name of an attempt's group, the native PodGroup (scheduling.k8s.io/v1beta1) and the labels, annotations and pod
// field that put the pods into Kueue's pod group (Kueue's docs, "Run Plain Pods") and into the PodGroup (KEP-4671,
// Gang Scheduling).
import type { CollabTrainingJob, GANG_MECHANISMS, Spec } from "../api/schema.ts";
import { childMeta, jobLabels, jobName, LABEL } from "./meta.ts";
import type { DesiredPod } from "./pods.ts";

export type GangMechanism = (typeof GANG_MECHANISMS)[number];

/** What the cluster serves of the APIs a gang can use (API discovery). */
export interface ServedApis {
  /** workloads.kueue.x-k8s.io/v1beta2: Kueue is installed. */
  kueue: boolean;
  /** podgroups.scheduling.k8s.io/v1beta1: native gang scheduling (Kubernetes 1.37, GenericWorkload). */
  podGroups: boolean;
}

export const PODGROUP_API_VERSION = "scheduling.k8s.io/v1beta1";
export const KUEUE_WORKLOAD_API_VERSION = "kueue.x-k8s.io/v1beta2";

/** Kueue's plain-pod keys (kueue pkg/controller/jobs/pod/constants). */
export const KUEUE = {
  queueName: "kueue.x-k8s.io/queue-name",
  podGroupName: "kueue.x-k8s.io/pod-group-name",
  podGroupTotalCount: "kueue.x-k8s.io/pod-group-total-count",
  retriableInGroup: "kueue.x-k8s.io/retriable-in-group",
} as const;

/**
 * The mechanism spec.scheduling asks for, as the cluster serves it: Auto is Kueue when a queue is named, else the
 * native API when served, else none. An explicit ask is kept even when not served (the gang policy then blocks).
 */
export function gangMechanism(scheduling: Spec["scheduling"], served: ServedApis): GangMechanism {
  switch (scheduling.gang) {
    case "Kueue":
    case "Workload":
      return scheduling.gang;
    case "Disabled":
      return "None";
    default:
      return scheduling.queueName !== undefined ? "Kueue" : served.podGroups ? "Workload" : "None";
  }
}

/**
 * The group of an attempt's multi-pod stage: the Kueue pod group's name (its Workload's name, a label value) and the
 * native PodGroup's. A piece of the job's uid keeps a job deleted and made again under the same name from meeting the
 * old one's group while that is still going away.
 */
export function gangName(job: CollabTrainingJob, attempt: number): string {
  const uid = String(job.metadata.uid ?? "");
  // A placeholder (render's, before the job exists) is shown whole.
  const piece = /^[0-9a-z]/.test(uid) ? uid.replaceAll("-", "").slice(0, 6) : uid;
  return `${jobName(job)}-a${attempt}${piece ? `-${piece}` : ""}`;
}

export interface StageGang {
  /** The stage's pods, put into the group. */
  pods: DesiredPod[];
  /** The group, when the stage has more than one pod and a mechanism: its name and how many pods it needs placed. */
  group?: { name: string; minCount: number };
  /** The native PodGroup to create before the pods. */
  podGroup?: ReturnType<typeof podGroupObject>;
}

/**
 * Puts a stage's pods into one group when there are several of them. Kueue: its pod-group labels (every pod of the
 * attempt in one Workload, admitted all at once) and `retriable-in-group: "false"`, so that the group ends as soon as
 * none of its pods runs: an attempt never gets replacement pods (the next attempt is a new group), and this is what
 * lets Kueue drop its finalizer from the pods of an ended attempt, a finished job or a deleted one. Workload: the
 * native PodGroup (gang minCount = every pod) and `spec.schedulingGroup`, plus Kueue's group when a queue is named.
 * Single-pod stages stay single-pod Kueue workloads.
 */
export function stageGang(
  job: CollabTrainingJob,
  attempt: number,
  pods: readonly DesiredPod[],
  mechanism: GangMechanism,
): StageGang {
  const group = gangGroup(job, attempt, pods.length, mechanism);
  if (!group) return { pods: [...pods] };
  const { name } = group;
  const kueue = mechanism === "Kueue" || job.spec.scheduling.queueName !== undefined;
  const native = mechanism === "Workload";
  const grouped = pods.map((pod) => ({
    ...pod,
    metadata: {
      ...pod.metadata,
      labels: { ...pod.metadata.labels, ...(kueue ? { [KUEUE.podGroupName]: name } : {}) },
      ...(kueue || pod.metadata.annotations
        ? {
            annotations: {
              ...pod.metadata.annotations,
              ...(kueue ? { [KUEUE.podGroupTotalCount]: String(pods.length), [KUEUE.retriableInGroup]: "false" } : {}),
            },
          }
        : {}),
    },
    spec: { ...pod.spec, ...(native ? { schedulingGroup: { podGroupName: name } } : {}) },
  }));
  return {
    pods: grouped,
    group,
    ...(native ? { podGroup: podGroupObject(job, attempt, name, pods.length) } : {}),
  };
}

/** The group of an attempt's stage of `podCount` pods: none for a single pod or without a mechanism. */
export function gangGroup(
  job: CollabTrainingJob,
  attempt: number,
  podCount: number,
  mechanism: GangMechanism,
): { name: string; minCount: number } | undefined {
  return podCount < 2 || mechanism === "None" ? undefined : { name: gangName(job, attempt), minCount: podCount };
}

/**
 * The native PodGroup of an attempt: a gang of every pod (none binds until all can), owned by the job. The pods of a
 * Ray gang die together, so the scheduler may only preempt them together (disruptionMode all); its priority is the
 * pods' PriorityClass.
 */
export function podGroupObject(job: CollabTrainingJob, attempt: number, name: string, minCount: number) {
  const { priorityClassName } = job.spec.scheduling;
  return {
    apiVersion: PODGROUP_API_VERSION,
    kind: "PodGroup",
    metadata: childMeta(job, name, { ...jobLabels(jobName(job)), [LABEL.attempt]: String(attempt) }),
    spec: {
      schedulingPolicy: { gang: { minCount } },
      disruptionMode: { all: {} },
      ...(priorityClassName ? { priorityClassName } : {}),
    },
  };
}
