// The one place a job as the cache holds it becomes a CollabTrainingJob: parsed (leniently, api/stored.ts) once per
// resourceVersion and shared, frozen, by everything that reads it (the reconciler, the index of the Secrets each job
// references, the report server). A job is reconciled after every change to any of its children and on every resync,
// so at scale a parse per reconcile and per Secret event would be most of the operator's CPU (docs/operator.md,
// "Scale and memory").
import type { KubernetesObject } from "@kubernetes/client-node";
import { parseStoredJob, type Stored } from "../api/stored.ts";
import { VersionMemo } from "../runtime/index.ts";

// Bounded: the jobs parsed again are mostly the recently reconciled (a job's children change in bursts), and keeping
// every parsed job would cost a large share of the cache's memory.
const parsed = new VersionMemo((raw: KubernetesObject) => parseStoredJob(raw), { max: 512 });

/** The job a stored object holds (api/stored.ts's parseStoredJob), parsed once per uid and resourceVersion; frozen. */
export function storedJob(raw: KubernetesObject): Stored {
  return parsed.get(raw);
}
