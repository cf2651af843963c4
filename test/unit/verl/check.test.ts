import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { Spec } from "../../../src/api/schema.ts";
import { checkOverrides, ownedKeyPatterns } from "../../../src/verl/check.ts";
import { OWNED_PATTERNS_FILE, ownedPatternsJSON } from "../../../src/verl/generate-owned-keys.ts";
import { minimalSpec } from "./specs.ts";

// The overrides are set after parsing, past the schema's own checks, so this check is seen on its own: it also
// guards jobs stored before those rules, and adds what admission cannot see, such as secret-looking values.
const parsed = Spec.parse(minimalSpec());
const rl = (...overrides: string[]) => checkOverrides({ ...parsed, rl: { ...parsed.rl, overrides } });

describe("checkOverrides", () => {
  it.each([
    "actor_rollout_ref.actor.fsdp_config.param_offload=False",
    "trainer.max_actor_ckpt_to_keep=2",
    "+actor_rollout_ref.rollout.engine_kwargs.vllm.enforce_eager=True",
    "actor_rollout_ref.rollout.calculate_log_probs=True",
    "actor_rollout_ref.rollout.response_length=1024",
    "data.max_prompt_length_extra=1", // not owned: Hydra, not this check, rejects unknown keys
    "~actor_rollout_ref.actor.entropy_coeff",
    "+actor_rollout_ref.rollout.engine_kwargs.vllm.max_num_seqs=256",
  ])("accepts %s", (o) => expect(rl(o)).toEqual([]));

  it.each([
    ["trainer.default_local_dir=/tmp/x", /set by the operator/],
    ["trainer.nnodes=4", /spec\.resources\.nodes/],
    ["data.train_batch_size=64", /spec\.rl\.batchSize/],
    ["+reward_model.reward_kwargs.llm_judge_kwargs.api_key=abc", /set by the operator/],
    ["+reward_model.reward_kwargs.metric_weights.bleu_score=1", /spec\.reward\.metrics/],
    ["reward_model.reward_kwargs={}", /spec\.reward\.metrics|operator/],
    ["trainer={}", /operator|spec\./],
    ["trainer.resume_from_path=/collab/checkpoints/rl/global_step_10", /set by the operator/],
    ["trainer.resume_mode=disable", /set by the operator/],
    ["hydra.run.dir=/tmp", /set by the operator/],
    ["+actor_rollout_ref.rollout.engine_kwargs.vllm.disable_cascade_attn=False", /spec\.rollout\.cascadeAttention/],
    ["+ray_kwargs.ray_init.runtime_env.env_vars.OPENAI_API_KEY=x", /credential/],
    ["+ray_kwargs.ray_init.runtime_env.env_vars.HF_TOKEN=x", /credential/],
    ["+trainer.note=sk-abcdefghijklmnopqrstuv", /secret/],
    ["trainer.project_name=x", /spec\.integrations\.wandb\.project/],
    ["trainer.logger=[console,tensorboard]", /set by the operator/],
    ["a.b=1\nc.d=2", /single line/],
    ["trainer.total_epochs", /needs a value/],
  ])("rejects %j", (o, message) => {
    const problems = rl(o);
    expect(problems).toHaveLength(1);
    expect(problems[0]!.field).toBe("spec.rl.overrides[0]");
    expect(problems[0]!.message).toMatch(message);
  });

  it("checks the SFT stage's overrides against its own keys", () => {
    const spec = {
      ...parsed,
      sft: {
        ...parsed.sft,
        enabled: true,
        overrides: ["optim.warmup_steps_ratio=0.05", "model.partial_pretrain=x", "trainer.nnodes=2"],
      },
    };
    expect(checkOverrides(spec).map((p) => p.field)).toEqual(["spec.sft.overrides[1]", "spec.sft.overrides[2]"]);
  });

  it("leaves keys that merely contain 'token' alone", () => {
    expect(rl("actor_rollout_ref.rollout.max_num_batched_tokens=8192", "data.tokenizer=null")).toEqual([]);
  });
});

describe("ownedKeyPatterns", () => {
  // The two regular expressions, as the apiserver's CEL would evaluate them (RE2 and JS agree on this syntax).
  const patterns = ownedKeyPatterns("rl", Spec.parse(minimalSpec())).map((p) => new RegExp(p));
  const celRejects = (o: string) => patterns.some((p) => p.test(o));

  it("rejects the owned keys checkOverrides rejects", () => {
    for (const o of [
      "trainer.nnodes=4",
      "trainer={}",
      "+reward_model.reward_kwargs.llm_judge_kwargs.api_key=x",
      "hydra.run.dir=x",
    ])
      expect(celRejects(o), o).toBe(true);
  });

  it("accepts what checkOverrides accepts", () => {
    for (const o of [
      "trainer.max_actor_ckpt_to_keep=2",
      "actor_rollout_ref.actor.fsdp_config.param_offload=False",
      "trainer.nnodes_x=1",
    ])
      expect(celRejects(o), o).toBe(false);
  });
});

describe("src/api/owned-override-patterns.json", () => {
  it("holds the patterns the renderer derives (run `npm run crd` after changing what the renderer owns)", () => {
    expect(readFileSync(OWNED_PATTERNS_FILE, "utf8")).toBe(ownedPatternsJSON());
  });
});
