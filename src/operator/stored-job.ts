// The one place a job as the cache holds it becomes a CollabTrainingJob: parsed (validated, defaulted) once per
// resourceVersion and shared, frozen, by everything that reads it (the reconciler, the index of the Secrets each job
// references). A job is reconciled after every change to any of its children and on every resync; at 5,000 jobs a
// parse per reconcile and per Secret event was most of the operator's CPU (issue 13).
import type { KubernetesObject } from "@kubernetes/client-node";
import { CollabTrainingJob } from "../api/schema.ts";
import { VersionMemo } from "../runtime/index.ts";

const parsed = new VersionMemo((raw: KubernetesObject) => CollabTrainingJob.safeParse(raw));

/** `CollabTrainingJob.safeParse(raw)`, computed once per uid and resourceVersion; the result is frozen. */
export function parseStoredJob(raw: KubernetesObject): ReturnType<typeof CollabTrainingJob.safeParse> {
  return parsed.get(raw);
}
