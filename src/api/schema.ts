// The CollabTrainingJob API (collabllm.io/v1alpha1): the single source of truth for spec and status. The CRD in crds/
// is generated from these schemas (src/api/crd.ts); the operator parses what it reads from the cluster with them.
import { z } from "zod";
import { baseURL } from "./base-url.ts";
import {
  dnsSubdomain,
  imageReference,
  labelMap,
  labelValue,
  positiveByteQuantity,
  positiveQuantity,
  secretKey,
  Toleration,
  withRules,
} from "./k8s.ts";
import { refineOwnedOverrides } from "./owned-overrides.ts";
import { type CrossFieldRule, celValidations, immutable, refineWith } from "./rules.ts";
import { dateTime } from "./time.ts";

export const GROUP = "collabllm.io";
export const VERSION = "v1alpha1";
export const KIND = "CollabTrainingJob";
export const PLURAL = "collabtrainingjobs";
export const API_VERSION = `${GROUP}/${VERSION}`;

/** spec.scheduling.gang: who holds the training pods of an attempt back until all of them can start. */
export const GANG_MODES = ["Auto", "Kueue", "Workload", "Disabled"] as const;
/** status.gang.mechanism: what the operator uses for the job, decided from the spec and API discovery. */
export const GANG_MECHANISMS = ["Kueue", "Workload", "None"] as const;

/** veRL versions we render for. The recipe only runs as written on 0.6.0 (docs/verl.md). */
export const VERL_VERSIONS = ["0.6.0"] as const;
/** Metric names the recipe ships in recipe/collabllm/metrics/; any other name silently scores 0 in veRL. */
export const REWARD_METRICS = ["accuracy", "interactivity", "token_amount", "bleu_score", "pass_rate"] as const;
/** Advantage estimators veRL v0.6.0 accepts (core_algos.py) that need no critic; gae would start one. */
export const ALGORITHMS = [
  "grpo",
  "grpo_passk",
  "grpo_vectorized",
  "rloo",
  "rloo_vectorized",
  "reinforce_plus_plus",
  "reinforce_plus_plus_baseline",
  "remax",
  "opo",
  "gpg",
] as const;

// A condition type: a Kubernetes qualified name (optional DNS-subdomain prefix, then a name of up to 63 characters).
const QUALIFIED_NAME =
  /^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$/;
// A Hydra override as veRL's command line takes it: optional +/++/~ prefix, a dotted key, =, a one-line value.
const HYDRA_OVERRIDE = /^(\+\+|\+|~)?[A-Za-z_][A-Za-z0-9_.@-]*(=[^\n\r]*)?$/;

const WHY_IMMUTABLE =
  "the pods already created and the checkpoints on the volume were made for the old value; create a new job instead";

const WHY_SERVED_IMMUTABLE =
  "the job's pods call the endpoints they were made with; its server's other fields (replicas, GPUs, args...) may change; create a new job to serve a role or stop serving it";

const positiveInt = () => z.int().min(1).max(2_147_483_647);
const nonNegativeInt = () => z.int().min(0).max(2_147_483_647);
/** Counters and budgets that outgrow int32 (a paper-scale run passes 2.1 billion API tokens); JavaScript's safe range. */
const int64 = () => z.int().min(0).max(Number.MAX_SAFE_INTEGER).meta({ format: "int64" });

export const SecretKeyRef = z
  .strictObject({
    name: dnsSubdomain().describe("Name of a Secret in the job's namespace."),
    key: secretKey().describe("Key inside the Secret."),
  })
  .describe("A key in a Secret of the job's namespace. The operator checks that it exists, never reads its value.");

export const RateLimit = z
  .strictObject({
    requestsPerMinute: positiveInt()
      .optional()
      .describe("Requests per minute for the whole job, wherever its calls come from."),
    tokensPerMinute: int64().min(1).optional().describe("Prompt + completion tokens per minute for the whole job."),
    maxConcurrency: positiveInt().default(64).describe("Requests in flight at once for the whole job."),
  })
  .describe(
    'Limits for this endpoint, summed over all of the job\'s pods: the operator hands them out to the gateway sidecars where the calls are (docs/gateway.md, "Job-wide limits and budget").',
  );

const pricePerMillion = () => z.number().min(0).max(1_000_000);

type PricingFields = {
  promptPerMillionTokens?: number | undefined;
  completionPerMillionTokens?: number | undefined;
  perGpuHour?: number | undefined;
};
function pricingRules(): CrossFieldRule<PricingFields>[] {
  return [
    {
      cel: "has(self.promptPerMillionTokens) == has(self.completionPerMillionTokens)",
      fieldPath: ".completionPerMillionTokens",
      message: "set both promptPerMillionTokens and completionPerMillionTokens, or neither (then perGpuHour)",
      holds: (p) => (p.promptPerMillionTokens === undefined) === (p.completionPerMillionTokens === undefined),
    },
    {
      cel: "has(self.promptPerMillionTokens) || has(self.perGpuHour)",
      fieldPath: ".promptPerMillionTokens",
      message: "pricing needs token prices (promptPerMillionTokens, completionPerMillionTokens) or perGpuHour",
      holds: (p) => p.promptPerMillionTokens !== undefined || p.perGpuHour !== undefined,
    },
  ];
}

export const Pricing = z
  .strictObject({
    promptPerMillionTokens: pricePerMillion().optional().describe("Price of a million prompt (input) tokens."),
    completionPerMillionTokens: pricePerMillion().optional().describe("Price of a million completion (output) tokens."),
    perGpuHour: z
      .number()
      .min(0)
      .max(100_000)
      .optional()
      .describe(
        "Price of one GPU for an hour, for a role the job serves itself (serve): its server's GPUs are billed while its pods hold them (bound to a node, not ended), so a served role's spend compares with a paid one's. A server shared by both roles is billed on the judge's pricing.",
      ),
  })
  .superRefine(refineWith(pricingRules()))
  .meta({ "x-kubernetes-validations": celValidations(pricingRules()) })
  .describe(
    "What the endpoint costs, in one currency for every endpoint and budget.maxCost (say USD). status.usage shows the spend at these prices; budget.maxCost stops calls when it is reached.",
  );

/** The vLLM OpenAI-compatible server a served role runs by default (its image's entrypoint is `vllm serve`). */
export const DEFAULT_SERVER_IMAGE = "vllm/vllm-openai:v0.12.0";
/** vLLM flags the operator sets itself on a server it renders, so serve.args may not. */
export const OWNED_SERVER_FLAGS = [
  "--host",
  "--port",
  "--served-model-name",
  "--tensor-parallel-size",
  "--data-parallel-size",
  "--model",
] as const;

type Serve = { gpusPerReplica: number; tensorParallelSize?: number | undefined; args?: string[] | undefined };
function serveRules(): CrossFieldRule<Serve>[] {
  return [
    {
      cel: "!has(self.tensorParallelSize) || self.gpusPerReplica % self.tensorParallelSize == 0",
      fieldPath: ".tensorParallelSize",
      message:
        "serve.tensorParallelSize must divide serve.gpusPerReplica (the GPUs of a replica are tensorParallelSize × its data-parallel ranks)",
      holds: (s) => s.tensorParallelSize === undefined || s.gpusPerReplica % s.tensorParallelSize === 0,
    },
    {
      cel: `!has(self.args) || self.args.all(a, ${OWNED_SERVER_FLAGS.map((f) => `!(a == '${f}' || a.startsWith('${f}='))`).join(" && ")})`,
      fieldPath: ".args",
      message: `serve.args may not set ${OWNED_SERVER_FLAGS.join(", ")}: the operator sets them from the other serve fields and the role's model name`,
      holds: (s) => (s.args ?? []).every((a) => OWNED_SERVER_FLAGS.every((f) => a !== f && !a.startsWith(`${f}=`))),
    },
  ];
}

/** A model server the job runs for a role, with the job: started before the training pods, stopped with them. */
function serveSchema<E extends z.ZodRawShape>(role: string, extra: E) {
  return z
    .strictObject({
      model: z
        .string()
        .min(1)
        .max(1024)
        .describe(
          `Weights the ${role}'s server loads: a Hugging Face id (Qwen/Qwen2.5-7B-Instruct), or an absolute path on the job's volume. The server answers to the ${role}'s model name (vLLM's --served-model-name).`,
        ),
      replicas: positiveInt()
        .max(64)
        .default(1)
        .describe(
          "Server replicas. The calls of a step are spread over them (docs/serving.md says how to size them from a step's calls).",
        ),
      gpusPerReplica: positiveInt().max(16).default(1).describe("GPUs of each replica (nvidia.com/gpu)."),
      gpuProduct: labelValue()
        .min(1)
        .optional()
        .describe(
          "Value of the nvidia.com/gpu.product node label the replicas are placed on; any GPU node when unset.",
        ),
      tensorParallelSize: positiveInt()
        .max(16)
        .optional()
        .describe(
          "vLLM's --tensor-parallel-size; gpusPerReplica when unset. It must divide gpusPerReplica: the rest of a replica's GPUs serve as data-parallel ranks (--data-parallel-size).",
        ),
      image: imageReference()
        .optional()
        .describe(
          `Server image whose entrypoint is \`vllm serve\` (the operator passes the model and flags as arguments): ${DEFAULT_SERVER_IMAGE} when unset. For an LLMInferenceService, KServe's configured image when unset.`,
        ),
      args: z
        .array(z.string().min(1).max(1024))
        .max(64)
        .optional()
        .describe("Extra arguments for vllm serve, e.g. [--max-model-len=16384, --gpu-memory-utilization=0.9]."),
      cpu: positiveQuantity("cpu").optional().describe("CPU request and limit of each replica."),
      memory: positiveQuantity("memory").optional().describe("Memory request and limit of each replica."),
      ...extra,
    })
    .superRefine((value, ctx) => refineWith(serveRules())(value as Serve, ctx))
    .meta({ "x-kubernetes-validations": celValidations(serveRules()) })
    .describe(
      `Serve the ${role} in the cluster: the operator runs this model server with the job (owned by it, started before the training pods, admitted under the job's Kueue queue, scaled to zero when the job is suspended or ends) and points the ${role}'s gateways at it. No API key: the role's apiKeySecretRef must be unset. docs/serving.md.`,
    );
}

/** An OpenAI-compatible chat endpoint; the user simulator and the judge differ only in their defaults. */
function llmEndpoint<E extends z.ZodRawShape>(
  role: string,
  defaults: { temperature: number; maxTokens: number; retries: number },
  extra: E,
) {
  return z
    .strictObject({
      model: z.string().min(1).max(256).describe(`Model name the ${role} endpoint serves, e.g. gpt-4o-mini.`),
      baseURL: baseURL()
        .default("https://api.openai.com/v1")
        .describe(
          "OpenAI-compatible base URL (OpenAI, Azure, Ark, or an in-cluster vLLM server), without /chat/completions: the gateway appends it.",
        ),
      apiKeySecretRef: SecretKeyRef.optional().describe(
        "Secret key holding the API key. Only the gateway sidecar (and the preflight pod's container for this endpoint) receives it. Omit for endpoints without auth.",
      ),
      temperature: z.number().min(0).max(2).default(defaults.temperature),
      maxTokens: positiveInt().default(defaults.maxTokens).describe("max_tokens when a request leaves it out."),
      retries: positiveInt()
        .max(100)
        .default(defaults.retries)
        .describe(
          `How persistently a failing call is tried: the gateway sidecar retries a 429, 5xx, timeout or connection error up to this many times after the first attempt, and veRL's recipe makes up to this many attempts (not retries) per ${role === "judge" ? "metric of each conversation" : "simulated user turn"}, so at most retries × (retries + 1) calls reach the endpoint; litellm in the trainer adds none (the gateway tells it not to). At least 1: with 0 the recipe never calls the endpoint (docs/api.md).`,
        ),
      timeoutSeconds: positiveInt().max(3600).default(120).describe("Per-attempt timeout."),
      rateLimit: RateLimit.prefault({}),
      pricing: Pricing.optional(),
      preflight: z
        .boolean()
        .default(true)
        .describe(
          `Before the job's first GPU pod, a small CPU pod checks that the ${role} endpoint answers: reachable, key accepted, model served, a one-token completion (condition EndpointsReady). While it fails, no GPU pod is requested. For a served role it runs once the server is ready.`,
        ),
      ...extra,
    })
    .superRefine(refineWith(endpointRules()))
    .meta({ "x-kubernetes-validations": celValidations(endpointRules()) })
    .describe(`The ${role}: an OpenAI-compatible endpoint reached through the gateway sidecar.`);
}

/** spec.budget.onExhausted: what the training stage does once the job's budget is spent. */
export const BUDGET_EXHAUSTED_ACTIONS = ["Release", "Wait", "Stop"] as const;

type EndpointKeys = { serve?: unknown; apiKeySecretRef?: unknown };
function endpointRules(): CrossFieldRule<EndpointKeys>[] {
  return [
    {
      cel: "!has(self.serve) || !has(self.apiKeySecretRef)",
      fieldPath: ".apiKeySecretRef",
      message: "a served role (serve) takes no API key: its server runs in the job, and only the gateways reach it",
      holds: (e) => e.serve === undefined || e.apiKeySecretRef === undefined,
    },
  ];
}

/** The containers of the job's pods, as failure-policy rules name them. */
export const POD_CONTAINERS = ["trainer", "user-simulator", "judge"] as const;

export const FAILURE_ACTIONS = ["FailJob", "Ignore", "Count"] as const;

const OnExitCodes = z
  .strictObject({
    containerName: z
      .enum(POD_CONTAINERS)
      .optional()
      .describe(
        "The container whose exit code is read; the trainer when omitted (the kubelet stops the sidecars when it ends, so their codes say nothing).",
      ),
    operator: z.enum(["In", "NotIn"]),
    values: z
      .array(z.int().min(0).max(255))
      .min(1)
      .max(255)
      .superRefine((values, ctx) => {
        if (new Set(values).size !== values.length) ctx.addIssue({ code: "custom", message: "values must be unique" });
      })
      .meta({ "x-kubernetes-list-type": "set" })
      .describe("Exit codes (0-255; a fatal signal N shows as 128+N, e.g. 137 for SIGKILL)."),
  })
  .superRefine(refineWith(exitCodeRules()))
  .meta({ "x-kubernetes-validations": celValidations(exitCodeRules()) });

const PodFailureRule = z
  .strictObject({
    action: z
      .enum(FAILURE_ACTIONS)
      .describe(
        "FailJob: fail the job at once. Ignore: restart without counting it against maxRestarts (counted against maxDisruptions). Count: restart, counted against maxRestarts.",
      ),
    onExitCodes: OnExitCodes.optional().describe("Matches a container that exited with a non-zero code."),
    onPodConditions: z
      .array(
        z.strictObject({
          type: z.string().min(1).max(316).regex(QUALIFIED_NAME, "must be a condition type such as DisruptionTarget"),
          status: z.enum(["True", "False", "Unknown"]).default("True"),
        }),
      )
      .min(1)
      .max(20)
      .optional()
      .describe("Matches a pod carrying any of these conditions, e.g. {type: DisruptionTarget}."),
  })
  .superRefine(refineWith(failureRuleRules()))
  .meta({ "x-kubernetes-validations": celValidations(failureRuleRules()) });

export const SpecFields = z.strictObject({
  model: z
    .string()
    .min(1)
    .max(1024)
    .describe("Model to train: a Hugging Face id (Qwen/Qwen2.5-7B-Instruct) or an absolute path on the job's volume."),
  dataset: z
    .strictObject({
      source: z
        .string()
        .min(1)
        .max(1024)
        .describe("Hugging Face dataset id (collabllm/collabllm-multiturn-math-hard-large) or a path on the volume."),
      taskDescription: withRules(z.string().min(1).max(4096), [
        {
          cel: "!self.contains('\\u0000')",
          message: "must not contain a NUL character (no process argument can carry one)",
          holds: (s) => !s.includes("\0"),
        },
      ]).describe(
        "What the user simulator is told the task is, e.g. 'solving math problems' (process_dataset --task_desc).",
      ),
      validationFraction: z.number().gt(0).lt(1).default(0.1).describe("Share of rows held out for validation."),
      seed: nonNegativeInt().default(42).describe("Seed of the train/validation split."),
    })
    .describe("The multi-turn dataset, prepared into parquet files on the job's volume before training."),
  runtime: z
    .strictObject({
      verl: z.enum(VERL_VERSIONS).default("0.6.0").describe("veRL version whose config is rendered."),
      image: imageReference()
        .optional()
        .describe(
          "Trainer image; defaults to the operator's configured one (its bigcodebench variant when reward.metrics has pass_rate).",
        ),
      imagePullPolicy: z.enum(["Always", "IfNotPresent", "Never"]).optional(),
    })
    .prefault({}),
  sft: z
    .strictObject({
      enabled: z
        .boolean()
        .default(false)
        .describe("Run supervised fine-tuning before RL; RL then starts from its output."),
      epochs: positiveInt().max(1000).default(3),
      batchSize: positiveInt().default(64).describe("data.train_batch_size of the SFT trainer."),
      microBatchSizePerGPU: positiveInt().default(2),
      learningRate: z.number().gt(0).lt(1).default(1e-6),
      maxLength: positiveInt().default(8196),
      overrides: z
        .array(z.string().max(1024).regex(HYDRA_OVERRIDE, "must be a Hydra override key=value"))
        .max(32)
        .optional()
        .describe("Expert escape hatch: extra Hydra overrides for the SFT trainer."),
    })
    .prefault({}),
  rl: z
    .strictObject({
      algorithm: z.enum(ALGORITHMS).default("grpo").describe("algorithm.adv_estimator."),
      epochs: positiveInt().max(100_000).default(20),
      batchSize: positiveInt().default(16).describe("Prompts per step (data.train_batch_size)."),
      miniBatchSize: positiveInt().default(8).describe("actor.ppo_mini_batch_size, in prompts."),
      learningRate: z.number().gt(0).lt(1).default(1e-6),
      maxPromptLength: positiveInt().default(8196),
      maxResponseLength: positiveInt().default(2048),
      maxTokenLengthPerGPU: positiveInt()
        .default(24000)
        .describe("actor.ppo_max_token_len_per_gpu (dynamic batching)."),
      klLossCoef: z.number().min(0).default(0.001),
      saveEvery: z
        .int()
        .min(-1)
        .max(2_147_483_647)
        .default(100)
        .describe("Checkpoint every N steps; -1 only at the end."),
      validateEvery: z.int().min(-1).max(2_147_483_647).default(10).describe("Validate every N steps; -1 never."),
      validateBeforeTrain: z.boolean().default(false),
      overrides: z
        .array(z.string().max(1024).regex(HYDRA_OVERRIDE, "must be a Hydra override key=value"))
        .max(32)
        .optional()
        .describe("Expert escape hatch: extra Hydra overrides for veRL's main_ppo."),
    })
    .prefault({}),
  rollout: z
    .strictObject({
      samplesPerPrompt: positiveInt().max(1024).default(8).describe("actor_rollout_ref.rollout.n."),
      tensorParallelSize: positiveInt().max(16).default(1),
      gpuMemoryUtilization: z.number().gt(0).max(1).default(0.7),
      temperature: z.number().min(0).max(2).default(1),
      agentWorkers: positiveInt().max(1024).default(8).describe("actor_rollout_ref.rollout.agent.num_workers."),
      multiTurn: z
        .strictObject({
          maxUserTurns: positiveInt()
            .max(100)
            .default(2)
            .describe("Simulated user turns per future conversation; at least 1 (veRL reads 0 as unlimited)."),
          maxAssistantTurns: z
            .int()
            .min(2)
            .max(100)
            .default(3)
            .describe(
              "Assistant turns, the trained one included; at least 2 (with 1 no future conversation is sampled and every reward is 0).",
            ),
          futureConversations: positiveInt()
            .max(100)
            .default(3)
            .describe("Futures sampled per response (num_repeat_rollouts)."),
        })
        .prefault({}),
      cascadeAttention: z
        .enum(["Auto", "Enabled", "Disabled"])
        .default("Auto")
        .describe(
          "vLLM cascade attention. Auto disables it unless the GPU product is Hopper (high grad norm on A100).",
        ),
    })
    .prefault({}),
  resources: z
    .strictObject({
      nodes: positiveInt().max(1024).default(1).describe("GPU pods of the training stage (one per node)."),
      gpusPerNode: positiveInt().max(16).default(8),
      gpuProduct: labelValue()
        .min(1)
        .optional()
        .describe("Value of the nvidia.com/gpu.product node label to schedule onto, e.g. NVIDIA-H100-80GB-HBM3."),
      sharedMemory: positiveByteQuantity("sharedMemory")
        .default("64Gi")
        .describe("Size of /dev/shm (a memory emptyDir)."),
      cpu: positiveQuantity("cpu").optional().describe("CPU request and limit of each GPU pod, e.g. 32 or 500m."),
      memory: positiveByteQuantity("memory")
        .optional()
        .describe("Memory request and limit of each GPU pod, e.g. 512Gi."),
    })
    .prefault({}),
  userSimulator: llmEndpoint(
    "user simulator",
    { temperature: 1, maxTokens: 512, retries: 3 },
    { serve: serveSchema("user simulator", {}).optional() },
  ),
  judge: llmEndpoint(
    "judge",
    { temperature: 0, maxTokens: 2048, retries: 6 },
    {
      serve: serveSchema("judge", {
        shareWithUserSimulator: z
          .boolean()
          .default(false)
          .describe(
            "The user simulator's calls go to this server too (one model for both roles): userSimulator.serve must then be unset, and userSimulator.model must equal judge.model.",
          ),
      }).optional(),
    },
  ),
  reward: z
    .strictObject({
      metrics: z
        .record(z.string(), z.number())
        .describe(`Metric name -> weight. Names: ${REWARD_METRICS.join(", ")}.`)
        .meta({
          minProperties: 1,
          maxProperties: REWARD_METRICS.length,
          "x-kubernetes-validations": [
            {
              rule: `self.all(k, k in ${JSON.stringify(REWARD_METRICS)})`,
              message: `metric names must be among ${REWARD_METRICS.join(", ")}`,
              reason: "FieldValueInvalid",
            },
          ],
        })
        .superRefine((metrics, ctx) => {
          const names = Object.keys(metrics);
          if (names.length === 0) ctx.addIssue({ code: "custom", message: "must name at least one metric" });
          const unknown = names.filter((k) => !(REWARD_METRICS as readonly string[]).includes(k));
          if (unknown.length > 0)
            ctx.addIssue({ code: "custom", message: `metric names must be among ${REWARD_METRICS.join(", ")}` });
        }),
      allowCodeExecution: z
        .boolean()
        .default(false)
        .describe("Required for pass_rate, which executes model-written code inside the trainer pods."),
    })
    .superRefine(refineWith(rewardRules()))
    .meta({ "x-kubernetes-validations": celValidations(rewardRules()) }),
  budget: z
    .strictObject({
      maxTokens: int64()
        .min(1)
        .optional()
        .describe(
          "Stop API calls once the user simulator and the judge together have used this many tokens (prompt + completion). A call starts only when its worst case (prompt estimate + max_tokens) fits in what is left.",
        ),
      maxCost: z
        .number()
        .gt(0)
        .max(1e12)
        .optional()
        .describe(
          "Stop API calls once the spend at the endpoints' pricing would pass this, in the pricing's currency. Needs pricing on at least one endpoint; an endpoint without pricing costs nothing.",
        ),
      onExhausted: z
        .enum(BUDGET_EXHAUSTED_ACTIONS)
        .default("Release")
        .describe(
          "What the training stage does once the budget is spent (condition BudgetExceeded); a failure the refused calls cause is never counted against failurePolicy.maxRestarts. Release (the default): the attempt's pods are deleted at once (GPUs released, nothing more spent; what was trained since the last checkpoint is lost) and the next attempt waits for spec.budget to be raised, then resumes from the latest checkpoint. Wait: the pods are kept and the gateways refuse calls until a raise (veRL 0.6.0 retries a refused call for minutes, then scores its sample 0 and trains on); a pod that fails meanwhile is let go as with Release. Stop: the job fails with reason BudgetExceeded, its message naming the latest checkpoint.",
        ),
    })
    .prefault({})
    .describe(
      'The job\'s API budget (docs/operator.md, "Budget"). Raising it lets refused calls go again, by themselves, and a job waiting for it start its next attempt.',
    ),
  storage: z
    .strictObject({
      size: positiveByteQuantity("storage.size").optional().describe("Size of the volume the operator creates."),
      storageClassName: dnsSubdomain().optional().describe("Storage class (ReadWriteMany for nodes > 1)."),
      existingClaim: dnsSubdomain().optional().describe("Use this PVC instead."),
      reclaimPolicy: z
        .enum(["Retain", "Delete"])
        .default("Retain")
        .describe("Whether the volume the operator created outlives the job (Retain) or goes with it (Delete)."),
    })
    .superRefine(refineWith(storageRules()))
    .meta({ "x-kubernetes-validations": celValidations(storageRules()) })
    .describe("The job's volume: datasets, checkpoints, logs and the exported model."),
  integrations: z
    .strictObject({
      wandb: z
        .strictObject({
          apiKeySecretRef: SecretKeyRef,
          project: z.string().min(1).max(128).optional(),
          entity: z.string().min(1).max(128).optional(),
        })
        .optional()
        .describe("Log to Weights & Biases as well as the console."),
      huggingFaceTokenSecretRef: SecretKeyRef.optional().describe("HF_TOKEN for gated models and datasets."),
    })
    .prefault({}),
  scheduling: z
    .strictObject({
      priorityClassName: dnsSubdomain()
        .optional()
        .describe(
          "PriorityClass of every pod; the scheduler, and Kueue when queueName is set, read the job's priority from it.",
        ),
      queueName: dnsSubdomain(63)
        .optional()
        .describe(
          "Kueue LocalQueue in the job's namespace (label kueue.x-k8s.io/queue-name on every pod). Kueue admits the pods of each stage through it, the training pods as one pod group per attempt; needs Kueue (docs/operator.md, Scheduling).",
        ),
      nodeSelector: labelMap(64).optional().describe("Added to every pod's nodeSelector."),
      tolerations: z
        .array(Toleration)
        .max(64)
        .optional()
        .describe("Added to every pod; the nvidia.com/gpu toleration is always added to GPU pods."),
      gang: z
        .enum(GANG_MODES)
        .default("Auto")
        .describe(
          "All-or-nothing start of the training pods of an attempt. Kueue: one Kueue pod group (needs queueName). Workload: one native PodGroup (scheduling.k8s.io/v1beta1), none binds until all can; with queueName also one Kueue pod group. Disabled: none. Auto: Kueue when queueName is set, else Workload when the cluster serves it, else none. A mechanism the cluster does not serve blocks pod creation (condition SchedulingReady=False).",
        ),
      startupTimeoutSeconds: positiveInt()
        .default(1800)
        .describe(
          "Seconds after the first pod of an attempt's stage is scheduled by which all of them must be running; otherwise the attempt ends with StartupTimeout and the failure policy decides (not counted when a pod was waiting for capacity). Pods waiting for capacity or in a queue start no clock.",
        ),
    })
    .superRefine(refineWith(schedulingRules()))
    .meta({ "x-kubernetes-validations": celValidations(schedulingRules()) })
    .prefault({}),
  failurePolicy: z
    .strictObject({
      maxRestarts: nonNegativeInt()
        .max(1000)
        .default(3)
        .describe(
          "Restarts counted against the job: failures no rule ignores. The whole stage restarts as a new attempt and resumes from the latest checkpoint; once this many are spent, the next counted failure fails the job.",
        ),
      maxDisruptions: nonNegativeInt()
        .max(10_000)
        .default(20)
        .describe(
          "Restarts not counted against maxRestarts (preemption, eviction, node loss, pods deleted by others, failures an Ignore rule matches, startup timeouts while waiting for capacity). Bounds a job that is disrupted forever.",
        ),
      backoffSeconds: nonNegativeInt()
        .max(3600)
        .default(10)
        .describe(
          "Delay before the first restart's pods are created; it doubles with every restart of the job, up to six minutes (or this value, when larger). 0 restarts at once.",
        ),
      rules: z
        .array(PodFailureRule)
        .max(20)
        .optional()
        .describe(
          "Evaluated in order on a failed pod of the running stage, before the defaults (DisruptionTarget=True and TerminationTarget=True: Ignore); the first match decides. A failure no rule matches is counted (Count). batch/v1 podFailurePolicy vocabulary.",
        ),
    })
    .prefault({}),
  suspend: z.boolean().default(false).describe("Suspended jobs keep their volume and delete their pods."),
  activeDeadlineSeconds: positiveInt()
    .optional()
    .describe(
      'Fail the job (reason DeadlineExceeded, naming the latest checkpoint) once it has run this long since status.startTime, the time its first pod was scheduled. Suspension stops the clock: resuming sets startTime anew, as batch/v1 Jobs do. The training pods\' trainers are told the deadline less a margin measured on the job as MLP_CURRENT_CAPACITY_BLOCK_EXPIRATION_TIMESTAMP, so veRL saves a checkpoint before it (docs/operator.md, "Time limits").',
    ),
  ttlSecondsAfterFinished: nonNegativeInt()
    .optional()
    .describe(
      "Delete the job this long after it finished (status.completionTime). Its children go with it, except a retained volume (storage.reclaimPolicy: Retain).",
    ),
});

export const Spec = SpecFields.superRefine(refineWith(specRules()))
  .superRefine(refineOwnedOverrides)
  .meta({ "x-kubernetes-validations": celValidations(specRules()) });

export type Spec = z.output<typeof SpecFields>;
/** What both roles' endpoints have: the judge's serve adds shareWithUserSimulator. */
export type Endpoint = Spec["userSimulator"];
/** A served role's server (spec.<role>.serve). */
export type Server = NonNullable<Endpoint["serve"]>;
export type SpecInput = z.input<typeof Spec>;

/** Rules over the whole spec; `self` is the spec. */
export function specRules(): CrossFieldRule<Spec>[] {
  return [
    {
      cel: "(self.rl.batchSize * self.rollout.samplesPerPrompt) % (self.resources.nodes * self.resources.gpusPerNode) == 0",
      fieldPath: ".rl.batchSize",
      message:
        "rl.batchSize × rollout.samplesPerPrompt must be divisible by resources.nodes × resources.gpusPerNode (veRL splits each step's samples evenly over all GPUs)",
      holds: (s) => (s.rl.batchSize * s.rollout.samplesPerPrompt) % (s.resources.nodes * s.resources.gpusPerNode) === 0,
    },
    {
      cel: "(self.rl.batchSize * self.rollout.samplesPerPrompt) % self.rollout.agentWorkers == 0",
      fieldPath: ".rollout.agentWorkers",
      message:
        "rl.batchSize × rollout.samplesPerPrompt must be divisible by rollout.agentWorkers (veRL splits the rollout batch evenly over its agent-loop workers)",
      holds: (s) => (s.rl.batchSize * s.rollout.samplesPerPrompt) % s.rollout.agentWorkers === 0,
    },
    {
      cel: "self.rl.miniBatchSize <= self.rl.batchSize",
      fieldPath: ".rl.miniBatchSize",
      message:
        "rl.miniBatchSize must not exceed rl.batchSize (veRL would not fail but silently scale the gradient down by batchSize/miniBatchSize)",
      holds: (s) => s.rl.miniBatchSize <= s.rl.batchSize,
    },
    {
      cel: "self.rl.miniBatchSize * self.rollout.samplesPerPrompt >= self.resources.nodes * self.resources.gpusPerNode",
      fieldPath: ".rl.miniBatchSize",
      message:
        "rl.miniBatchSize × rollout.samplesPerPrompt must be at least resources.nodes × resources.gpusPerNode (each GPU needs one sample per mini-batch)",
      holds: (s) => s.rl.miniBatchSize * s.rollout.samplesPerPrompt >= s.resources.nodes * s.resources.gpusPerNode,
    },
    {
      cel: "self.rl.maxPromptLength + self.rl.maxResponseLength <= self.rl.maxTokenLengthPerGPU",
      fieldPath: ".rl.maxTokenLengthPerGPU",
      message:
        "rl.maxPromptLength + rl.maxResponseLength must not exceed rl.maxTokenLengthPerGPU (veRL pads every sequence to the full length and asserts it fits)",
      holds: (s) => s.rl.maxPromptLength + s.rl.maxResponseLength <= s.rl.maxTokenLengthPerGPU,
    },
    {
      cel: "self.rollout.samplesPerPrompt == 1 || self.rollout.temperature > 0.0",
      fieldPath: ".rollout.temperature",
      message:
        "rollout.temperature must be above 0 when rollout.samplesPerPrompt > 1: greedy decoding makes a prompt's samples identical, so their group-relative advantages cancel and nothing is learned",
      holds: (s) => s.rollout.samplesPerPrompt === 1 || s.rollout.temperature > 0,
    },
    {
      cel: "self.resources.gpusPerNode % self.rollout.tensorParallelSize == 0",
      fieldPath: ".rollout.tensorParallelSize",
      message: "rollout.tensorParallelSize must divide resources.gpusPerNode (a vLLM replica may not span nodes)",
      holds: (s) => s.resources.gpusPerNode % s.rollout.tensorParallelSize === 0,
    },
    {
      cel: "!self.sft.enabled || self.sft.batchSize % self.resources.gpusPerNode == 0",
      fieldPath: ".sft.batchSize",
      message: "sft.batchSize must be divisible by resources.gpusPerNode (SFT runs data-parallel over one node's GPUs)",
      holds: (s) => !s.sft.enabled || s.sft.batchSize % s.resources.gpusPerNode === 0,
    },
    {
      cel: "!self.sft.enabled || (self.sft.batchSize / self.resources.gpusPerNode) % self.sft.microBatchSizePerGPU == 0",
      fieldPath: ".sft.microBatchSizePerGPU",
      message: "sft.batchSize / resources.gpusPerNode must be a multiple of sft.microBatchSizePerGPU",
      holds: (s) =>
        !s.sft.enabled || Math.floor(s.sft.batchSize / s.resources.gpusPerNode) % s.sft.microBatchSizePerGPU === 0,
    },
    {
      cel: "!has(self.budget.maxCost) || has(self.userSimulator.pricing) || has(self.judge.pricing)",
      fieldPath: ".budget.maxCost",
      message:
        "budget.maxCost needs pricing on the user simulator or the judge (userSimulator.pricing, judge.pricing): without prices nothing is spent",
      holds: (s) =>
        s.budget.maxCost === undefined || s.userSimulator.pricing !== undefined || s.judge.pricing !== undefined,
    },
    {
      cel: "!has(self.judge.serve) || !self.judge.serve.shareWithUserSimulator || !has(self.userSimulator.serve)",
      fieldPath: ".userSimulator.serve",
      message:
        "judge.serve.shareWithUserSimulator serves the user simulator from the judge's server: userSimulator.serve must be unset",
      holds: (s) => !s.judge.serve?.shareWithUserSimulator || s.userSimulator.serve === undefined,
    },
    {
      cel: "!has(self.judge.serve) || !self.judge.serve.shareWithUserSimulator || self.userSimulator.model == self.judge.model",
      fieldPath: ".userSimulator.model",
      message:
        "a server shared by both roles (judge.serve.shareWithUserSimulator) answers to one model name: userSimulator.model must equal judge.model",
      holds: (s) => !s.judge.serve?.shareWithUserSimulator || s.userSimulator.model === s.judge.model,
    },
    {
      cel: "!has(self.judge.serve) || !self.judge.serve.shareWithUserSimulator || !has(self.userSimulator.apiKeySecretRef)",
      fieldPath: ".userSimulator.apiKeySecretRef",
      message:
        "the user simulator is served by the judge's server (judge.serve.shareWithUserSimulator): it takes no API key",
      holds: (s) => !s.judge.serve?.shareWithUserSimulator || s.userSimulator.apiKeySecretRef === undefined,
    },
    {
      cel: "!has(self.userSimulator.pricing) || !has(self.userSimulator.pricing.perGpuHour) || has(self.userSimulator.serve)",
      fieldPath: ".userSimulator.pricing.perGpuHour",
      message:
        "userSimulator.pricing.perGpuHour prices a server the job runs for the user simulator (userSimulator.serve); a server shared with the judge is billed on judge.pricing",
      holds: (s) => s.userSimulator.pricing?.perGpuHour === undefined || s.userSimulator.serve !== undefined,
    },
    {
      cel: "!has(self.judge.pricing) || !has(self.judge.pricing.perGpuHour) || has(self.judge.serve)",
      fieldPath: ".judge.pricing.perGpuHour",
      message: "judge.pricing.perGpuHour prices a server the job runs for the judge (judge.serve)",
      holds: (s) => s.judge.pricing?.perGpuHour === undefined || s.judge.serve !== undefined,
    },
    {
      cel: "has(self.judge.serve) == has(oldSelf.judge.serve) && (!has(self.judge.serve) || self.judge.serve.shareWithUserSimulator == oldSelf.judge.serve.shareWithUserSimulator)",
      fieldPath: ".judge.serve",
      message: `whether the judge is served (judge.serve, and its shareWithUserSimulator) is immutable: ${WHY_SERVED_IMMUTABLE}`,
      holds: () => true, // needs the old object; the apiserver enforces it
    },
    {
      cel: "has(self.userSimulator.serve) == has(oldSelf.userSimulator.serve)",
      fieldPath: ".userSimulator.serve",
      message: `whether the user simulator is served (userSimulator.serve) is immutable: ${WHY_SERVED_IMMUTABLE}`,
      holds: () => true,
    },
    immutable<Spec>("model", WHY_IMMUTABLE),
    immutable<Spec>("dataset", WHY_IMMUTABLE),
    immutable<Spec>("runtime", WHY_IMMUTABLE),
    immutable<Spec>("sft", WHY_IMMUTABLE),
    immutable<Spec>("rl", WHY_IMMUTABLE),
    immutable<Spec>("rollout", WHY_IMMUTABLE),
    immutable<Spec>("resources", WHY_IMMUTABLE),
    immutable<Spec>("reward", WHY_IMMUTABLE),
    immutable<Spec>("storage", "the job's data and checkpoints live on this volume"),
  ];
}

type Scheduling = { gang: (typeof GANG_MODES)[number]; queueName?: string | undefined };
function schedulingRules(): CrossFieldRule<Scheduling>[] {
  return [
    {
      cel: "!has(self.gang) || self.gang != 'Kueue' || has(self.queueName)",
      fieldPath: ".gang",
      message: "scheduling.gang Kueue needs scheduling.queueName: the LocalQueue Kueue admits the job's pods through",
      holds: (s) => s.gang !== "Kueue" || s.queueName !== undefined,
    },
  ];
}

type Reward = { metrics: Record<string, number>; allowCodeExecution: boolean };
function rewardRules(): CrossFieldRule<Reward>[] {
  return [
    {
      cel: "!('pass_rate' in self.metrics) || self.allowCodeExecution",
      fieldPath: ".allowCodeExecution",
      message:
        "the pass_rate metric executes model-written code in the trainer pods; set reward.allowCodeExecution: true to accept that",
      holds: (r) => !("pass_rate" in r.metrics) || r.allowCodeExecution,
    },
    {
      cel: "self.metrics.exists(k, self.metrics[k] != 0.0)",
      fieldPath: ".metrics",
      message:
        "at least one metric weight must be non-zero: veRL's reward is the weighted sum, so all-zero weights score every sample 0 and nothing is learned",
      holds: (r) => Object.values(r.metrics).some((w) => w !== 0),
    },
  ];
}

type Storage = {
  size?: string | number | undefined;
  existingClaim?: string | undefined;
  storageClassName?: string | undefined;
};
function storageRules(): CrossFieldRule<Storage>[] {
  return [
    {
      cel: "has(self.size) != has(self.existingClaim)",
      fieldPath: ".size",
      message: "set exactly one of storage.size (a new volume) and storage.existingClaim (an existing PVC)",
      holds: (s) => (s.size !== undefined) !== (s.existingClaim !== undefined),
    },
    {
      cel: "!has(self.storageClassName) || has(self.size)",
      fieldPath: ".storageClassName",
      message: "storage.storageClassName applies only to a volume the operator creates (storage.size)",
      holds: (s) => s.storageClassName === undefined || s.size !== undefined,
    },
  ];
}

type ExitCodes = { operator: "In" | "NotIn"; values: number[] };
function exitCodeRules(): CrossFieldRule<ExitCodes>[] {
  return [
    {
      cel: "self.operator != 'In' || !(0 in self.values)",
      fieldPath: ".values",
      message:
        "0 cannot be used with operator In: a container that exits 0 did not fail (as in batch/v1 podFailurePolicy)",
      holds: (e) => e.operator !== "In" || !e.values.includes(0),
    },
  ];
}

type FailureRule = { onExitCodes?: unknown; onPodConditions?: unknown };
function failureRuleRules(): CrossFieldRule<FailureRule>[] {
  return [
    {
      cel: "has(self.onExitCodes) != has(self.onPodConditions)",
      fieldPath: ".onExitCodes",
      message: "set exactly one of onExitCodes and onPodConditions",
      holds: (r) => (r.onExitCodes !== undefined) !== (r.onPodConditions !== undefined),
    },
  ];
}

// ---- status ----

export const PHASES = [
  "Pending",
  "Preparing",
  "FineTuning",
  "Training",
  "Restarting",
  "Succeeded",
  "Failed",
  "Suspended",
] as const;
export type Phase = (typeof PHASES)[number];

export const Condition = z.strictObject({
  type: z.string().min(1).max(316),
  status: z.enum(["True", "False", "Unknown"]),
  observedGeneration: z.int().min(0).optional(),
  lastTransitionTime: z.string().meta({ format: "date-time" }),
  reason: z.string().min(1).max(1024),
  message: z.string().max(32768),
});
export type Condition = z.output<typeof Condition>;

const RoleCounts = z.strictObject({
  name: z.string().describe("Role: prepare, sft, head, worker."),
  desired: nonNegativeInt(),
  pending: nonNegativeInt(),
  running: nonNegativeInt(),
  succeeded: nonNegativeInt(),
  failed: nonNegativeInt(),
});

const EndpointUsage = z.strictObject({
  requests: int64(),
  promptTokens: int64(),
  completionTokens: int64(),
  rateLimited: int64().describe("Upstream 429 answers."),
  retries: int64().describe("Retries the gateways sent upstream."),
  errors: int64(),
  cacheHits: int64().optional(),
  cost: z
    .number()
    .min(0)
    .optional()
    .describe(
      "Spend on this endpoint at its pricing (now in the spec): its tokens, and for a served role its server's GPU-hours (gpuHours × pricing.perGpuHour).",
    ),
  gpuHours: z
    .number()
    .min(0)
    .optional()
    .describe(
      "For a served role: GPU-hours its server's pods have held so far (a server shared by both roles counts on the judge), as of the latest report.",
    ),
});

/** The roles a server serves, as status.serving names them (the spec's field names). */
export const SERVED_ROLES = ["judge", "userSimulator"] as const;

const ServerStatus = z.strictObject({
  name: z.string().describe("The server's Deployment and Service."),
  roles: z.array(z.enum(SERVED_ROLES)).describe("The roles it serves."),
  model: z.string().describe("The weights it serves (serve.model)."),
  replicas: nonNegativeInt().describe(
    "Replicas asked for: serve.replicas while the job runs, 0 once it is suspended or ended.",
  ),
  readyReplicas: nonNegativeInt().describe("Replicas answering (their readiness probe passes)."),
  url: z.string().optional().describe("The OpenAI-compatible base URL the roles' gateways call."),
  gpus: nonNegativeInt().describe("GPUs its pods hold now (bound to a node, not ended)."),
  gpuHours: z.number().min(0).describe("GPU-hours its pods held up to accountedAt."),
  accountedAt: dateTime().optional().describe("Since then its pods have held `gpus` GPUs."),
});

const EndpointSpend = z.strictObject({
  tokens: z.number().min(0).describe("Prompt + completion tokens."),
  cost: z.number().min(0).optional().describe("Their spend at the endpoint's pricing (only endpoints with pricing)."),
});

const StepSpend = z.strictObject({
  steps: positiveInt().describe("How many steps these figures are the mean of."),
  seconds: z
    .number()
    .min(0)
    .describe(
      "Wall-clock seconds a step took: the time between two of veRL's step lines as the gateway read them, validation and checkpoints included.",
    ),
  tokens: z.number().min(0).describe("Tokens a step used, both endpoints together."),
  cost: z.number().min(0).optional().describe("What a step cost, both endpoints together (with pricing)."),
  userSimulator: EndpointSpend,
  judge: EndpointSpend,
});

/**
 * status.pace: what a step costs and how long it takes, and where the run is heading, from the usage ledger at each
 * step line the head's gateway reports (docs/operator.md, "Cost and pace").
 */
export const Pace = z.strictObject({
  lastStep: StepSpend.extend({ step: nonNegativeInt().describe("The step these figures end at.") }).describe(
    "The latest step: from the step line before it to its own (more than one step when lines were not seen).",
  ),
  perStep: StepSpend.extend({
    longestSeconds: z.number().min(0).describe("The longest time between two step lines among these steps."),
  }).describe(
    "Means over the recent steps (`steps` of them, since the latest start of the trainer): what the forecast rests on.",
  ),
  stepsLeft: nonNegativeInt().optional().describe("totalSteps less the latest step."),
  projectedTokens: z
    .number()
    .min(0)
    .optional()
    .describe("Tokens the run will have used at its last step: used so far, and the steps left at perStep.tokens."),
  projectedCost: z
    .number()
    .min(0)
    .optional()
    .describe(
      "Spend at the last step, likewise (with pricing). Compared with spec.budget: condition BudgetSufficient.",
    ),
  estimatedCompletionTime: dateTime()
    .optional()
    .describe("When the last step should end: the latest step line's time and the steps left at perStep.seconds."),
});
export type Pace = z.output<typeof Pace>;
/** A reward metric's name as the recipe's metric file is named (recipe/collabllm/metrics/<name>.py). */
const REWARD_METRIC_NAME = /^[A-Za-z_][A-Za-z0-9_]{0,62}$/;
/** At most this many reward metrics in status.progress.rewardMetrics (veRL's CollabLLM recipe has five). */
export const MAX_REWARD_METRICS = 16;
const RewardMetric = z.strictObject({
  training: z
    .number()
    .optional()
    .describe("Its mean over the samples of the latest training step whose reward was computed."),
  validation: z.number().optional().describe("Its mean over the samples of the latest validation."),
});

/**
 * status.progress, and the progress a gateway reports (contract/report.ts): one shape from the log to the resource.
 * Every field is what veRL printed, under the key named here, or is computed from those (stepOfTotal, the ETA).
 */
export const Progress = z.strictObject({
  step: nonNegativeInt().optional().describe("The latest training step logged (veRL's step:N)."),
  totalSteps: nonNegativeInt().optional().describe("From veRL's 'Total training steps: N'."),
  stepOfTotal: z.string().max(32).optional().describe("step/totalSteps, for kubectl get."),
  epoch: nonNegativeInt().optional().describe("training/epoch, 0-based as veRL logs it."),
  reward: z
    .number()
    .optional()
    .describe(
      "critic/score/mean of the latest step: CollabLLM's multiturn-aware reward, the weighted sum of the metrics.",
    ),
  rewardMin: z.number().optional().describe("critic/score/min of the latest step."),
  rewardMax: z.number().optional().describe("critic/score/max of the latest step."),
  validationReward: z.number().optional().describe("The latest val-core/<data source>/reward/mean@N."),
  rewardMetrics: z
    .record(z.string().regex(REWARD_METRIC_NAME), RewardMetric)
    .refine((m) => Object.keys(m).length <= MAX_REWARD_METRICS, `at most ${MAX_REWARD_METRICS} metrics`)
    .optional()
    .meta({ maxProperties: MAX_REWARD_METRICS })
    .describe(
      "The reward's components by metric name (spec.reward.metrics: accuracy, interactivity, token_amount, bleu_score, pass_rate), as veRL's CollabLLM reward manager prints them per sample ('Scores: ... {metric: value}'): each metric's weight times its mean over the sample's future conversations, clamped to [-1, 1], so they add up to the sample's reward. training is their mean over the latest step's samples, validation over the latest validation's.",
    ),
  stepSeconds: z.number().optional().describe("timing_s/step of the latest step."),
  throughput: z.number().optional().describe("perf/throughput of the latest step: tokens per second per GPU."),
  checkpointStep: nonNegativeInt()
    .optional()
    .describe(
      "The latest step whose checkpoint veRL completed: its 'local_global_step_folder: .../global_step_N' line, then step N's own line (veRL prints it once the save, tracker file included, is done).",
    ),
  checkpointSeconds: z
    .number()
    .optional()
    .describe("timing_s/save_checkpoint of that checkpoint: how long veRL took to save it."),
  lastUpdateTime: dateTime().optional().describe("When the gateway read the latest step line."),
});
export type Progress = z.output<typeof Progress>;

export const Status = z.strictObject({
  phase: z.enum(PHASES).optional(),
  observedGeneration: z.int().min(0).optional(),
  conditions: z
    .array(Condition)
    .optional()
    .meta({ "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["type"] }),
  stage: z.string().optional().describe("Current stage: Preparing, FineTuning or Training."),
  startTime: z.string().meta({ format: "date-time" }).optional(),
  completionTime: z.string().meta({ format: "date-time" }).optional(),
  restarts: nonNegativeInt().optional().describe("Restarts counted against failurePolicy.maxRestarts."),
  disruptions: nonNegativeInt()
    .optional()
    .describe("Restarts not counted against maxRestarts (disruptions), bounded by failurePolicy.maxDisruptions."),
  attempt: nonNegativeInt()
    .optional()
    .describe("Current attempt: moves on every restart and every resume; pod names carry it (<job>-a<attempt>-...)."),
  lastRestart: z
    .strictObject({
      attempt: nonNegativeInt().describe("The attempt that ended."),
      reason: z
        .string()
        .describe(
          "PodFailed, PodDeleted, PodLost, StartupTimeout, StoppedShort (the training head's trainer exited 0 short of the total steps veRL announced), or BudgetExceeded (the pods let go while the job waits for a raise of spec.budget).",
        ),
      message: z.string().max(32768),
      counted: z.boolean().describe("Whether it counted against failurePolicy.maxRestarts."),
      pod: z.string().optional(),
      container: z.string().optional(),
      exitCode: z.int().optional(),
      step: nonNegativeInt().optional().describe("StoppedShort: the step the trainer had reached."),
      time: z.string().meta({ format: "date-time" }),
      backoffSeconds: nonNegativeInt()
        .optional()
        .describe(
          "How long after time the next attempt's pods are created (0 after a Kueue eviction: Kueue queues them).",
        ),
    })
    .optional()
    .describe("Why the last restart happened."),
  gang: z
    .strictObject({
      mechanism: z
        .enum(GANG_MECHANISMS)
        .describe(
          "What holds the training pods back until all can start: Kueue (a pod group), Workload (a native PodGroup, with a Kueue pod group too when queueName is set) or None.",
        ),
      podGroup: z
        .string()
        .optional()
        .describe(
          "The current attempt's group while its stage has several pods: the Kueue pod group (kueue.x-k8s.io/pod-group-name, the name of Kueue's Workload) and the native PodGroup.",
        ),
      minCount: nonNegativeInt().optional().describe("Pods of the group that must all be placed for any to start."),
    })
    .optional()
    .describe("Gang scheduling as decided from spec.scheduling and what the cluster serves."),
  roles: z
    .array(RoleCounts)
    .optional()
    .meta({ "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["name"] }),
  progress: Progress.optional().describe(
    "Training progress as veRL logs it on the head pod's driver: the gateway that follows the log reports it in this shape, and the report endpoint writes it as it came.",
  ),
  pace: Pace.optional().describe(
    "Cost and time per step and the forecast of the run's spend and end, written by the report endpoint with progress and usage.",
  ),
  usage: z
    .strictObject({
      userSimulator: EndpointUsage.optional(),
      judge: EndpointUsage.optional(),
      totalTokens: int64().optional(),
      totalCost: z
        .number()
        .min(0)
        .optional()
        .describe("Spend on every endpoint (tokens and served GPU-hours), when any has pricing."),
    })
    .optional(),
  serving: z
    .array(ServerStatus)
    .optional()
    .meta({ "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["name"] })
    .describe("The model servers the job runs for its served roles (spec.judge.serve, spec.userSimulator.serve)."),
  outputs: z
    .strictObject({
      checkpointDir: z.string().optional().describe("Where veRL writes checkpoints on the job's volume."),
      modelDir: z.string().optional().describe("The trained model in Hugging Face format on the job's volume."),
      lastCheckpointStep: nonNegativeInt()
        .optional()
        .describe(
          "The step of the latest checkpoint veRL completed (status.progress.checkpointStep): where a restart, or a new job on this volume, resumes from.",
        ),
      lastCheckpoint: z.string().optional().describe("That checkpoint's directory on the job's volume."),
      volumeClaim: z.string().optional(),
    })
    .optional(),
  message: z.string().max(32768).optional(),
  waiting: z
    .string()
    .max(256)
    .optional()
    .describe(
      "What holds a job that has not ended, in a word or two, for kubectl get: Blocked: <reason> (it waits for a human: Stalled's reason), Restart: PodsTerminating or Restart: Backoff (the next attempt waits), Budget: <BudgetExceeded's reason> (it waits for a raise of spec.budget), Queued: <Kueue's reason>, Capacity: <WaitingForCapacity's reason>, or Preflight (the endpoint preflight holds its GPU pods back). Absent while it progresses, is suspended or has ended.",
    ),
});
export type Status = z.output<typeof Status>;

// Child names are <job>-<stage>-<attempt>-<rank>; the headless Service needs a DNS-1035 label.
export const MAX_JOB_NAME_LENGTH = 42;
const DNS_1035 = /^[a-z]([-a-z0-9]*[a-z0-9])?$/;

export const Metadata = z.looseObject({
  name: z
    .string()
    .max(
      MAX_JOB_NAME_LENGTH,
      `must be at most ${MAX_JOB_NAME_LENGTH} characters (names of the job's pods and Service derive from it)`,
    )
    .regex(DNS_1035, "must start with a letter and contain only lowercase letters, digits and '-'")
    .optional(),
  namespace: z.string().optional(),
});

/**
 * The job as a user writes it: every object below is strict, so a misspelt field is an error naming it (validateJob
 * adds the apiserver's strictness at the top and in metadata). The operator reads stored jobs leniently instead
 * (stored.ts: parseStoredJob).
 */
export const StrictCollabTrainingJob = z.looseObject({
  apiVersion: z.literal(API_VERSION),
  kind: z.literal(KIND),
  metadata: Metadata,
  spec: Spec,
  status: Status.optional(),
});
export type CollabTrainingJob = z.output<typeof StrictCollabTrainingJob>;
