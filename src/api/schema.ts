// The CollabTrainingJob API (collabllm.io/v1alpha1): the single source of truth for spec and status. The CRD in crds/
// is generated from these schemas (src/api/crd.ts); the operator parses what it reads from the cluster with them.
import { z } from "zod";
import { refineOwnedOverrides } from "./owned-overrides.ts";
import { type CrossFieldRule, celValidations, immutable, refineWith } from "./rules.ts";

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

// Kubernetes resource.Quantity, unsigned (a size or amount of memory is never negative).
const QUANTITY =
  /^(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))(([KMGTPE]i)|[numkMGTPE]|([eE](\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))))?$/;
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const SECRET_KEY = /^[-._a-zA-Z0-9]+$/;
// A condition type: a Kubernetes qualified name (optional DNS-subdomain prefix, then a name of up to 63 characters).
const QUALIFIED_NAME =
  /^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$/;
const HTTP_URL = /^https?:\/\/[^\s/?#]+([/?#]\S*)?$/;
// A Hydra override as veRL's command line takes it: optional +/++/~ prefix, a dotted key, =, a one-line value.
const HYDRA_OVERRIDE = /^(\+\+|\+|~)?[A-Za-z_][A-Za-z0-9_.@-]*(=[^\n\r]*)?$/;

const WHY_IMMUTABLE =
  "the pods already created and the checkpoints on the volume were made for the old value; create a new job instead";

const quantity = (what: string) => z.string().regex(QUANTITY, `must be a Kubernetes quantity such as 64Gi (${what})`);
const positiveInt = () => z.int().min(1).max(2_147_483_647);
const nonNegativeInt = () => z.int().min(0).max(2_147_483_647);

export const SecretKeyRef = z
  .strictObject({
    name: z.string().min(1).max(253).regex(DNS_SUBDOMAIN).describe("Name of a Secret in the job's namespace."),
    key: z.string().min(1).max(253).regex(SECRET_KEY).describe("Key inside the Secret."),
  })
  .describe("A key in a Secret of the job's namespace. The operator checks that it exists, never reads its value.");

export const RateLimit = z
  .strictObject({
    requestsPerMinute: positiveInt().optional().describe("Requests per minute for the whole job (split across pods)."),
    tokensPerMinute: positiveInt().optional().describe("Prompt + completion tokens per minute for the whole job."),
    maxConcurrency: positiveInt().default(64).describe("Requests in flight at once for the whole job."),
  })
  .describe("Limits the gateway sidecars apply to this endpoint, summed over all of the job's pods.");

/** An OpenAI-compatible chat endpoint; the user simulator and the judge differ only in their defaults. */
function llmEndpoint(role: string, defaults: { temperature: number; maxTokens: number; retries: number }) {
  return z
    .strictObject({
      model: z.string().min(1).max(256).describe(`Model name the ${role} endpoint serves, e.g. gpt-4o-mini.`),
      baseURL: z
        .string()
        .max(2048)
        .regex(HTTP_URL, "must be an http(s) URL")
        .default("https://api.openai.com/v1")
        .describe("OpenAI-compatible base URL (OpenAI, Azure, Ark, or an in-cluster vLLM server)."),
      apiKeySecretRef: SecretKeyRef.optional().describe(
        "Secret key holding the API key. Only the gateway sidecar receives it. Omit for endpoints without auth.",
      ),
      temperature: z.number().min(0).max(2).default(defaults.temperature),
      maxTokens: positiveInt().default(defaults.maxTokens).describe("max_tokens when a request leaves it out."),
      retries: nonNegativeInt().max(100).default(defaults.retries).describe("Retries of 429, 5xx and timeouts."),
      timeoutSeconds: positiveInt().max(3600).default(120).describe("Per-attempt timeout."),
      rateLimit: RateLimit.prefault({}),
    })
    .describe(`The ${role}: an OpenAI-compatible endpoint reached through the gateway sidecar.`);
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
      taskDescription: z
        .string()
        .min(1)
        .max(4096)
        .describe(
          "What the user simulator is told the task is, e.g. 'solving math problems' (process_dataset --task_desc).",
        ),
      validationFraction: z.number().gt(0).lt(1).default(0.1).describe("Share of rows held out for validation."),
      seed: nonNegativeInt().default(42).describe("Seed of the train/validation split."),
    })
    .describe("The multi-turn dataset, prepared into parquet files on the job's volume before training."),
  runtime: z
    .strictObject({
      verl: z.enum(VERL_VERSIONS).default("0.6.0").describe("veRL version whose config is rendered."),
      image: z
        .string()
        .min(1)
        .max(1024)
        .optional()
        .describe("Trainer image; defaults to the operator's configured one."),
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
          maxUserTurns: nonNegativeInt().max(100).default(2).describe("Simulated user turns per future conversation."),
          maxAssistantTurns: positiveInt().max(100).default(3).describe("Assistant turns, the trained one included."),
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
      gpuProduct: z
        .string()
        .min(1)
        .max(63)
        .optional()
        .describe("Value of the nvidia.com/gpu.product node label to schedule onto, e.g. NVIDIA-H100-80GB-HBM3."),
      sharedMemory: quantity("sharedMemory").default("64Gi").describe("Size of /dev/shm (a memory emptyDir)."),
      cpu: quantity("cpu").optional().describe("CPU request and limit of each GPU pod."),
      memory: quantity("memory").optional().describe("Memory request and limit of each GPU pod."),
    })
    .prefault({}),
  userSimulator: llmEndpoint("user simulator", { temperature: 1, maxTokens: 512, retries: 3 }),
  judge: llmEndpoint("judge", { temperature: 0, maxTokens: 2048, retries: 6 }),
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
      maxTokens: positiveInt()
        .max(Number.MAX_SAFE_INTEGER)
        .optional()
        .describe("Stop API spending past this many tokens (simulator + judge)."),
    })
    .prefault({}),
  storage: z
    .strictObject({
      size: quantity("storage size").optional().describe("Size of the volume the operator creates."),
      storageClassName: z.string().min(1).max(253).optional().describe("Storage class (ReadWriteMany for nodes > 1)."),
      existingClaim: z.string().min(1).max(253).regex(DNS_SUBDOMAIN).optional().describe("Use this PVC instead."),
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
      priorityClassName: z.string().min(1).max(253).optional(),
      queueName: z
        .string()
        .min(1)
        .max(63)
        .regex(
          DNS_SUBDOMAIN,
          "must be a LocalQueue name: lowercase letters, digits, '-' and '.' (also a valid label value)",
        )
        .optional()
        .describe(
          "Kueue LocalQueue in the job's namespace (label kueue.x-k8s.io/queue-name on every pod). Kueue admits the pods of each stage through it, the training pods as one pod group per attempt; needs Kueue (docs/operator.md, Scheduling).",
        ),
      nodeSelector: z.record(z.string(), z.string()).optional(),
      tolerations: z
        .array(
          z.strictObject({
            key: z.string().max(316).optional(),
            operator: z.enum(["Exists", "Equal"]).optional(),
            value: z.string().max(63).optional(),
            effect: z.enum(["NoSchedule", "PreferNoSchedule", "NoExecute"]).optional(),
            tolerationSeconds: z.int().optional(),
          }),
        )
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
      "Fail the job (reason DeadlineExceeded) once it has run this long since status.startTime, the time its first pod was scheduled. Suspension stops the clock: resuming sets startTime anew, as batch/v1 Jobs do.",
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
  ];
}

type Storage = { size?: string | undefined; existingClaim?: string | undefined; storageClassName?: string | undefined };
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
  requests: nonNegativeInt().max(Number.MAX_SAFE_INTEGER),
  promptTokens: nonNegativeInt().max(Number.MAX_SAFE_INTEGER),
  completionTokens: nonNegativeInt().max(Number.MAX_SAFE_INTEGER),
  rateLimited: nonNegativeInt().max(Number.MAX_SAFE_INTEGER).describe("Upstream 429 answers."),
  retries: nonNegativeInt().max(Number.MAX_SAFE_INTEGER),
  errors: nonNegativeInt().max(Number.MAX_SAFE_INTEGER),
  cacheHits: nonNegativeInt().max(Number.MAX_SAFE_INTEGER).optional(),
});

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
      reason: z.string().describe("PodFailed, PodDeleted, PodLost or StartupTimeout."),
      message: z.string().max(32768),
      counted: z.boolean().describe("Whether it counted against failurePolicy.maxRestarts."),
      pod: z.string().optional(),
      container: z.string().optional(),
      exitCode: z.int().optional(),
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
  progress: z
    .strictObject({
      step: nonNegativeInt().optional(),
      totalSteps: nonNegativeInt().optional(),
      stepOfTotal: z.string().optional().describe("step/totalSteps, for kubectl get."),
      epoch: nonNegativeInt().optional(),
      reward: z.number().optional().describe("critic/score/mean of the last step."),
      validationReward: z.number().optional(),
      stepSeconds: z.number().optional(),
      estimatedCompletionTime: z.string().meta({ format: "date-time" }).optional(),
      lastUpdateTime: z.string().meta({ format: "date-time" }).optional(),
    })
    .optional(),
  usage: z
    .strictObject({
      userSimulator: EndpointUsage.optional(),
      judge: EndpointUsage.optional(),
      totalTokens: nonNegativeInt().max(Number.MAX_SAFE_INTEGER).optional(),
    })
    .optional(),
  outputs: z
    .strictObject({
      checkpointDir: z.string().optional().describe("Where veRL writes checkpoints on the job's volume."),
      modelDir: z.string().optional().describe("The trained model in Hugging Face format on the job's volume."),
      volumeClaim: z.string().optional(),
    })
    .optional(),
  message: z.string().max(32768).optional(),
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

/** The job as a user writes it: every object is strict, so a misspelt field is an error naming it (validateJob). */
export const StrictCollabTrainingJob = z.looseObject({
  apiVersion: z.literal(API_VERSION),
  kind: z.literal(KIND),
  metadata: Metadata,
  spec: Spec,
  status: Status.optional(),
});
export type CollabTrainingJob = z.output<typeof StrictCollabTrainingJob>;

/**
 * The job as the operator reads it from the apiserver, which has already pruned every field the installed CRD does
 * not know. A field the CRD knows and this operator does not comes from a newer CRD (docs/install.md, "Upgrades"),
 * defaults included, which appear on every stored job: it is ignored rather than failing running jobs. Parsed once
 * when nothing is unknown, the usual case.
 */
const MAX_DEPTH = 8; // unknown fields nested deeper than the schema's objects cannot exist
export const CollabTrainingJob = z.unknown().transform((raw, ctx): CollabTrainingJob => {
  let value = raw;
  for (let pass = 0; ; pass++) {
    const parsed = StrictCollabTrainingJob.safeParse(value);
    if (parsed.success) return parsed.data;
    const unknown = parsed.error.issues.filter((i) => i.code === "unrecognized_keys");
    if (unknown.length === 0 || pass === MAX_DEPTH) {
      for (const issue of parsed.error.issues) ctx.addIssue({ ...issue, input: undefined } as never);
      return z.NEVER;
    }
    if (pass === 0) value = structuredClone(raw);
    for (const issue of unknown) {
      type Node = Record<PropertyKey, unknown> | undefined;
      const holder = issue.path.reduce<Node>((at, segment) => at?.[segment] as Node, value as Node);
      for (const key of issue.keys) if (holder) delete holder[key];
    }
  }
});
