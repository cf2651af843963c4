// What a veRL version contributes to a job. Each supported version is one module implementing VerlRuntime; everything
// version-independent (scripts, quoting, the override check) is written against this interface.
import type { Spec } from "../api/schema.ts";

/** Who decides a key: the operator (paths, wiring; never overridable), a spec field, or the recipe (overridable). */
export type Owner = "operator" | "recipe" | `spec.${string}`;

/** One Hydra override the operator renders, before it is joined into `key=value` text. */
export interface Entry {
  key: string;
  /** Hydra text of the value (hydra.ts formats it). */
  value: string;
  /** `+key`: the key is not in veRL's config and is added. */
  add?: boolean;
  owner: Owner;
}

/** A key (and the subtree below it) the user's spec.rl.overrides / spec.sft.overrides may not touch. */
export interface OwnedKey {
  key: string;
  owner: Exclude<Owner, "recipe">;
}

export interface RenderContext {
  /** metadata.name of the job: veRL's experiment name. */
  jobName: string;
}

export interface VerlRuntime {
  version: string;
  /** main_ppo's overrides in the order of the recipe's train_rl_collabllm.sh, then the operator's additions. */
  rlEntries(spec: Spec, ctx: RenderContext): Entry[];
  /** fsdp_sft_trainer's overrides in the order of train_sft_collabllm.sh, then the operator's additions. */
  sftEntries(spec: Spec, ctx: RenderContext): Entry[];
  /** Keys the user may not override besides the non-recipe entries of rlEntries/sftEntries (subtrees, unset keys). */
  reservedRl: readonly OwnedKey[];
  reservedSft: readonly OwnedKey[];
  /** Contents of the interaction config and agent loop config files. */
  interactionConfig(spec: Spec): string;
  agentConfig(): string;
  /** Paths and modules inside the trainer image. */
  processDatasetScript: string;
  ppoModule: string;
  sftModule: string;
  /** argv that merges an FSDP actor checkpoint into Hugging Face weights (the paths may be shell expansions). */
  mergeCommand<A>(checkpointDir: A, targetDir: A): (string | A)[];
}
