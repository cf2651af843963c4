// Extra Hydra overrides (spec.rl.overrides, spec.sft.overrides) may not touch keys the operator owns: paths, wiring,
// and keys that come from spec fields (the schema's rules would be bypassed). One pair of regular expressions per
// stage serves both the CRD's CEL rule (RE2) and zod (JavaScript). They are derived from the veRL renderer for a spec
// with every optional feature on, so they hold for any spec (src/verl/check.ts writes them to the JSON beside this
// file: the api imports nothing of ours); the operator repeats the exact per-job check, secrets included, and
// reports it as a Stalled condition.
import type { z } from "zod";
import PATTERNS from "./owned-override-patterns.json" with { type: "json" };

type OverrideStage = keyof typeof PATTERNS;

// Compiled once: every parse of a spec (each reconcile, each report) runs this check.
const COMPILED: Record<OverrideStage, RegExp[]> = {
  rl: PATTERNS.rl.map((p) => new RegExp(p)),
  sft: PATTERNS.sft.map((p) => new RegExp(p)),
};

export const OWNED_OVERRIDE_MESSAGE =
  "sets a key the operator owns or that comes from a spec field (docs/verl.md lists them)";

/** The CEL rule for each item of spec.<stage>.overrides. */
export function ownedOverrideValidation(stage: OverrideStage) {
  return {
    rule: PATTERNS[stage].map((p) => `!self.matches(${JSON.stringify(p)})`).join(" && "),
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
      if (COMPILED[stage].some((r) => r.test(text))) {
        ctx.addIssue({ code: "custom", path: [stage, "overrides", i], message: OWNED_OVERRIDE_MESSAGE });
      }
    });
  }
}
