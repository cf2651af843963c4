// veRL's trainer.logger and tracking names, shared by the SFT and RL stages.
import type { Spec } from "../api/schema.ts";

/** The recipe's wandb project; kept when the user names none so runs land where the recipe's would. */
export const DEFAULT_PROJECT = "verlxcollabllm";

/** console always (the gateway parses it); wandb only with a key, or veRL would fail at startup without one. */
export function loggers(spec: Spec): string[] {
  return spec.integrations.wandb ? ["console", "wandb"] : ["console"];
}

export function projectName(spec: Spec): string {
  return spec.integrations.wandb?.project ?? DEFAULT_PROJECT;
}
