// Structural pruning as the apiserver does it: every object field the schema does not declare is found (and removed),
// recursing only where the value has the schema's shape, as apiextensions' pruning does. The apiserver with kubectl's
// --validate=strict refuses a manifest with such fields (even under the ignored status); the operator drops them from
// what it reads back (a newer CRD's fields).
import type { z } from "zod";

type Def = {
  type: string;
  shape?: Record<string, z.ZodType>;
  innerType?: z.ZodType;
  element?: z.ZodType;
  valueType?: z.ZodType;
  in?: z.ZodType;
  catchall?: z.ZodType;
};

/** The value with every object field the schema does not declare removed, recursively; their paths go to `unknown`. */
export function withoutUnknownFields(
  schema: z.ZodType,
  value: unknown,
  path: PropertyKey[],
  unknown: PropertyKey[][],
): unknown {
  const def = (schema as unknown as { _zod: { def: Def } })._zod.def;
  switch (def.type) {
    case "optional":
    case "default":
    case "prefault":
    case "nullable":
    case "readonly":
    case "catch":
      return withoutUnknownFields(def.innerType as z.ZodType, value, path, unknown);
    case "pipe":
      return withoutUnknownFields(def.in as z.ZodType, value, path, unknown);
    case "array":
      return Array.isArray(value)
        ? value.map((v, i) => withoutUnknownFields(def.element as z.ZodType, v, [...path, i], unknown))
        : value;
    case "record":
      return isObject(value)
        ? Object.fromEntries(
            Object.entries(value).map(([k, v]) => [
              k,
              withoutUnknownFields(def.valueType as z.ZodType, v, [...path, k], unknown),
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
        if (field) out[k] = withoutUnknownFields(field, v, [...path, k], unknown);
        else if (loose) out[k] = v;
        else unknown.push([...path, k]);
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
