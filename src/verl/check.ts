// Validates the expert escape hatch (spec.rl.overrides, spec.sft.overrides) before any pod exists: an override may
// tune what the recipe fixed, but not rewire what the operator owns (paths, sidecars, resumption, logging), not
// shadow a spec field (the schema's cross-field rules would be bypassed), and not carry a secret (main_ppo prints its
// resolved config, and wandb stores it).
import { REWARD_METRICS, type Spec, SpecFields } from "../api/schema.ts";
import { parseOverride } from "./hydra.ts";
import type { Entry, OwnedKey } from "./runtime.ts";
import { runtimeFor } from "./versions.ts";

export interface OverrideProblem {
  /** Path of the offending override, e.g. spec.rl.overrides[2]. */
  field: string;
  message: string;
}

// Matched against the last key segment; narrow enough to leave max_tokens, pad_token and the like alone.
const SECRET_KEY =
  /^(api[_-]?key|.*[_-]api[_-]?key|token|(access|auth|bearer|hf|wandb|gh|github)[_-]?token|.*[_-]secret|secret.*|passw(or)?d|credentials?|authorization)$/i;
const SECRET_VALUE = [
  /\bsk-[A-Za-z0-9_-]{16,}/, // OpenAI, Anthropic (sk-ant-...), and OpenAI-compatible providers
  /\bhf_[A-Za-z0-9]{20,}/, // Hugging Face
  /\bAKIA[0-9A-Z]{16}\b/, // AWS access key id
  /\bgh[pousr]_[A-Za-z0-9]{30,}/, // GitHub
  /\beyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}\./, // a JWT
  /\bBearer\s+\S{16,}/i,
];

/** Keys the user may not touch: the non-recipe entries the operator renders for this spec, and the reserved ones. */
function ownedKeys(entries: readonly Entry[], reserved: readonly OwnedKey[]): OwnedKey[] {
  const rendered = entries.flatMap((e) => (e.owner === "recipe" ? [] : [{ key: e.key, owner: e.owner }]));
  return [{ key: "hydra", owner: "operator" }, ...rendered, ...reserved];
}

/** A key touches an owned key when it is that key, a parent replacing its subtree, or a key inside it. */
function touches(key: string, owned: string): boolean {
  return key === owned || owned.startsWith(`${key}.`) || key.startsWith(`${owned}.`);
}

function problemOf(text: string, owned: readonly OwnedKey[]): string | undefined {
  if (/[\r\n]/.test(text)) return "must be a single line";
  const parsed = parseOverride(text);
  if (!parsed) return "must be a Hydra override: [+|++|~]key=value";
  if (parsed.prefix !== "~" && parsed.value === undefined) return "needs a value (key=value)";
  const hit = owned.find((o) => touches(parsed.key, o.key));
  if (hit?.owner === "operator")
    return `${hit.key} is set by the operator (docs/verl.md lists why); it cannot be overridden`;
  if (hit) return `${hit.key} comes from ${hit.owner}; set that field instead`;
  const last = parsed.key.split(".").at(-1) ?? "";
  if (SECRET_KEY.test(last)) return "looks like a credential; give secrets through Secrets, never in overrides";
  if (SECRET_VALUE.some((re) => re.test(parsed.value ?? ""))) return "the value looks like a secret; use a Secret";
  return undefined;
}

const escapeRe = (s: string) => s.replace(/[.+*?^$()[\]{}|\\]/g, "\\$&");

/** veRL's trainer a stage runs, and the spec section of its overrides: rl (main_ppo) or sft (fsdp_sft_trainer). */
export type Trainer = "rl" | "sft";

/**
 * The owned-key part of checkOverrides as two regular expressions an override must match neither of: a key inside an
 * owned one (or the owned key itself), and a parent replacing an owned key's subtree. RE2 syntax, which JavaScript
 * reads the same way, so the CRD's CEL rule and zod use them alike (src/api/owned-overrides.ts).
 */
export function ownedKeyPatterns(trainer: Trainer, spec: Spec): string[] {
  const runtime = runtimeFor(spec);
  const ctx = { jobName: "job" };
  const owned =
    trainer === "rl"
      ? ownedKeys(runtime.rlEntries(spec, ctx), runtime.reservedRl)
      : ownedKeys(runtime.sftEntries(spec, ctx), runtime.reservedSft);
  const keys = [...new Set(owned.map((o) => o.key))];
  const parents = [
    ...new Set(
      keys.flatMap((k) =>
        k
          .split(".")
          .slice(0, -1)
          .map((_, i, a) => a.slice(0, i + 1).join(".")),
      ),
    ),
  ];
  return [
    `^(\\+\\+|\\+|~)?(${keys.map(escapeRe).join("|")})([.=]|$)`,
    `^(\\+\\+|\\+|~)?(${parents.map(escapeRe).join("|")})(=|$)`,
  ];
}

/**
 * The patterns for any spec: those of a spec with every optional feature on, which owns every key another spec can.
 * src/api/owned-override-patterns.json holds them (the api is a leaf and cannot call the renderer);
 * `npm run crd` writes it and a unit test fails when it is stale.
 */
export function ownedOverridePatterns(): Record<Trainer, string[]> {
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
  return { rl: ownedKeyPatterns("rl", everything), sft: ownedKeyPatterns("sft", everything) };
}

/** Problems with the spec's extra Hydra overrides, each at its field; empty when all are acceptable. */
export function checkOverrides(spec: Spec): OverrideProblem[] {
  // The usual job has none: no need to render its entries to know which keys it owns.
  if (!spec.rl.overrides?.length && !spec.sft.overrides?.length) return [];
  const runtime = runtimeFor(spec);
  const ctx = { jobName: "job" }; // the owned keys do not depend on the name
  const stages = [
    {
      field: "spec.rl.overrides",
      list: spec.rl.overrides,
      owned: ownedKeys(runtime.rlEntries(spec, ctx), runtime.reservedRl),
    },
    {
      field: "spec.sft.overrides",
      list: spec.sft.overrides,
      owned: ownedKeys(runtime.sftEntries(spec, ctx), runtime.reservedSft),
    },
  ];
  return stages.flatMap(({ field, list, owned }) =>
    (list ?? []).flatMap((text, i) => {
      const message = problemOf(text, owned);
      return message === undefined ? [] : [{ field: `${field}[${i}]`, message }];
    }),
  );
}
