// Validates a CollabTrainingJob the way the apiserver admits it, and reports problems the way the apiserver does: one
// line per field, named by its path (spec.rl.batchSize, spec.scheduling.tolerations[0].key). Strict like the
// apiserver with kubectl's default --validate=strict: an unknown field anywhere, metadata included, is an error.
// What the operator reads back from the cluster is parsed leniently instead (stored.ts).
import { z } from "zod";
import { dnsLabel, labelMap, qualifiedNameRule } from "./k8s.ts";
import { withoutUnknownFields } from "./prune.ts";
import { type CollabTrainingJob, Metadata, Status, StrictCollabTrainingJob } from "./schema.ts";

export interface FieldError {
  field: string;
  message: string;
}

export type Validated = { ok: true; job: CollabTrainingJob } | { ok: false; errors: FieldError[] };

/** apimachinery's totalAnnotationSizeLimitB: keys and values of all annotations together. */
const MAX_ANNOTATION_BYTES = 256 * 1024;

/** metav1.ObjectMeta as the apiserver decodes (strictly) and validates it on create (ValidateObjectMeta). */
const ObjectMeta = z.strictObject({
  ...Metadata.shape,
  generateName: z.string().optional(),
  namespace: dnsLabel().optional(),
  selfLink: z.string().optional(),
  uid: z.string().optional(),
  resourceVersion: z.string().optional(),
  generation: z.int().optional(),
  creationTimestamp: z.string().optional(),
  deletionTimestamp: z.string().optional(),
  deletionGracePeriodSeconds: z.int().optional(),
  labels: labelMap().optional(),
  annotations: z
    .record(z.string(), z.string())
    .superRefine((annotations, ctx) => {
      const key = qualifiedNameRule("self");
      for (const k of Object.keys(annotations)) {
        // ValidateAnnotations checks the lowercased key.
        if (!key.holds(k.toLowerCase()))
          ctx.addIssue({ code: "custom", message: `key ${JSON.stringify(k)} ${key.message}` });
      }
      const bytes = Object.entries(annotations).reduce(
        (n, [k, v]) => n + Buffer.byteLength(k) + Buffer.byteLength(v),
        0,
      );
      if (bytes > MAX_ANNOTATION_BYTES)
        ctx.addIssue({ code: "custom", message: `may not be more than ${MAX_ANNOTATION_BYTES} bytes in total` });
    })
    .optional(),
  ownerReferences: z.array(z.looseObject({})).optional(),
  finalizers: z.array(z.string()).optional(),
  managedFields: z.array(z.looseObject({})).optional(),
});

const SubmittedJob = z.strictObject({
  ...StrictCollabTrainingJob.shape,
  metadata: ObjectMeta,
  status: z.unknown().optional(),
});

/**
 * The job as the apiserver admits it on create. `status` is ignored there (it has its own subresource), but its
 * unknown fields are refused all the same: strict decoding looks at the whole object.
 */
export function validateJob(manifest: unknown): Validated {
  const parsed = SubmittedJob.safeParse(manifest);
  const unknown: PropertyKey[][] = [];
  const status = (manifest as { status?: unknown } | null)?.status;
  if (status !== undefined) withoutUnknownFields(Status, status, ["status"], unknown);
  const errors = [
    ...(parsed.success ? [] : parsed.error.issues.flatMap(fieldErrors)),
    ...unknown.map((path) => ({ field: fieldName(path), message: `unknown field "${String(path.at(-1))}"` })),
  ];
  if (parsed.success && errors.length === 0) {
    const { status: _ignored, ...job } = parsed.data;
    return { ok: true, job: job as CollabTrainingJob };
  }
  return { ok: false, errors };
}

export function fieldErrors(issue: z.core.$ZodIssue): FieldError[] {
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
