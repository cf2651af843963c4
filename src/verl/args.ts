// The argv tail veRL's entry points receive: the rendered entries as Hydra override text, with the user's expert
// overrides (spec.rl.overrides, spec.sft.overrides) applied. checkOverrides keeps those away from owned keys; here a
// user override of a recipe key takes that key's place, so each key appears once and the list reads like the recipe.
import type { Spec } from "../api/schema.ts";
import { parseOverride } from "./hydra.ts";
import type { Entry, RenderContext } from "./runtime.ts";
import { runtimeFor } from "./versions.ts";

export function entryText(entry: Entry): string {
  return `${entry.add ? "+" : ""}${entry.key}=${entry.value}`;
}

function withOverrides(entries: readonly Entry[], overrides: readonly string[] | undefined): string[] {
  const byKey = new Map<string, string>();
  for (const text of overrides ?? []) {
    const key = parseOverride(text)?.key;
    if (key !== undefined && entries.some((e) => e.key === key && e.owner === "recipe")) byKey.set(key, text);
  }
  const replaced = new Set(byKey.values());
  return [
    ...entries.map((e) => byKey.get(e.key) ?? entryText(e)),
    ...(overrides ?? []).filter((text) => !replaced.has(text)),
  ];
}

/** main_ppo's Hydra overrides, one argv element each, exactly as Hydra receives them. */
export function rlArgs(spec: Spec, ctx: RenderContext): string[] {
  return withOverrides(runtimeFor(spec).rlEntries(spec, ctx), spec.rl.overrides);
}

/** fsdp_sft_trainer's Hydra overrides. */
export function sftArgs(spec: Spec, ctx: RenderContext): string[] {
  return withOverrides(runtimeFor(spec).sftEntries(spec, ctx), spec.sft.overrides);
}
