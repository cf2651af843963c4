// What the operator reads back from the cluster is parsed leniently: a CRD newer than this operator (during an upgrade
// or a rollback) may have stored fields it does not know, in the spec or in a status another version wrote. Those are
// ignored, never a reason to fail the job. Only admission and `render` validate strictly (validate.ts). A spec whose
// known fields this operator cannot use still fails to parse: the reconciler marks that job Failed.
import { withoutUnknownFields } from "./prune.ts";
import { type CollabTrainingJob, Status, StrictCollabTrainingJob } from "./schema.ts";
import { type FieldError, fieldErrors, fieldName } from "./validate.ts";

export type Stored =
  | { ok: true; job: CollabTrainingJob; ignored: string[] }
  | { ok: false; errors: FieldError[]; ignored: string[] };

/** A stored job: unknown fields dropped (and listed), status values this operator cannot read left out. */
export function parseStoredJob(raw: unknown): Stored {
  const unknown: PropertyKey[][] = [];
  const known = withoutUnknownFields(StrictCollabTrainingJob, raw, [], unknown) as Record<string, unknown>;
  const ignored = unknown.map(fieldName);
  const status = readableStatus(known?.status, ignored);
  const parsed = StrictCollabTrainingJob.safeParse({ ...known, status });
  if (parsed.success) return { ok: true, job: parsed.data, ignored };
  return { ok: false, errors: parsed.error.issues.flatMap(fieldErrors), ignored };
}

/** The part of a stored job's status this operator knows and can read (the rest is another version's). */
export function storedStatus(raw: unknown): Status {
  const ignored: string[] = [];
  const status = (raw as { status?: unknown } | null)?.status;
  return (readableStatus(withoutUnknownFields(Status, status, ["status"], []), ignored) as Status | undefined) ?? {};
}

/**
 * The status without the fields that do not parse: the operator's own writing, so at worst it rewrites them. A value
 * a newer operator wrote (a phase this one does not know) must not make the job unreadable.
 */
function readableStatus(status: unknown, ignored: string[]): unknown {
  let current = status;
  for (let tries = 0; current !== undefined && tries < 20; tries++) {
    const parsed = Status.optional().safeParse(current);
    if (parsed.success) return current;
    for (const issue of parsed.error.issues) {
      ignored.push(`status${issue.path.length > 0 ? "." : ""}${fieldName(issue.path)} (${issue.message})`);
      current = issue.path.length === 0 ? undefined : without(current, issue.path);
    }
  }
  return current;
}

function without(value: unknown, path: readonly PropertyKey[]): unknown {
  if (value === null || typeof value !== "object") return value;
  const [head, ...rest] = path;
  if (Array.isArray(value)) {
    return rest.length === 0
      ? value.filter((_, i) => i !== head)
      : value.map((v, i) => (i === head ? without(v, rest) : v));
  }
  const copy = { ...(value as Record<string, unknown>) };
  if (rest.length === 0) delete copy[head as string];
  else copy[head as string] = without(copy[head as string], rest);
  return copy;
}
