// The non-pod children: the ConfigMap of rendered configs and scripts, the Ray head's headless Service, the job's
// volume, and the Secret with the job's internal token.

import { quantityText } from "../api/k8s.ts";
import type { CollabTrainingJob } from "../api/schema.ts";
import { RAY_DASHBOARD_PORT, RAY_GCS_PORT } from "../verl/layout.ts";
import { childMeta, childName, jobLabels, jobName, jobNamespace, LABEL } from "./meta.ts";

export const TOKEN_KEY = "token";

export function configMap(job: CollabTrainingJob, files: Record<string, string>) {
  return { apiVersion: "v1", kind: "ConfigMap", metadata: childMeta(job, childName.config(jobName(job))), data: files };
}

/** The headless Service of the Ray head of `attempt`: an old attempt's head, still terminating, never answers for it. */
export function rayService(job: CollabTrainingJob, attempt: number) {
  const name = jobName(job);
  return {
    apiVersion: "v1",
    kind: "Service",
    metadata: childMeta(job, childName.rayService(name)),
    spec: {
      clusterIP: "None",
      // Workers must reach the head while it starts, before any readiness.
      publishNotReadyAddresses: true,
      selector: { [LABEL.job]: name, [LABEL.role]: "head", [LABEL.attempt]: String(attempt) },
      ports: [
        { name: "gcs", port: RAY_GCS_PORT, targetPort: RAY_GCS_PORT },
        { name: "dashboard", port: RAY_DASHBOARD_PORT, targetPort: RAY_DASHBOARD_PORT },
      ],
    },
  };
}

/** DNS name of the Ray head, as the workers dial it. */
export function rayHeadAddress(job: CollabTrainingJob): string {
  return `${childName.rayService(jobName(job))}.${jobNamespace(job)}.svc`;
}

/** The claim the job's pods mount: the user's existing claim, or the one the operator creates. */
export function claimName(job: CollabTrainingJob): string {
  return job.spec.storage.existingClaim ?? childName.volume(jobName(job));
}

/** The volume the operator creates, or nothing when the user brings a claim. Retained volumes have no owner. */
export function volumeClaim(job: CollabTrainingJob) {
  const { storage, resources } = job.spec;
  if (storage.existingClaim !== undefined || storage.size === undefined) return undefined;
  const meta = childMeta(job, childName.volume(jobName(job)));
  return {
    apiVersion: "v1",
    kind: "PersistentVolumeClaim",
    metadata:
      storage.reclaimPolicy === "Delete"
        ? meta
        : { name: meta.name, namespace: meta.namespace, labels: meta.labels, annotations: retainedNote(job) },
    spec: {
      // Every node writes its own checkpoint shards, so more than one node needs a shared (RWX) volume; so does a
      // server that loads its weights from it (its pods run on other nodes than the trainer's).
      accessModes: [resources.nodes > 1 || servesFromVolume(job) ? "ReadWriteMany" : "ReadWriteOnce"],
      ...(storage.storageClassName ? { storageClassName: storage.storageClassName } : {}),
      resources: { requests: { storage: quantityText(storage.size) } },
    },
  };
}

/** A served role's weights are a path on the job's volume (serve.model starting with /). */
function servesFromVolume(job: CollabTrainingJob): boolean {
  return [job.spec.judge.serve, job.spec.userSimulator.serve].some((serve) => serve?.model.startsWith("/"));
}

function retainedNote(job: CollabTrainingJob) {
  return {
    "collabllm.io/retained": `kept after the job is deleted (spec.storage.reclaimPolicy: Retain); remove it with: kubectl -n ${jobNamespace(job)} delete pvc ${childName.volume(jobName(job))}`,
  };
}

/** The internal token's Secret. The value is made once by the caller (never by a pure function) and never changes. */
export function tokenSecret(job: CollabTrainingJob, token: string) {
  return {
    apiVersion: "v1",
    kind: "Secret",
    metadata: childMeta(job, childName.token(jobName(job)), jobLabels(jobName(job))),
    type: "Opaque",
    stringData: { [TOKEN_KEY]: token },
  };
}
