// Parses a CollabTrainingJob with the zod schema and reports problems the way the apiserver does: one line per
// field, named by its path (spec.rl.batchSize, spec.scheduling.tolerations[0].key).
import type { z } from "zod";
import { type CollabTrainingJob, StrictCollabTrainingJob } from "./schema.ts";

export interface FieldError {
  field: string;
  message: string;
}

export type Validated = { ok: true; job: CollabTrainingJob } | { ok: false; errors: FieldError[] };

export function validateJob(manifest: unknown): Validated {
  const parsed = StrictCollabTrainingJob.safeParse(manifest);
  if (parsed.success) return { ok: true, job: parsed.data };
  return { ok: false, errors: parsed.error.issues.flatMap(fieldErrors) };
}

function fieldErrors(issue: z.core.$ZodIssue): FieldError[] {
  if (issue.code === "unrecognized_keys") {
    return issue.keys.map((key) => ({ field: fieldName([...issue.path, key]), message: `unknown field "${key}"` }));
  }
  return [{ field: fieldName(issue.path), message: issue.message }];
}

export function fieldName(path: readonly PropertyKey[]): string {
  return path
    .map((segment, i) => (typeof segment === "number" ? `[${segment}]` : `${i === 0 ? "" : "."}${String(segment)}`))
    .join("");
}
