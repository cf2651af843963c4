// The one place a job as the cache holds it becomes a CollabTrainingJob: parsed (leniently, api/stored.ts) once per
// resourceVersion and shared, frozen, by everything that reads it (the reconciler, the index of the Secrets each job
// references, the report server). A job is reconciled after every change to any of its children and on every resync;
// at 5,000 jobs a parse per reconcile and per Secret event was most of the operator's CPU (issue 13).
import type { KubernetesObject } from "@kubernetes/client-node";
import { parseStoredJob as parse, type Stored } from "../api/stored.ts";
import { VersionMemo } from "../runtime/index.ts";

// A parsed job is 2.8 KiB of heap besides the stored one: remembering all 5,000 cost 14 MB, a tenth of the cache.
// The recently reconciled are what gets parsed again (a job's children change in bursts); a resync parses each job
// once more, 64 µs each (0.3 s of CPU per resync at 5,000 jobs).
const parsed = new VersionMemo((raw: KubernetesObject) => parse(raw), { max: 512 });

/** api/stored.ts's `parseStoredJob(raw)`, computed once per uid and resourceVersion; the result is frozen. */
export function parseStoredJob(raw: KubernetesObject): Stored {
  return parsed.get(raw);
}
