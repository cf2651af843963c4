// main_ppo overrides for veRL v0.6.0: recipe/collabllm/train_rl_collabllm.sh with the spec's values, absolute paths on
// the job's volume, and the operator's wiring (gateway sidecars, checkpoints, logging). docs/verl.md lists every
// deliberate difference from the script.
import type { Spec } from "../../api/schema.ts";
import { disableCascadeAttention } from "../cascade.ts";
import { bool, float, list, num, str } from "../hydra.ts";
import { CONFIG_FILES, CONFIG_MOUNT, JUDGE_URL, PATHS, VERL_ROOT } from "../layout.ts";
import { loggers, projectName } from "../logger.ts";
import type { Entry, OwnedKey, RenderContext } from "../runtime.ts";

/** veRL saves only when save_freq > 0; "only at the end" needs a period no run reaches (it always saves the last step). */
export const SAVE_AT_END_ONLY = 2_147_483_647;

const ROLLOUT = "actor_rollout_ref.rollout";
const ACTOR = "actor_rollout_ref.actor";
const JUDGE = "reward_model.reward_kwargs.llm_judge_kwargs";
const WEIGHTS = "reward_model.reward_kwargs.metric_weights";
const CASCADE = `${ROLLOUT}.engine_kwargs.vllm.disable_cascade_attn`;

export function rlEntries(spec: Spec, ctx: RenderContext): Entry[] {
  const { rl, rollout, resources, judge } = spec;
  const e = (key: string, value: string, owner: Entry["owner"], add = false): Entry =>
    add ? { key, value, add, owner } : { key, value, owner };
  return [
    e("trainer.val_before_train", bool(rl.validateBeforeTrain), "spec.rl.validateBeforeTrain"),
    e("algorithm.adv_estimator", str(rl.algorithm), "spec.rl.algorithm"),
    e("data.train_files", str(PATHS.rlTrain), "operator"),
    e("data.val_files", str(PATHS.rlValidation), "operator"),
    e("reward_model.reward_manager", "collabllm", "operator"),
    ...Object.entries(spec.reward.metrics).map(([metric, weight]) =>
      e(`${WEIGHTS}.${metric}`, num(weight), "spec.reward.metrics", true),
    ),
    // litellm's openai/ provider sends the bare model name to api_base with OPENAI_API_KEY, the job's internal token.
    e(`${JUDGE}.model`, str(`openai/${judge.model}`), "spec.judge.model", true),
    e(`${JUDGE}.max_tokens`, num(judge.maxTokens), "spec.judge.maxTokens", true),
    e(`${JUDGE}.temperature`, float(judge.temperature), "spec.judge.temperature", true),
    e(`${JUDGE}.api_base`, str(JUDGE_URL), "operator", true),
    e(`${JUDGE}.num_retries`, num(judge.retries), "spec.judge.retries", true),
    e("data.train_batch_size", num(rl.batchSize), "spec.rl.batchSize"),
    e("data.max_prompt_length", num(rl.maxPromptLength), "spec.rl.maxPromptLength"),
    e("data.max_response_length", num(rl.maxResponseLength), "spec.rl.maxResponseLength"),
    e("data.filter_overlong_prompts", bool(true), "recipe"),
    e("data.truncation", "error", "recipe"),
    e("actor_rollout_ref.model.path", str(spec.sft.enabled ? PATHS.sftModel : spec.model), "spec.model"),
    e(`${ACTOR}.optim.lr`, float(rl.learningRate), "spec.rl.learningRate"),
    e("actor_rollout_ref.model.use_remove_padding", bool(true), "recipe"),
    e(`${ACTOR}.ppo_mini_batch_size`, num(rl.miniBatchSize), "spec.rl.miniBatchSize"),
    e(`${ACTOR}.use_dynamic_bsz`, bool(true), "recipe"),
    e(`${ACTOR}.ppo_max_token_len_per_gpu`, num(rl.maxTokenLengthPerGPU), "spec.rl.maxTokenLengthPerGPU"),
    e(`${ACTOR}.use_kl_loss`, bool(true), "recipe"),
    e(`${ACTOR}.kl_loss_coef`, float(rl.klLossCoef), "spec.rl.klLossCoef"),
    e(`${ACTOR}.kl_loss_type`, "low_var_kl", "recipe"),
    e(`${ACTOR}.entropy_coeff`, num(0), "recipe"),
    e("actor_rollout_ref.model.enable_gradient_checkpointing", bool(true), "recipe"),
    e(`${ACTOR}.fsdp_config.param_offload`, bool(true), "recipe"),
    e(`${ACTOR}.fsdp_config.optimizer_offload`, bool(true), "recipe"),
    // The image carries vLLM only, and CollabLLM's agent loop needs the async server.
    e(`${ROLLOUT}.name`, "vllm", "operator"),
    e(`${ROLLOUT}.mode`, "async", "operator"),
    e(`${ROLLOUT}.gpu_memory_utilization`, float(rollout.gpuMemoryUtilization), "spec.rollout.gpuMemoryUtilization"),
    e(`${ROLLOUT}.n`, num(rollout.samplesPerPrompt), "spec.rollout.samplesPerPrompt"),
    e(`${ROLLOUT}.temperature`, float(rollout.temperature), "spec.rollout.temperature"),
    e(`${ROLLOUT}.free_cache_engine`, bool(true), "recipe"),
    e(`${ROLLOUT}.multi_turn.enable`, bool(true), "operator"),
    e(`${ROLLOUT}.multi_turn.format`, "hermes", "recipe"),
    e(
      `${ROLLOUT}.multi_turn.max_user_turns`,
      num(rollout.multiTurn.maxUserTurns),
      "spec.rollout.multiTurn.maxUserTurns",
    ),
    e(
      `${ROLLOUT}.multi_turn.max_assistant_turns`,
      num(rollout.multiTurn.maxAssistantTurns),
      "spec.rollout.multiTurn.maxAssistantTurns",
    ),
    e(
      `${ROLLOUT}.multi_turn.num_repeat_rollouts`,
      num(rollout.multiTurn.futureConversations),
      "spec.rollout.multiTurn.futureConversations",
    ),
    e(`${ROLLOUT}.agent.agent_loop_config_path`, str(`${CONFIG_MOUNT}/${CONFIG_FILES.agent}`), "operator"),
    e("actor_rollout_ref.ref.fsdp_config.param_offload", bool(true), "recipe"),
    e("algorithm.use_kl_in_reward", bool(false), "recipe"),
    e("trainer.critic_warmup", num(0), "recipe"),
    e("trainer.logger", list(loggers(spec)), "operator"),
    e("trainer.project_name", str(projectName(spec)), "spec.integrations.wandb.project"),
    e("trainer.experiment_name", str(ctx.jobName), "operator"),
    e("trainer.nnodes", num(resources.nodes), "spec.resources.nodes"),
    e("trainer.n_gpus_per_node", num(resources.gpusPerNode), "spec.resources.gpusPerNode"),
    e(`${ROLLOUT}.tensor_model_parallel_size`, num(rollout.tensorParallelSize), "spec.rollout.tensorParallelSize"),
    e("trainer.save_freq", num(rl.saveEvery === -1 ? SAVE_AT_END_ONLY : rl.saveEvery), "spec.rl.saveEvery"),
    e("trainer.test_freq", num(rl.validateEvery), "spec.rl.validateEvery"),
    e("trainer.total_epochs", num(rl.epochs), "spec.rl.epochs"),
    e("custom_reward_function.path", str(`${VERL_ROOT}/recipe/collabllm/reward_function.py`), "operator"),
    e("custom_reward_function.name", "conversation_level_reward_func", "operator"),
    e(`${ROLLOUT}.multi_turn.interaction_config_path`, str(`${CONFIG_MOUNT}/${CONFIG_FILES.interaction}`), "operator"),
    // The operator's additions, after the recipe's list.
    e("trainer.resume_mode", "auto", "operator"),
    e("trainer.default_local_dir", str(PATHS.rlCheckpoints), "operator"),
    e("trainer.rollout_data_dir", str(PATHS.rollouts), "operator"),
    e(`${ROLLOUT}.agent.num_workers`, num(rollout.agentWorkers), "spec.rollout.agentWorkers"),
    ...(disableCascadeAttention(spec) ? [e(CASCADE, bool(true), "spec.rollout.cascadeAttention", true)] : []),
  ];
}

/** Owned keys beyond the non-recipe entries rlEntries renders: subtrees the operator fills, keys it leaves unset. */
export const reservedRl: readonly OwnedKey[] = [
  { key: WEIGHTS, owner: "spec.reward.metrics" },
  { key: JUDGE, owner: "operator" },
  { key: CASCADE, owner: "spec.rollout.cascadeAttention" },
  // Ignored by veRL unless resume_mode=resume_path, which would stop automatic resumption after a restart.
  { key: "trainer.resume_from_path", owner: "operator" },
];
