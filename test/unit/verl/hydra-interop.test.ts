// veRL's own Hydra config accepts what we render: hydra-core composes veRL v0.6.0's ppo_trainer and sft_trainer (from
// the verl==0.6.0 wheel) in strict mode with the rendered overrides of every example, every extra spec and a few
// hundred generated specs, and the composed values are the ones the spec meant. The interaction and agent loop
// configs load with OmegaConf the way veRL loads them. One Python process does all of it.
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Spec } from "../../../src/api/schema.ts";
import { rlArgs, sftArgs } from "../../../src/verl/args.ts";
import { disableCascadeAttention } from "../../../src/verl/cascade.ts";
import { JUDGE_URL, PATHS, USER_SIMULATOR_URL } from "../../../src/verl/layout.ts";
import type { RenderContext } from "../../../src/verl/runtime.ts";
import { agentConfig, interactionConfig } from "../../../src/verl/v0_6_0/configs.ts";
import { cases } from "./cases.ts";
import { generatedSpecs } from "./generated-specs.ts";

const ROOT = join(import.meta.dirname, "../../..");
const PYTHON = join(ROOT, ".venv/bin/python");
const SCRIPT = join(ROOT, "test/interop/verl_compose.py");
const GENERATED = 300;

/** What the spec means for main_ppo's config, written without the renderer's formatting. */
function expectedRl(spec: Spec, ctx: RenderContext): Record<string, unknown> {
  const { rl, rollout, resources, judge } = spec;
  return {
    "actor_rollout_ref.model.path": spec.sft.enabled ? PATHS.sftModel : spec.model,
    "trainer.experiment_name": ctx.jobName,
    "trainer.project_name": spec.integrations.wandb?.project ?? "verlxcollabllm",
    "trainer.logger": spec.integrations.wandb ? ["console", "wandb"] : ["console"],
    "reward_model.reward_manager": "collabllm",
    "reward_model.reward_kwargs": {
      metric_weights: spec.reward.metrics,
      llm_judge_kwargs: {
        model: `openai/${judge.model}`,
        max_tokens: judge.maxTokens,
        temperature: judge.temperature,
        api_base: JUDGE_URL,
        num_retries: judge.retries,
      },
    },
    "data.train_files": PATHS.rlTrain,
    "data.val_files": PATHS.rlValidation,
    "data.train_batch_size": rl.batchSize,
    "data.max_prompt_length": rl.maxPromptLength,
    "data.max_response_length": rl.maxResponseLength,
    "algorithm.adv_estimator": rl.algorithm,
    "actor_rollout_ref.actor.optim.lr": rl.learningRate,
    "actor_rollout_ref.actor.ppo_mini_batch_size": rl.miniBatchSize,
    "actor_rollout_ref.actor.ppo_max_token_len_per_gpu": rl.maxTokenLengthPerGPU,
    "actor_rollout_ref.actor.kl_loss_coef": rl.klLossCoef,
    "actor_rollout_ref.rollout.name": "vllm",
    "actor_rollout_ref.rollout.mode": "async",
    "actor_rollout_ref.rollout.n": rollout.samplesPerPrompt,
    "actor_rollout_ref.rollout.temperature": rollout.temperature,
    "actor_rollout_ref.rollout.gpu_memory_utilization": rollout.gpuMemoryUtilization,
    "actor_rollout_ref.rollout.tensor_model_parallel_size": rollout.tensorParallelSize,
    "actor_rollout_ref.rollout.multi_turn.enable": true,
    "actor_rollout_ref.rollout.multi_turn.max_user_turns": rollout.multiTurn.maxUserTurns,
    "actor_rollout_ref.rollout.multi_turn.max_assistant_turns": rollout.multiTurn.maxAssistantTurns,
    "actor_rollout_ref.rollout.multi_turn.num_repeat_rollouts": rollout.multiTurn.futureConversations,
    "actor_rollout_ref.rollout.multi_turn.interaction_config_path": "/etc/collab/collabllm_interaction_config.yaml",
    "actor_rollout_ref.rollout.agent.agent_loop_config_path": "/etc/collab/agent.yaml",
    "actor_rollout_ref.rollout.agent.num_workers": rollout.agentWorkers,
    "actor_rollout_ref.rollout.engine_kwargs.vllm.disable_cascade_attn": disableCascadeAttention(spec) ? true : null,
    "trainer.nnodes": resources.nodes,
    "trainer.n_gpus_per_node": resources.gpusPerNode,
    "trainer.total_epochs": rl.epochs,
    "trainer.save_freq": rl.saveEvery === -1 ? 2_147_483_647 : rl.saveEvery,
    "trainer.test_freq": rl.validateEvery,
    "trainer.val_before_train": rl.validateBeforeTrain,
    "trainer.resume_mode": "auto",
    "trainer.resume_from_path": null,
    "trainer.default_local_dir": PATHS.rlCheckpoints,
    "trainer.rollout_data_dir": PATHS.rollouts,
    "custom_reward_function.path": "/opt/verl/recipe/collabllm/reward_function.py",
    "custom_reward_function.name": "conversation_level_reward_func",
  };
}

function expectedSft(spec: Spec, ctx: RenderContext): Record<string, unknown> {
  const { sft } = spec;
  return {
    "model.partial_pretrain": spec.model,
    "optim.lr": sft.learningRate,
    "data.train_batch_size": sft.batchSize,
    "data.micro_batch_size_per_gpu": sft.microBatchSizePerGPU,
    "data.max_length": sft.maxLength,
    "data.train_files": PATHS.sftTrain,
    "data.val_files": PATHS.sftValidation,
    "data.multiturn.enable": true,
    "data.multiturn.messages_key": "prompt",
    "trainer.total_epochs": sft.epochs,
    "trainer.experiment_name": `${ctx.jobName}-sft`,
    "trainer.project_name": spec.integrations.wandb?.project ?? "verlxcollabllm",
    "trainer.logger": spec.integrations.wandb ? ["console", "wandb"] : ["console"],
    "trainer.default_local_dir": PATHS.sftCheckpoints,
    "trainer.resume_mode": "auto",
    "trainer.checkpoint.save_contents": ["model", "optimizer", "extra", "hf_model"],
    "trainer.checkpoint.load_contents": ["model", "optimizer", "extra", "hf_model"],
    "trainer.n_gpus_per_node": spec.resources.gpusPerNode,
  };
}

function expectedInteraction(spec: Spec) {
  const sim = spec.userSimulator;
  return {
    interaction: [
      {
        name: "collabllm",
        class_name: "recipe.collabllm.collabllm_interation.CollabLLMInteraction",
        config: {
          user_model: `openai/${sim.model}`,
          api_base: USER_SIMULATOR_URL,
          num_retries: sim.retries,
          max_tokens: sim.maxTokens,
          temperature: sim.temperature,
          enable_log: true,
        },
      },
    ],
  };
}

interface Subject {
  id: string;
  spec: Spec;
  ctx: RenderContext;
}

interface Result {
  compose: { id: string; error?: string; values?: Record<string, unknown> }[];
  files: { id: string; error?: string; value?: unknown }[];
}

const subjects: Subject[] = [
  ...cases().map((c) => ({ id: c.name, spec: c.job.spec, ctx: c.ctx })),
  ...generatedSpecs(GENERATED).map((g, i) => ({ id: `generated.${i}`, spec: g.spec, ctx: { jobName: g.name } })),
];

let result: Result;
let dir: string;

beforeAll(() => {
  if (!existsSync(PYTHON)) {
    throw new Error(
      `${PYTHON} is missing: run \`bash test/interop/setup-venv.sh\` first (it installs hydra-core and verl==0.6.0)`,
    );
  }
  const request = {
    compose: subjects.flatMap((s) => [
      {
        id: `${s.id}/rl`,
        config: "ppo_trainer",
        overrides: rlArgs(s.spec, s.ctx),
        select: Object.keys(expectedRl(s.spec, s.ctx)),
      },
      {
        id: `${s.id}/sft`,
        config: "sft_trainer",
        overrides: sftArgs(s.spec, s.ctx),
        select: Object.keys(expectedSft(s.spec, s.ctx)),
      },
    ]),
    files: subjects.flatMap((s) => [
      { id: `${s.id}/interaction`, text: interactionConfig(s.spec) },
      { id: `${s.id}/agent`, text: agentConfig() },
    ]),
  };
  dir = mkdtempSync(join(tmpdir(), "verl-interop-"));
  writeFileSync(join(dir, "request.json"), JSON.stringify(request));
  const run = spawnSync(PYTHON, [SCRIPT, join(dir, "request.json")], { encoding: "utf8", maxBuffer: 1 << 28 });
  if (run.status !== 0) {
    throw new Error(
      `verl_compose.py failed (is .venv current? run \`bash test/interop/setup-venv.sh\`):\n${run.stderr}`,
    );
  }
  result = JSON.parse(run.stdout) as Result;
}, 240_000);

afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe(`Hydra composes veRL 0.6.0's config with the rendered overrides (${subjects.length} specs)`, () => {
  const byId = <T extends { id: string }>(xs: T[], id: string) => xs.find((x) => x.id === id);

  /** Every subject's composition of one stage, compared key by key with what its spec meant. */
  function compositionFailures(stage: "rl" | "sft", expected: typeof expectedRl): string[] {
    return subjects.flatMap((s) => {
      const r = byId(result.compose, `${s.id}/${stage}`)!;
      if (r.error) return [`${s.id}: ${r.error}`];
      const want = expected(s.spec, s.ctx);
      return Object.keys(want).flatMap((k) =>
        JSON.stringify(r.values?.[k]) === JSON.stringify(want[k])
          ? []
          : [`${s.id}: ${k} = ${JSON.stringify(r.values?.[k])}, want ${JSON.stringify(want[k])}`],
      );
    });
  }

  it("ppo_trainer: every spec composes in strict mode to the values it meant", () => {
    expect(compositionFailures("rl", expectedRl)).toEqual([]);
  });

  it("sft_trainer: every spec composes in strict mode to the values it meant", () => {
    expect(compositionFailures("sft", expectedSft)).toEqual([]);
  });

  it("the interaction config loads with OmegaConf, names the recipe's class and holds no key", () => {
    const failures = subjects.flatMap((s) => {
      const r = byId(result.files, `${s.id}/interaction`)!;
      if (r.error) return [`${s.id}: ${r.error}`];
      return JSON.stringify(r.value) === JSON.stringify(expectedInteraction(s.spec))
        ? []
        : [`${s.id}: ${JSON.stringify(r.value)}`];
    });
    expect(failures).toEqual([]);
  });

  it("agent.yaml loads with OmegaConf and registers the recipe's agent loop", () => {
    const r = byId(result.files, `${subjects[0]!.id}/agent`)!;
    expect(r.value).toEqual([
      { name: "collabllm_agent", _target_: "recipe.collabllm.collabllm_agent_loop.CollabLLMAgentLoop" },
    ]);
  });

  it("Hydra rejects what veRL would reject (the check is real)", () => {
    const probe = spawnSync(PYTHON, [SCRIPT, writeProbe()], { encoding: "utf8" });
    const out = JSON.parse(probe.stdout) as Result;
    expect(out.compose.map((c) => Boolean(c.error))).toEqual([true, true, false]);
  });
});

/** Overrides Hydra must refuse in strict mode (an unknown key; + on an existing key) and one it must accept. */
function writeProbe(): string {
  const file = join(dir, "probe.json");
  const compose = ["trainer.no_such_key=1", "+trainer.nnodes=2", "trainer.nnodes=2"].map((o, i) => ({
    id: `probe.${i}`,
    config: "ppo_trainer",
    overrides: [o],
    select: [],
  }));
  writeFileSync(file, JSON.stringify({ compose, files: [] }));
  return file;
}
