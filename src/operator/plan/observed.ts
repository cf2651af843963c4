// What the reconciler saw of a job's world, and the views of it every policy shares. Pure data: the shell fills an
// Observed from its caches; the policies read it and never do I/O.
import type { V1Pod } from "@kubernetes/client-node";
import type { CollabTrainingJob } from "../../api/schema.ts";
import type { ServedApis } from "../../children/gang.ts";
import { LABEL } from "../../children/meta.ts";
import { PREFLIGHT_ROLE } from "../../children/preflight.ts";
import { SERVER_ROLE } from "../../children/serving.ts";
import { controllerUid } from "../../kube/pods.ts";

/** An Event about one of the job's pods that says why it waits: the scheduler's, an autoscaler's, Karpenter's. */
export interface PodEvent {
  pod: string;
  reason: string;
  message: string;
  /** source.component or reportingController, e.g. cluster-autoscaler, karpenter, default-scheduler. */
  component: string;
  /** lastTimestamp, eventTime or firstTimestamp, whichever the Event has. */
  time: string;
}

/** A Kueue Workload (kueue.x-k8s.io), reduced to what the Kueue policy reads. */
export interface KueueWorkload {
  name: string;
  /** The pods that own it: Kueue makes every pod of a group an owner of its Workload. */
  podUids: string[];
  conditions: { type: string; status: string; reason: string; message: string }[];
}

/** A server object of the job (children/serving.ts), reduced to what the serving policy reads. */
export interface ServerSeen {
  kind: "Deployment" | "Service";
  name: string;
  /** collabllm.io/spec-hash: the hash of what the operator last applied. */
  specHash: string | undefined;
}

/** What the reconciler saw. Secrets are reduced to their key names: values never reach the planner. */
export interface Observed {
  job: CollabTrainingJob;
  /** Pods labelled with the job's name. */
  pods: V1Pod[];
  /** Key names of each Secret in the job's namespace that the spec references; undefined when it does not exist. */
  secretKeys: Record<string, readonly string[] | undefined>;
  /** `<uid>:<resourceVersion>` of each of those Secrets (the preflight runs again when one changes). */
  secretVersions: Record<string, string | undefined>;
  configMapData: Record<string, string> | undefined;
  /** The Ray head Service's selector, or undefined when the Service does not exist. */
  serviceSelector: Record<string, string> | undefined;
  tokenSecretExists: boolean;
  /** Whether the claim the pods mount exists: spec.storage.existingClaim, or the one the operator creates. */
  claimExists: boolean;
  /** Autoscaler and scheduler Events about the job's pods (only the reasons the capacity policy reads). */
  podEvents: PodEvent[];
  /** What the cluster serves of the gang APIs (API discovery when the operator started). */
  served: ServedApis;
  /** The job's native PodGroups (scheduling.k8s.io), by the attempt label they carry. */
  podGroups: PodGroupSeen[];
  /** Kueue Workloads owned by the job's pods, reduced to their conditions. */
  kueueWorkloads: KueueWorkload[];
  /** The job's server workloads and Services (spec.<role>.serve). */
  servers: ServerSeen[];
  /** RFC 3339, second precision: the planner reads no clock. */
  now: string;
}

export const podName = (pod: V1Pod): string => pod.metadata?.name as string;
export const attemptOf = (pod: V1Pod): string | undefined => pod.metadata?.labels?.[LABEL.attempt];
export const isTerminating = (pod: V1Pod): boolean => pod.metadata?.deletionTimestamp !== undefined;

/** The job's pods split the ways every policy needs. */
export interface PodView {
  /** Pods this job controls (by owner uid), but for its preflight pods, which belong to no attempt. */
  mine: V1Pod[];
  /** This job's preflight pods (preflight.ts). */
  preflight: V1Pod[];
  /** Names held by pods of another job of the same name (deleted and created again): not free until they go. */
  taken: Set<string>;
  byName: Map<string, V1Pod>;
  /** This job's pods of the current attempt. */
  ofAttempt: V1Pod[];
  /** This job's pods of any other attempt. */
  ofOtherAttempts: V1Pod[];
}

export function podView(observed: Observed, attempt: number): PodView {
  const uid = observed.job.metadata.uid;
  const controlled = observed.pods.filter((p) => controllerUid(p) === uid);
  const isPreflight = (p: V1Pod) => p.metadata?.labels?.[LABEL.role] === PREFLIGHT_ROLE;
  const mine = controlled.filter((p) => !isPreflight(p));
  const ofAttempt = mine.filter((p) => attemptOf(p) === String(attempt));
  return {
    mine,
    preflight: controlled.filter(isPreflight),
    // A server's pods belong to its ReplicaSet (or KServe's), not to the job; they take no name of the job's pods.
    taken: new Set(
      observed.pods
        .filter((p) => controllerUid(p) !== uid && p.metadata?.labels?.[LABEL.role] !== SERVER_ROLE)
        .map(podName),
    ),
    byName: new Map(mine.map((p) => [podName(p), p])),
    ofAttempt,
    ofOtherAttempts: mine.filter((p) => attemptOf(p) !== String(attempt)),
  };
}

export interface PodGroupSeen {
  name: string;
  attempt: string | undefined;
  /** Being deleted (its finalizer keeps it until its pods are gone). */
  deleting: boolean;
}

/** An Event the reconciler records about the job, after the status write that accounts for it. */
export interface PlannedEvent {
  type: "Normal" | "Warning";
  reason: string;
  message: string;
}
