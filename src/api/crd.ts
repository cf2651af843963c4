// Generates the CollabTrainingJob CustomResourceDefinition from the zod schemas: one source of truth, so the
// apiserver's defaults and validation are the operator's. Pure: returns an object; src/api/crd-cli.ts prints it.
import { z } from "zod";
import { ownedOverrideValidation } from "./owned-overrides.ts";
import { GROUP, KIND, MAX_JOB_NAME_LENGTH, PLURAL, Spec, Status, VERSION } from "./schema.ts";

type JsonSchema = { [key: string]: unknown };

/**
 * Rules on the whole object (the only place the apiserver lets a CRD constrain metadata.name). The apiserver takes
 * no fieldPath into metadata, so the message itself names the field.
 */
const ROOT_VALIDATIONS = [
  {
    rule: `self.metadata.name.size() <= ${MAX_JOB_NAME_LENGTH}`,
    message: `metadata.name must be at most ${MAX_JOB_NAME_LENGTH} characters: the job's pods and Service are named after it`,
    reason: "FieldValueInvalid",
  },
  {
    rule: "self.metadata.name.matches('^[a-z]([-a-z0-9]*[a-z0-9])?$')",
    message:
      "metadata.name must start with a letter and contain only lowercase letters, digits and '-' (it names the job's headless Service)",
    reason: "FieldValueInvalid",
  },
];

export function collabTrainingJobCRD() {
  return {
    apiVersion: "apiextensions.k8s.io/v1",
    kind: "CustomResourceDefinition",
    metadata: { name: `${PLURAL}.${GROUP}` },
    spec: {
      group: GROUP,
      names: {
        kind: KIND,
        listKind: `${KIND}List`,
        plural: PLURAL,
        singular: KIND.toLowerCase(),
        shortNames: ["ctj"],
        categories: ["collabllm"],
      },
      scope: "Namespaced",
      versions: [
        {
          name: VERSION,
          served: true,
          storage: true,
          subresources: { status: {} },
          additionalPrinterColumns: [
            { name: "Phase", type: "string", jsonPath: ".status.phase" },
            {
              name: "Waiting",
              type: "string",
              jsonPath: ".status.waiting",
              description: "what holds the job: Blocked, Restart, Queued, Capacity or Preflight, with the reason",
            },
            { name: "Step", type: "string", jsonPath: ".status.progress.stepOfTotal", description: "step/total" },
            { name: "Reward", type: "number", jsonPath: ".status.progress.reward", description: "critic/score/mean" },
            { name: "Restarts", type: "integer", jsonPath: ".status.restarts" },
            { name: "Age", type: "date", jsonPath: ".metadata.creationTimestamp" },
            { name: "Stage", type: "string", jsonPath: ".status.stage", priority: 1 },
            { name: "Model", type: "string", jsonPath: ".spec.model", priority: 1 },
          ],
          schema: {
            openAPIV3Schema: {
              type: "object",
              description: "CollabTrainingJob trains a model with CollabLLM's multiturn-aware reward on veRL.",
              required: ["spec"],
              properties: {
                apiVersion: { type: "string" },
                kind: { type: "string" },
                metadata: { type: "object" },
                spec: withOverrideRules(structural(Spec, "input")),
                status: structural(Status, "output"),
              },
              "x-kubernetes-validations": ROOT_VALIDATIONS,
            },
          },
        },
      ],
    },
  };
}

/** The owned-key rule goes on each override, so the apiserver names the offending one (src/api/owned-overrides.ts). */
function withOverrideRules(spec: JsonSchema): JsonSchema {
  const props = spec.properties as Record<string, { properties: Record<string, { items: JsonSchema }> }>;
  for (const stage of ["rl", "sft"] as const) {
    const items = props[stage]?.properties.overrides?.items;
    if (items) items["x-kubernetes-validations"] = [ownedOverrideValidation(stage)];
  }
  return spec;
}

/**
 * zod -> OpenAPI v3 structural schema. For the spec the input shape is used, so defaulted fields are optional and
 * carry their defaults; the apiserver fills them in.
 */
function structural(schema: z.ZodType, io: "input" | "output"): JsonSchema {
  const json = z.toJSONSchema(schema, { io, target: "openapi-3.0", unrepresentable: "throw" }) as JsonSchema;
  return clean(json) as JsonSchema;
}

/**
 * Drops what structural schemas forbid or what only adds noise (zod's lower safe-integer bound). The upper one stays:
 * the apiserver stores int64, and a value above 2^53 - 1 would reach the operator rounded.
 */
function clean(node: unknown): unknown {
  if (Array.isArray(node)) return node.map(clean);
  if (node === null || typeof node !== "object") return node;
  const out: JsonSchema = {};
  for (const [key, value] of Object.entries(node)) {
    if (key === "$schema" || key === "propertyNames") continue;
    if (key === "additionalProperties" && value === false) continue; // unknown fields are pruned or rejected anyway
    if (key === "minimum" && value === -Number.MAX_SAFE_INTEGER) continue;
    out[key] = key === "x-kubernetes-validations" || key === "enum" || key === "default" ? value : clean(value);
  }
  // The one anyOf a structural schema allows: x-kubernetes-int-or-string's, exactly as the apiserver spells it.
  if (out["x-kubernetes-int-or-string"] === true) out.anyOf = [{ type: "integer" }, { type: "string" }];
  return out;
}
