// Fixed contracts between the rendered veRL configs and the pods that run them. The pod builders (src/children/) import
// these so a path or port is written once: a mismatch would only show up on a GPU node, far too late.
import type { Spec } from "../api/schema.ts";

/** The job's volume, mounted at the same path in every pod so veRL's absolute paths agree across nodes. */
export const VOLUME_MOUNT = "/collab";

export const PATHS = {
  data: "/collab/data",
  rlTrain: "/collab/data/rl_train.parquet",
  rlValidation: "/collab/data/rl_validation.parquet",
  sftTrain: "/collab/data/sft_train.parquet",
  sftValidation: "/collab/data/sft_validation.parquet",
  rlCheckpoints: "/collab/checkpoints/rl",
  sftCheckpoints: "/collab/checkpoints/sft",
  /** The SFT result in Hugging Face format; RL starts from it when SFT ran. */
  sftModel: "/collab/models/sft",
  /** The final RL checkpoint merged into Hugging Face weights (status.outputs.modelDir). */
  finalModel: "/collab/models/final",
  /** trainer.rollout_data_dir: one {step}.jsonl per step with every sample's input, output and score. */
  rollouts: "/collab/rollouts",
  logs: "/collab/logs",
  /** HF_HOME on the shared volume: the prepare pod downloads the model once, the GPU pods find it cached. */
  hfHome: "/collab/cache/huggingface",
} as const;

/** The job's ConfigMap (renderConfigFiles), mounted read-only. */
export const CONFIG_MOUNT = "/etc/collab";

/** veRL v0.6.0 source tree in the trainer image, recipe/ included; also PYTHONPATH (recipe/ is a namespace package). */
export const VERL_ROOT = "/opt/verl";

/** emptyDir shared with the gateway sidecar, which parses veRL's console lines from this file. */
export const TRAINER_LOG_DIR = "/var/run/collab";
export const TRAINER_LOG = `${TRAINER_LOG_DIR}/trainer.log`;

/** The gateway sidecars, OpenAI-compatible under /v1 on the pod's loopback. */
export const USER_SIMULATOR_PORT = 4001;
export const JUDGE_PORT = 4002;
export const USER_SIMULATOR_URL = `http://127.0.0.1:${USER_SIMULATOR_PORT}/v1`;
export const JUDGE_URL = `http://127.0.0.1:${JUDGE_PORT}/v1`;
/** Each gateway's /metrics on the pod IP (only /metrics: the chat API stays on loopback), named for a PodMonitor. */
export const GATEWAY_METRICS_PORTS = {
  "user-simulator": { name: "sim-metrics", port: 9401 },
  judge: { name: "judge-metrics", port: 9402 },
} as const;

export const RAY_GCS_PORT = 6379;
export const RAY_DASHBOARD_PORT = 8265;

/** Environment the pod builder gives every trainer container. */
export const ENV = {
  /** DNS name of the head pod (headless Service). */
  rayHead: "COLLAB_RAY_HEAD",
  nnodes: "COLLAB_NNODES",
  nodeRank: "COLLAB_NODE_RANK",
  gpusPerNode: "COLLAB_GPUS_PER_NODE",
  /** status.attempt when the pod was made: moves on every restart and resume. */
  attempt: "COLLAB_ATTEMPT",
  /** The job's INTERNAL token (never the user's key): litellm sends it to the gateway sidecars. */
  internalToken: "OPENAI_API_KEY",
  /** From spec.integrations.wandb.apiKeySecretRef, only when it is set. */
  wandbKey: "WANDB_API_KEY",
  /** From spec.integrations.huggingFaceTokenSecretRef, only when it is set. */
  hfToken: "HF_TOKEN",
} as const;

/** Keys of the job's ConfigMap (file names under CONFIG_MOUNT). */
export const CONFIG_FILES = {
  interaction: "collabllm_interaction_config.yaml",
  agent: "agent.yaml",
  prepare: "prepare.sh",
  sft: "sft.sh",
  rlHead: "train-head.sh",
  rlWorker: "train-worker.sh",
} as const;

/** The scripts in the job's ConfigMap that a trainer container runs, one per kind of pod. */
export type LaunchScript = "prepare" | "sft" | "rl-head" | "rl-worker";

const LAUNCH_SCRIPT_FILE: Record<LaunchScript, string> = {
  prepare: CONFIG_FILES.prepare,
  sft: CONFIG_FILES.sft,
  "rl-head": CONFIG_FILES.rlHead,
  "rl-worker": CONFIG_FILES.rlWorker,
};

/** The trainer container's command: the launch script from the ConfigMap. */
export function launchCommand(script: LaunchScript): string[] {
  return ["bash", `${CONFIG_MOUNT}/${LAUNCH_SCRIPT_FILE[script]}`];
}

/** What status.outputs shows; the same for every spec, taken as an argument so a later version may differ. */
export function outputs(_spec: Spec): { checkpointDir: string; modelDir: string } {
  return { checkpointDir: PATHS.rlCheckpoints, modelDir: PATHS.finalModel };
}

/** The directory veRL saves an RL step's checkpoint in (ray_trainer.py, _save_checkpoint). */
export function rlCheckpoint(step: number): string {
  return `${PATHS.rlCheckpoints}/global_step_${step}`;
}
