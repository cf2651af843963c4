// The paper's math-hard settings (examples/math-hard.yaml) render to recipe/collabllm/train_rl_collabllm.sh's
// overrides, except the deliberate differences listed here and in docs/verl.md.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { parseOverride } from "../../../src/verl/hydra.ts";
import { verlArgsText } from "../../../src/verl/render.ts";
import { exampleCase } from "./cases.ts";

// recipe/collabllm/train_rl_collabllm.sh at volcengine/verl v0.6.0, as Hydra receives each argument after the
// shell has removed its quotes and expanded DATASET=math-hard-large; $HOME and $PROJECT_DIR are left unexpanded.
const RECIPE_RL = `
trainer.val_before_train=False
algorithm.adv_estimator=grpo
data.train_files=$HOME/data/collabllm-math-hard-large/rl_train.parquet
data.val_files=$HOME/data/collabllm-math-hard-large/rl_validation.parquet
reward_model.reward_manager=collabllm
+reward_model.reward_kwargs.metric_weights.accuracy=1
+reward_model.reward_kwargs.metric_weights.interactivity=1
+reward_model.reward_kwargs.metric_weights.token_amount=-0.0001
+reward_model.reward_kwargs.llm_judge_kwargs.model=gpt-4o-mini
+reward_model.reward_kwargs.llm_judge_kwargs.max_tokens=2048
+reward_model.reward_kwargs.llm_judge_kwargs.temperature=0
data.train_batch_size=16
data.max_prompt_length=8196
data.max_response_length=2048
data.filter_overlong_prompts=True
data.truncation=error
actor_rollout_ref.model.path=Qwen/Qwen2.5-7B-Instruct
actor_rollout_ref.actor.optim.lr=1e-6
actor_rollout_ref.model.use_remove_padding=True
actor_rollout_ref.actor.ppo_mini_batch_size=8
actor_rollout_ref.actor.use_dynamic_bsz=True
actor_rollout_ref.actor.ppo_max_token_len_per_gpu=24000
actor_rollout_ref.actor.use_kl_loss=True
actor_rollout_ref.actor.kl_loss_coef=0.001
actor_rollout_ref.actor.kl_loss_type=low_var_kl
actor_rollout_ref.actor.entropy_coeff=0
actor_rollout_ref.model.enable_gradient_checkpointing=True
actor_rollout_ref.actor.fsdp_config.param_offload=True
actor_rollout_ref.actor.fsdp_config.optimizer_offload=True
actor_rollout_ref.rollout.name=vllm
actor_rollout_ref.rollout.mode=async
actor_rollout_ref.rollout.gpu_memory_utilization=0.7
actor_rollout_ref.rollout.n=8
actor_rollout_ref.rollout.temperature=1.0
actor_rollout_ref.rollout.free_cache_engine=True
actor_rollout_ref.rollout.multi_turn.enable=true
actor_rollout_ref.rollout.multi_turn.format=hermes
actor_rollout_ref.rollout.multi_turn.max_user_turns=2
actor_rollout_ref.rollout.multi_turn.max_assistant_turns=3
actor_rollout_ref.rollout.multi_turn.num_repeat_rollouts=3
actor_rollout_ref.rollout.agent.agent_loop_config_path=$PROJECT_DIR/recipe/collabllm/config/agent.yaml
actor_rollout_ref.ref.fsdp_config.param_offload=True
algorithm.use_kl_in_reward=False
trainer.critic_warmup=0
trainer.logger=["console", "wandb"]
trainer.project_name=verlxcollabllm
trainer.experiment_name=collabllm-qwen2.5-7B-math-hard-large
trainer.nnodes=1
trainer.n_gpus_per_node=8
actor_rollout_ref.rollout.tensor_model_parallel_size=1
trainer.save_freq=100
trainer.test_freq=10
trainer.total_epochs=20
custom_reward_function.path=recipe/collabllm/reward_function.py
custom_reward_function.name=conversation_level_reward_func
actor_rollout_ref.rollout.multi_turn.interaction_config_path=$PROJECT_DIR/recipe/collabllm/config/collabllm_interaction_config.yaml
trainer.resume_from_path=null
`;

/** Every deliberate difference for examples/math-hard.yaml: key -> the value we render (undefined: not rendered). */
const DIFFERENCES: Record<string, string | undefined> = {
  "data.train_files": "/collab/data/rl_train.parquet",
  "data.val_files": "/collab/data/rl_validation.parquet",
  "+reward_model.reward_kwargs.llm_judge_kwargs.model": "openai/gpt-4o-mini",
  "+reward_model.reward_kwargs.llm_judge_kwargs.api_base": "http://127.0.0.1:4002/v1",
  "+reward_model.reward_kwargs.llm_judge_kwargs.num_retries": "6",
  "actor_rollout_ref.model.path": "/collab/models/sft",
  "actor_rollout_ref.rollout.agent.agent_loop_config_path": "/etc/collab/agent.yaml",
  "trainer.logger": "[console]",
  "trainer.experiment_name": "math-hard",
  "custom_reward_function.path": "/opt/verl/recipe/collabllm/reward_function.py",
  "actor_rollout_ref.rollout.multi_turn.interaction_config_path": "/etc/collab/collabllm_interaction_config.yaml",
  "trainer.resume_from_path": undefined,
  "trainer.resume_mode": "auto",
  "trainer.default_local_dir": "/collab/checkpoints/rl",
  "trainer.rollout_data_dir": "/collab/rollouts",
  "actor_rollout_ref.rollout.agent.num_workers": "8",
};

/** A value as Hydra would load it, so that True/true, 1e-6/0.000001 and ["a", "b"]/[a,b] compare equal. */
function normalized(value: string): string {
  const v = value.trim();
  if (/^(true|false)$/i.test(v)) return v.toLowerCase();
  if (v !== "" && !Number.isNaN(Number(v))) return String(Number(v));
  if (v.startsWith("[")) return `[${v.slice(1, -1).split(",").map(normalized).join(",")}]`;
  return v.replace(/^(['"])(.*)\1$/, "$2");
}

function asMap(lines: string): Map<string, string> {
  const map = new Map<string, string>();
  for (const line of lines.split("\n").filter((l) => l.trim() !== "")) {
    const o = parseOverride(line);
    if (!o) throw new Error(`not an override: ${line}`);
    map.set(`${o.prefix}${o.key}`, normalized(o.value ?? ""));
  }
  return map;
}

describe("math-hard against train_rl_collabllm.sh", () => {
  const c = exampleCase("math-hard");
  const ours = asMap(verlArgsText(c.job, c.ctx, "rl"));
  const recipe = asMap(RECIPE_RL);

  it("differs from the recipe exactly in the documented keys", () => {
    const differing = [...new Set([...ours.keys(), ...recipe.keys()])].filter((k) => ours.get(k) !== recipe.get(k));
    expect(differing.sort()).toEqual(Object.keys(DIFFERENCES).sort());
    for (const [key, value] of Object.entries(DIFFERENCES)) {
      expect(ours.get(key), key).toBe(value === undefined ? undefined : normalized(value));
    }
  });

  it("keeps the recipe's order for the keys both have", () => {
    const shared = (m: Map<string, string>) => [...m.keys()].filter((k) => ours.has(k) && recipe.has(k));
    expect(shared(ours)).toEqual(shared(recipe));
  });

  it("documents every difference in docs/verl.md", () => {
    const docs = readFileSync(join(import.meta.dirname, "../../../docs/verl.md"), "utf8");
    for (const key of Object.keys(DIFFERENCES)) expect(docs, key).toContain(`\`${key.replace(/^\+/, "")}`);
  });
});
