// Extra Hydra overrides (spec.rl.overrides, spec.sft.overrides) may not touch keys the operator owns: paths, wiring,
// and keys that come from spec fields (the schema's rules would be bypassed). One pair of regular expressions per
// stage serves both the CRD's CEL rule (RE2) and zod (JavaScript). They come from the veRL renderer for a spec with
// every optional feature on, so they hold for any spec; the operator repeats the exact per-job check, secrets
// included (src/verl/check.ts), and reports it as a Stalled condition.
import type { z } from "zod";
import { ownedKeyPatterns } from "../verl/check.ts";
import { REWARD_METRICS, SpecFields } from "./schema.ts";

type Stage = "rl" | "sft";
const cache = new Map<Stage, string[]>();

/** Computed on first use: this module and the schema import each other, and the schema must exist first. */
function patterns(stage: Stage): string[] {
  let found = cache.get(stage);
  if (!found) {
    const everything = SpecFields.parse({
      model: "m",
      dataset: { source: "s", taskDescription: "t" },
      sft: { enabled: true },
      userSimulator: { model: "m" },
      judge: { model: "m" },
      reward: { metrics: Object.fromEntries(REWARD_METRICS.map((m) => [m, 1])), allowCodeExecution: true },
      integrations: {
        wandb: { apiKeySecretRef: { name: "w", key: "k" } },
        huggingFaceTokenSecretRef: { name: "h", key: "t" },
      },
      storage: { size: "1Gi" },
    });
    found = ownedKeyPatterns(stage, everything);
    cache.set(stage, found);
  }
  return found;
}

// Compiled once: every parse of a spec (each reconcile, each report) runs this check.
const compiled = new Map<Stage, RegExp[]>();

function regexesOf(stage: Stage): RegExp[] {
  let found = compiled.get(stage);
  if (!found) {
    found = patterns(stage).map((p) => new RegExp(p));
    compiled.set(stage, found);
  }
  return found;
}

export const OWNED_OVERRIDE_MESSAGE =
  "sets a key the operator owns or that comes from a spec field (docs/verl.md lists them)";

/** The CEL rule for each item of spec.<stage>.overrides. */
export function ownedOverrideValidation(stage: Stage) {
  return {
    rule: patterns(stage)
      .map((p) => `!self.matches(${JSON.stringify(p)})`)
      .join(" && "),
    message: OWNED_OVERRIDE_MESSAGE,
    reason: "FieldValueForbidden",
  };
}

/** The same rule for zod, reported at spec.<stage>.overrides[i]. */
export function refineOwnedOverrides(
  spec: { rl: { overrides?: string[] | undefined }; sft: { overrides?: string[] | undefined } },
  ctx: z.RefinementCtx,
): void {
  for (const stage of ["rl", "sft"] as const) {
    spec[stage].overrides?.forEach((text, i) => {
      if (regexesOf(stage).some((r) => r.test(text))) {
        ctx.addIssue({ code: "custom", path: [stage, "overrides", i], message: OWNED_OVERRIDE_MESSAGE });
      }
    });
  }
}
