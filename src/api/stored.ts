// What the operator reads back from the cluster is parsed leniently: a CRD newer than this operator (during an upgrade
// or a rollback) may have stored fields it does not know, in the spec or in a status another version wrote. Those are
// ignored, never a reason to fail the job. Only admission and `render` validate strictly (validate.ts). A spec whose
// known fields this operator cannot use still fails to parse: the reconciler marks that job Failed.
import type { z } from "zod";
import { CollabTrainingJob, Status } from "./schema.ts";
import { type FieldError, fieldErrors, fieldName } from "./validate.ts";

export type Stored =
  | { ok: true; job: CollabTrainingJob; ignored: string[] }
  | { ok: false; errors: FieldError[]; ignored: string[] };

/** A stored job: unknown fields dropped (and listed), status values this operator cannot read left out. */
export function parseStoredJob(raw: unknown): Stored {
  const ignored: string[] = [];
  const known = withoutUnknownFields(CollabTrainingJob, raw, [], ignored) as Record<string, unknown>;
  const status = readableStatus(known?.status, ignored);
  const parsed = CollabTrainingJob.safeParse({ ...known, status });
  if (parsed.success) return { ok: true, job: parsed.data, ignored };
  return { ok: false, errors: parsed.error.issues.flatMap(fieldErrors), ignored };
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

type Def = {
  type: string;
  shape?: Record<string, z.ZodType>;
  innerType?: z.ZodType;
  element?: z.ZodType;
  valueType?: z.ZodType;
  in?: z.ZodType;
  catchall?: z.ZodType;
};

/** The value with every object field the schema does not declare removed, recursively; removed paths go to `ignored`. */
export function withoutUnknownFields(
  schema: z.ZodType,
  value: unknown,
  path: PropertyKey[],
  ignored: string[],
): unknown {
  const def = (schema as unknown as { _zod: { def: Def } })._zod.def;
  switch (def.type) {
    case "optional":
    case "default":
    case "prefault":
    case "nullable":
    case "readonly":
    case "catch":
      return withoutUnknownFields(def.innerType as z.ZodType, value, path, ignored);
    case "pipe":
      return withoutUnknownFields(def.in as z.ZodType, value, path, ignored);
    case "array":
      return Array.isArray(value)
        ? value.map((v, i) => withoutUnknownFields(def.element as z.ZodType, v, [...path, i], ignored))
        : value;
    case "record":
      return isObject(value)
        ? Object.fromEntries(
            Object.entries(value).map(([k, v]) => [
              k,
              withoutUnknownFields(def.valueType as z.ZodType, v, [...path, k], ignored),
            ]),
          )
        : value;
    case "object": {
      if (!isObject(value)) return value;
      const shape = def.shape as Record<string, z.ZodType>;
      const loose =
        def.catchall !== undefined && (def.catchall as unknown as { _zod: { def: Def } })._zod.def.type === "unknown";
      const out: Record<string, unknown> = {};
      for (const [k, v] of Object.entries(value)) {
        const field = shape[k];
        if (field) out[k] = withoutUnknownFields(field, v, [...path, k], ignored);
        else if (loose) out[k] = v;
        else ignored.push(fieldName([...path, k]));
      }
      return out;
    }
    default:
      return value;
  }
}

function isObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === "object" && !Array.isArray(value);
}
