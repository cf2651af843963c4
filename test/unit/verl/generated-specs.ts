// Valid specs as new users might write them, from a seeded generator: every knob the renderer reads, with odd strings
// where the spec allows free text (quotes, backslashes, ${...}, spaces, unicode), and recipe-key overrides.
import fc from "fast-check";
import { ALGORITHMS, REWARD_METRICS, Spec, type SpecInput } from "../../../src/api/schema.ts";

const ODD_CHARS = [..."abcXYZ019 '\"\\{}:/-._=,[]#!*~@%()é中\t$"];
const oddChars = (maxLength: number) => fc.string({ unit: fc.constantFrom(...ODD_CHARS), minLength: 1, maxLength });
/** Free text, sometimes around an OmegaConf/Hydra interpolation that must stay literal. */
const odd = (maxLength: number) =>
  fc.oneof(
    { weight: 4, arbitrary: oddChars(maxLength) },
    { weight: 1, arbitrary: oddChars(8).map((s) => `${s}$\{oc.env:HOME}\\${s}`) },
  );
const hfId = fc.constantFrom("Qwen/Qwen2.5-7B-Instruct", "meta-llama/Llama-3.1-8B-Instruct", "01-ai/Yi-1.5-9B-Chat");
const modelName = fc.oneof(fc.constantFrom("gpt-4o-mini", "claude-3-5-sonnet-latest", "my-model:latest"), odd(40));
// Non-zero: the API refuses a reward whose weights are all 0 (it learns nothing).
const weight = fc.double({ min: -10, max: 10, noNaN: true, noDefaultInfinity: true }).filter((w) => w !== 0);

const RL_OVERRIDES = [
  "actor_rollout_ref.actor.fsdp_config.param_offload=False",
  "actor_rollout_ref.rollout.calculate_log_probs=True",
  "trainer.max_actor_ckpt_to_keep=3",
  "+actor_rollout_ref.rollout.engine_kwargs.vllm.enforce_eager=True",
  "data.filter_overlong_prompts=False",
  "trainer.log_val_generations=10",
  "actor_rollout_ref.actor.entropy_coeff=0.001",
  "+ray_kwargs.ray_init.runtime_env.env_vars.NCCL_DEBUG=INFO",
  "ray_kwargs.ray_init.num_cpus=64",
];
const SFT_OVERRIDES = [
  "optim.warmup_steps_ratio=0.05",
  "model.enable_gradient_checkpointing=False",
  "trainer.max_ckpt_to_keep=1",
  "model.lora_rank=32",
];
const GPU_PRODUCTS = [
  "NVIDIA-H100-80GB-HBM3",
  "NVIDIA-H200",
  "NVIDIA-A100-SXM4-80GB",
  "NVIDIA-L40S",
  "NVIDIA-GH200-480GB",
];

function divisors(n: number): number[] {
  return Array.from({ length: n }, (_, i) => i + 1).filter((d) => n % d === 0);
}
const gcd = (a: number, b: number): number => (b === 0 ? a : gcd(b, a % b));

/** Picks from a list with an unbounded random integer. */
const pick = <T>(xs: readonly T[], r: number): T => xs[r % xs.length]!;

const knobs = fc.record({
  nodes: fc.integer({ min: 1, max: 4 }),
  gpus: fc.constantFrom(1, 2, 4, 8),
  samples: fc.integer({ min: 1, max: 16 }),
  k: fc.integer({ min: 1, max: 4 }),
  r: fc.array(fc.nat(), { minLength: 6, maxLength: 6 }),
  prompt: fc.integer({ min: 16, max: 8196 }),
  response: fc.integer({ min: 16, max: 4096 }),
  slack: fc.integer({ min: 0, max: 8000 }),
});

const spec: fc.Arbitrary<SpecInput> = fc
  .record({
    knobs,
    model: fc.oneof(
      hfId,
      odd(60),
      odd(30).map((s) => `/collab/models/${s}`),
    ),
    source: fc.oneof(fc.constant("collabllm/collabllm-multiturn-math-hard"), odd(40)),
    task: odd(80),
    fraction: fc.double({ min: 0.01, max: 0.5, noNaN: true }),
    sft: fc.option(
      fc.record({
        epochs: fc.integer({ min: 1, max: 5 }),
        micro: fc.integer({ min: 1, max: 4 }),
        m: fc.integer({ min: 1, max: 4 }),
        lr: fc.double({ min: 1e-9, max: 1e-3, noNaN: true }),
        overrides: fc.subarray(SFT_OVERRIDES),
      }),
      { nil: undefined },
    ),
    algorithm: fc.constantFrom(...ALGORITHMS),
    lr: fc.double({ min: 1e-9, max: 1e-3, noNaN: true }),
    klLossCoef: fc.double({ min: 0, max: 1, noNaN: true }),
    saveEvery: fc.oneof(fc.constant(-1), fc.integer({ min: 1, max: 1000 })),
    validateEvery: fc.oneof(fc.constant(-1), fc.integer({ min: 1, max: 1000 })),
    validateBeforeTrain: fc.boolean(),
    epochs: fc.integer({ min: 1, max: 50 }),
    rolloutTemperature: fc.double({ min: 0.01, max: 2, noNaN: true }),
    gpuMemoryUtilization: fc.double({ min: 0.1, max: 1, noNaN: true }),
    turns: fc.record({
      u: fc.integer({ min: 1, max: 5 }),
      a: fc.integer({ min: 2, max: 6 }),
      f: fc.integer({ min: 1, max: 5 }),
    }),
    cascade: fc.constantFrom("Auto", "Enabled", "Disabled") as fc.Arbitrary<"Auto" | "Enabled" | "Disabled">,
    // A node label value, as the apiserver requires of the nodeSelector it ends up in.
    gpuProduct: fc.option(
      fc.oneof(fc.constantFrom(...GPU_PRODUCTS), fc.stringMatching(/^[A-Za-z0-9]([-A-Za-z0-9_.]{0,18}[A-Za-z0-9])?$/)),
      { nil: undefined },
    ),
    sim: fc.record({
      model: modelName,
      temperature: fc.double({ min: 0, max: 2, noNaN: true }),
      maxTokens: fc.integer({ min: 1, max: 8192 }),
      retries: fc.integer({ min: 1, max: 10 }),
    }),
    judge: fc.record({
      model: modelName,
      temperature: fc.double({ min: 0, max: 2, noNaN: true }),
      maxTokens: fc.integer({ min: 1, max: 8192 }),
      retries: fc.integer({ min: 1, max: 10 }),
    }),
    metrics: fc
      .subarray([...REWARD_METRICS], { minLength: 1 })
      .chain((names) =>
        fc.tuple(...names.map((n) => weight.map((w) => [n, w] as const))).map((pairs) => Object.fromEntries(pairs)),
      ),
    wandb: fc.option(
      fc.record({ project: fc.option(odd(30), { nil: undefined }), entity: fc.option(odd(20), { nil: undefined }) }),
      { nil: undefined },
    ),
    rlOverrides: fc.subarray(RL_OVERRIDES),
  })
  .map((g): SpecInput => {
    const { nodes, gpus, samples, k, r, prompt, response, slack } = g.knobs;
    const total = nodes * gpus;
    const batchSize = (k * total) / gcd(total, samples);
    const minMini = Math.ceil(total / samples);
    const miniBatchSize = minMini + (r[0]! % (batchSize - minMini + 1));
    return {
      model: g.model,
      dataset: { source: g.source, taskDescription: g.task, validationFraction: g.fraction, seed: r[1]! % 1000 },
      ...(g.sft
        ? {
            sft: {
              enabled: true,
              epochs: g.sft.epochs,
              microBatchSizePerGPU: g.sft.micro,
              batchSize: gpus * g.sft.micro * g.sft.m,
              learningRate: g.sft.lr,
              maxLength: prompt + response,
              overrides: g.sft.overrides,
            },
          }
        : {}),
      rl: {
        algorithm: g.algorithm as SpecInput["rl"] extends infer R
          ? R extends { algorithm?: infer A }
            ? A
            : never
          : never,
        epochs: g.epochs,
        batchSize,
        miniBatchSize,
        learningRate: g.lr,
        maxPromptLength: prompt,
        maxResponseLength: response,
        maxTokenLengthPerGPU: prompt + response + slack,
        klLossCoef: g.klLossCoef,
        saveEvery: g.saveEvery,
        validateEvery: g.validateEvery,
        validateBeforeTrain: g.validateBeforeTrain,
        overrides: g.rlOverrides,
      },
      rollout: {
        samplesPerPrompt: samples,
        tensorParallelSize: pick(divisors(gpus), r[2]!),
        gpuMemoryUtilization: g.gpuMemoryUtilization,
        temperature: g.rolloutTemperature,
        agentWorkers: pick(
          divisors(batchSize * samples).filter((d) => d <= 1024),
          r[3]!,
        ),
        multiTurn: { maxUserTurns: g.turns.u, maxAssistantTurns: g.turns.a, futureConversations: g.turns.f },
        cascadeAttention: g.cascade,
      },
      resources: { nodes, gpusPerNode: gpus, ...(g.gpuProduct ? { gpuProduct: g.gpuProduct } : {}) },
      userSimulator: g.sim,
      judge: g.judge,
      reward: { metrics: g.metrics, allowCodeExecution: "pass_rate" in g.metrics },
      storage: { size: "1Ti" },
      ...(g.wandb ? { integrations: { wandb: { apiKeySecretRef: { name: "wandb", key: "key" }, ...g.wandb } } } : {}),
    };
  });

const jobName = fc.stringMatching(/^[a-z][a-z0-9-]{0,30}[a-z0-9]$/);

/** `count` valid specs (parsed, defaults applied) with job names; the same ones on every run. */
export function generatedSpecs(count: number, seed = 20251015): { name: string; spec: Spec }[] {
  return fc.sample(fc.tuple(jobName, spec), { numRuns: count, seed }).map(([name, input]) => {
    const parsed = Spec.safeParse(input);
    if (!parsed.success) throw new Error(`generator made an invalid spec: ${JSON.stringify(parsed.error.issues)}`);
    return { name, spec: parsed.data };
  });
}
