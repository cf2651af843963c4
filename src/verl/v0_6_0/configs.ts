// The recipe's two config files for veRL v0.6.0: recipe/collabllm/config/collabllm_interaction_config.yaml and
// config/agent.yaml, with the user simulator reached through the gateway sidecar.
import { stringify } from "yaml";
import type { Spec } from "../../api/schema.ts";
import { omegaconfLiteral } from "../hydra.ts";
import { USER_SIMULATOR_URL } from "../layout.ts";

/** The interaction's name; process_dataset.py writes it into every row's extra_info.interaction_kwargs.name. */
export const INTERACTION_NAME = "collabllm";
/** Sic ("interation"): the module's real name in verl v0.6.0. */
export const INTERACTION_CLASS = "recipe.collabllm.collabllm_interation.CollabLLMInteraction";
/** process_dataset.py writes agent_name=collabllm_agent into every row; the agent loop is looked up by it. */
export const AGENT_NAME = "collabllm_agent";
export const AGENT_LOOP_CLASS = "recipe.collabllm.collabllm_agent_loop.CollabLLMAgentLoop";

/**
 * CollabLLMInteraction pops user_model, num_retries and enable_log and passes every other key to litellm.acompletion:
 * api_base points litellm at the sidecar. No api_key: litellm reads OPENAI_API_KEY, the job's internal token, from
 * the environment, so no file, command or printed config of the trainer holds a real key.
 */
export function interactionConfig(spec: Spec): string {
  const sim = spec.userSimulator;
  const config = {
    interaction: [
      {
        name: INTERACTION_NAME,
        class_name: INTERACTION_CLASS,
        config: {
          user_model: omegaconfLiteral(`openai/${sim.model}`),
          api_base: USER_SIMULATOR_URL,
          num_retries: sim.retries,
          max_tokens: sim.maxTokens,
          temperature: sim.temperature,
          enable_log: true,
        },
      },
    ],
  };
  return yamlText(config);
}

/** Strings double-quoted: PyYAML (which OmegaConf uses) rejects some plain scalars YAML 1.2 allows, e.g. with tabs. */
function yamlText(value: unknown): string {
  return stringify(value, { lineWidth: 0, defaultStringType: "QUOTE_DOUBLE", defaultKeyType: "PLAIN" });
}

export function agentConfig(): string {
  return yamlText([{ name: AGENT_NAME, _target_: AGENT_LOOP_CLASS }]);
}
