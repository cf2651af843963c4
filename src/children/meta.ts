// Names, labels and owner references every child of a job carries. Names are deterministic and carry the restart
// attempt, so a crashed operator finds what it created instead of creating it twice.
import { API_VERSION, type CollabTrainingJob, KIND } from "../api/schema.ts";

export const MANAGED_BY = { "app.kubernetes.io/managed-by": "collab-operator" } as const;
export const LABEL = {
  job: "collabllm.io/job-name",
  role: "collabllm.io/role",
  attempt: "collabllm.io/attempt",
  rank: "collabllm.io/rank",
} as const;

/** Pods of a job by what they do; `head` is rank 0 of the training stage. */
export type PodRole = "prepare" | "sft" | "head" | "worker";

export const FIELD_MANAGER = "collab-operator";

export const GPU_RESOURCE = "nvidia.com/gpu";
export const GPU_PRODUCT_LABEL = "nvidia.com/gpu.product";

export function jobName(job: CollabTrainingJob): string {
  return job.metadata.name as string;
}

export function jobNamespace(job: CollabTrainingJob): string {
  return job.metadata.namespace as string;
}

export const childName = {
  config: (job: string) => `${job}-config`,
  /** Usage ledger the report endpoint keeps: one key per gateway process. */
  usage: (job: string) => `${job}-usage`,
  token: (job: string) => `${job}-token`,
  volume: (job: string) => `${job}-data`,
  /** The headless Service in front of the Ray head: its DNS name is the head's address. */
  rayService: (job: string) => `${job}-ray`,
  pod: (job: string, role: PodRole, attempt: number, rank = 0) =>
    role === "worker" ? `${job}-a${attempt}-worker-${rank}` : `${job}-a${attempt}-${role}`,
};

export function jobLabels(job: string): Record<string, string> {
  return { ...MANAGED_BY, [LABEL.job]: job };
}

export function podLabels(job: string, role: PodRole, attempt: number, rank: number): Record<string, string> {
  return { ...jobLabels(job), [LABEL.role]: role, [LABEL.attempt]: String(attempt), [LABEL.rank]: String(rank) };
}

/** Makes the job the controlling owner: garbage collection deletes the child with the job. */
export function ownedBy(job: CollabTrainingJob) {
  return [
    {
      apiVersion: API_VERSION,
      kind: KIND,
      name: jobName(job),
      uid: job.metadata.uid as string,
      controller: true,
      blockOwnerDeletion: true,
    },
  ];
}

export function childMeta(job: CollabTrainingJob, name: string, labels = jobLabels(jobName(job))) {
  return { name, namespace: jobNamespace(job), labels, ownerReferences: ownedBy(job) };
}
