// Pods of each stage, pure: the dataset preparation pod (CPU), the SFT pod (one GPU node) and the training pods
// (rank 0 = Ray head + veRL driver, ranks 1..N-1 = Ray workers). GPU pods get the two gateway sidecars.

import { quantityText } from "../api/k8s.ts";
import type { CollabTrainingJob, Endpoint, Spec } from "../api/schema.ts";
import {
  type EndpointRole,
  API_KEY_ENV as GATEWAY_KEY_ENV,
  TOKEN_ENV as GATEWAY_TOKEN_ENV,
  type GatewaySetting,
  gatewayEnv,
} from "../contract/gateway-settings.ts";
import {
  CONFIG_MOUNT,
  ENV,
  GATEWAY_METRICS_PORTS,
  JUDGE_PORT,
  type LaunchScript,
  launchCommand,
  RAY_DASHBOARD_PORT,
  RAY_GCS_PORT,
  TRAINER_LOG,
  TRAINER_LOG_DIR,
  USER_SIMULATOR_PORT,
  VERL_ROOT,
  VOLUME_MOUNT,
} from "../verl/layout.ts";
import { PASS_RATE } from "../verl/scripts.ts";
import { childMeta, childName, GPU_PRODUCT_LABEL, GPU_RESOURCE, jobName, type PodRole, podLabels } from "./meta.ts";
import { serverOf } from "./serving.ts";
import { claimName, rayHeadAddress, TOKEN_KEY } from "./support.ts";

/** What the operator was started with; the same for every job. */
export interface OperatorContext {
  /** The operator's own image: the gateway sidecars run `collab-operator gateway` from it. */
  operatorImage: string;
  /** Trainer image used when spec.runtime.image is unset. */
  trainerImage: string;
  /** The same with bigcodebench, used instead for jobs whose reward has pass_rate (images/trainer/Dockerfile). */
  bigcodebenchTrainerImage: string;
  /** Base URL the gateways report progress and usage to (the operator's report endpoint). */
  reportBaseURL: string;
}

/** Images and URLs `collab-operator run` and `render` use unless told otherwise. */
export const DEFAULT_OPERATOR_CONTEXT: OperatorContext = {
  operatorImage: "ghcr.io/collabllm/collab-operator:0.1.0",
  trainerImage: "ghcr.io/collabllm/collab-trainer:verl-0.6.0",
  bigcodebenchTrainerImage: "ghcr.io/collabllm/collab-trainer:verl-0.6.0-bigcodebench",
  reportBaseURL: "http://collab-operator.collab-system.svc:8081",
};

export const TRAINER_CONTAINER = "trainer";

/** Annotations that keep autoscalers from evicting a pod mid-run (a lost GPU pod costs the whole step). */
const DO_NOT_DISRUPT: Record<string, string> = {
  "cluster-autoscaler.kubernetes.io/safe-to-evict": "false",
  "karpenter.sh/do-not-disrupt": "true",
};

const VOLUMES = { data: "data", config: "config", shm: "shm", trainerLog: "trainer-log" } as const;

/** Which pod of the job: its role, what it runs, its attempt and rank, and what it needs. */
interface PodShape {
  role: PodRole;
  script: LaunchScript;
  attempt: number;
  rank: number;
  gpu: boolean;
  sidecars: boolean;
  /** More environment for the trainer (the deadline veRL saves a checkpoint ahead of: plan/deadline.ts). */
  env?: readonly EnvVar[];
}

export interface EnvVar {
  name: string;
  value: string;
}

export function preparePod(job: CollabTrainingJob, ctx: OperatorContext, attempt: number) {
  return pod(job, ctx, { role: "prepare", script: "prepare", attempt, rank: 0, gpu: false, sidecars: false });
}

export function sftPod(job: CollabTrainingJob, ctx: OperatorContext, attempt: number) {
  return pod(job, ctx, { role: "sft", script: "sft", attempt, rank: 0, gpu: true, sidecars: false });
}

/** Rank 0 is the Ray head and runs veRL's driver; the others join it as workers. */
export function trainingPod(
  job: CollabTrainingJob,
  ctx: OperatorContext,
  attempt: number,
  rank: number,
  env: readonly EnvVar[] = [],
) {
  const head = rank === 0;
  return pod(job, ctx, {
    role: head ? "head" : "worker",
    script: head ? "rl-head" : "rl-worker",
    attempt,
    rank,
    gpu: true,
    sidecars: true,
    env,
  });
}

export function trainingPods(
  job: CollabTrainingJob,
  ctx: OperatorContext,
  attempt: number,
  env: readonly EnvVar[] = [],
) {
  return Array.from({ length: job.spec.resources.nodes }, (_, rank) => trainingPod(job, ctx, attempt, rank, env));
}

/** A pod as the operator wants it. */
export type DesiredPod = ReturnType<typeof pod>;

function pod(job: CollabTrainingJob, ctx: OperatorContext, shape: PodShape) {
  const { spec } = job;
  const name = jobName(job);
  const meta = childMeta(job, childName.pod(name, shape.role, shape.attempt, shape.rank));
  const queueLabel: Record<string, string> = spec.scheduling.queueName
    ? { "kueue.x-k8s.io/queue-name": spec.scheduling.queueName }
    : {};
  return {
    apiVersion: "v1",
    kind: "Pod",
    metadata: {
      ...meta,
      labels: { ...podLabels(name, shape.role, shape.attempt, shape.rank), ...queueLabel },
      ...(shape.gpu ? { annotations: DO_NOT_DISRUPT } : {}),
    },
    spec: {
      restartPolicy: "Never",
      // Training pods never talk to the Kubernetes API: progress goes out through the gateway's report.
      automountServiceAccountToken: false,
      enableServiceLinks: false,
      ...(spec.scheduling.priorityClassName ? { priorityClassName: spec.scheduling.priorityClassName } : {}),
      nodeSelector: nodeSelector(spec, shape.gpu),
      tolerations: tolerations(spec, shape.gpu),
      ...(shape.sidecars ? { initContainers: sidecars(job, ctx, shape) } : {}),
      containers: [trainer(job, ctx, shape)],
      volumes: volumes(job, shape),
    },
  };
}

export function nodeSelector(spec: Spec, gpu: boolean): Record<string, string> {
  const selector: Record<string, string> = { ...spec.scheduling.nodeSelector };
  if (gpu && spec.resources.gpuProduct) selector[GPU_PRODUCT_LABEL] = spec.resources.gpuProduct;
  return selector;
}

export function tolerations(spec: Spec, gpu: boolean) {
  const own = gpu ? [{ key: GPU_RESOURCE, operator: "Exists", effect: "NoSchedule" }] : [];
  return [...own, ...(spec.scheduling.tolerations ?? [])];
}

function volumes(job: CollabTrainingJob, shape: PodShape) {
  const name = jobName(job);
  return [
    { name: VOLUMES.data, persistentVolumeClaim: { claimName: claimName(job) } },
    { name: VOLUMES.config, configMap: { name: childName.config(name) } },
    ...(shape.gpu
      ? [
          {
            name: VOLUMES.shm,
            emptyDir: { medium: "Memory", sizeLimit: quantityText(job.spec.resources.sharedMemory) },
          },
        ]
      : []),
    ...(shape.sidecars ? [{ name: VOLUMES.trainerLog, emptyDir: {} }] : []),
  ];
}

function secretEnv(name: string, ref: { name: string; key: string }) {
  return { name, valueFrom: { secretKeyRef: { name: ref.name, key: ref.key } } };
}

function trainer(job: CollabTrainingJob, ctx: OperatorContext, shape: PodShape) {
  const { spec } = job;
  const tokenRef = { name: childName.token(jobName(job)), key: TOKEN_KEY };
  const env = [
    { name: "PYTHONPATH", value: VERL_ROOT },
    { name: ENV.rayHead, value: rayHeadAddress(job) },
    { name: ENV.nnodes, value: String(spec.resources.nodes) },
    { name: ENV.nodeRank, value: String(shape.rank) },
    { name: ENV.gpusPerNode, value: String(spec.resources.gpusPerNode) },
    // The attempt, for the trainer's logs and anything that must tell one attempt's writes from another's.
    { name: ENV.attempt, value: String(shape.attempt) },
    // The job's internal token, not the user's key: litellm presents it to the sidecars, which alone hold the key.
    ...(shape.sidecars ? [secretEnv(ENV.internalToken, tokenRef)] : []),
    ...(spec.integrations.wandb ? [secretEnv(ENV.wandbKey, spec.integrations.wandb.apiKeySecretRef)] : []),
    ...(spec.integrations.huggingFaceTokenSecretRef
      ? [secretEnv(ENV.hfToken, spec.integrations.huggingFaceTokenSecretRef)]
      : []),
    ...(shape.env ?? []),
  ];
  const limits: Record<string, string> = {
    ...(shape.gpu ? { [GPU_RESOURCE]: String(spec.resources.gpusPerNode) } : {}),
    ...(shape.gpu && spec.resources.cpu !== undefined ? { cpu: quantityText(spec.resources.cpu) } : {}),
    ...(shape.gpu && spec.resources.memory !== undefined ? { memory: quantityText(spec.resources.memory) } : {}),
  };
  const requests = shape.gpu ? limits : { cpu: "1", memory: "4Gi" };
  return {
    name: TRAINER_CONTAINER,
    image: trainerImage(spec, ctx),
    ...(spec.runtime.imagePullPolicy ? { imagePullPolicy: spec.runtime.imagePullPolicy } : {}),
    command: launchCommand(shape.script),
    workingDir: VERL_ROOT,
    // Pods of a failed attempt are deleted before the next starts, taking their logs along: the kubelet keeps the
    // end of the log as the termination message, which the job's restart and failure quote.
    terminationMessagePolicy: "FallbackToLogsOnError",
    env,
    resources: { requests, ...(Object.keys(limits).length > 0 ? { limits } : {}) },
    ...(shape.role === "head"
      ? {
          ports: [
            { name: "gcs", containerPort: RAY_GCS_PORT },
            { name: "dashboard", containerPort: RAY_DASHBOARD_PORT },
          ],
        }
      : {}),
    volumeMounts: [
      { name: VOLUMES.data, mountPath: VOLUME_MOUNT },
      { name: VOLUMES.config, mountPath: CONFIG_MOUNT, readOnly: true },
      ...(shape.gpu ? [{ name: VOLUMES.shm, mountPath: "/dev/shm" }] : []),
      ...(shape.sidecars ? [{ name: VOLUMES.trainerLog, mountPath: TRAINER_LOG_DIR }] : []),
    ],
  };
}

function setting(key: GatewaySetting, value: string | number | undefined) {
  return value === undefined ? [] : [{ name: gatewayEnv(key), value: String(value) }];
}

/**
 * One endpoint's settings as `collab-operator gateway` and `collab-operator preflight` both read them: its role, the
 * settings, and the key as a secretKeyRef (only these containers ever receive it). A served role's upstream is its
 * server (the job's baseURL is the server's: children/serving.ts), whose calls wait while no replica answers.
 */
export function endpointEnv(job: CollabTrainingJob, role: EndpointRole) {
  const endpoint: Endpoint = role === "judge" ? job.spec.judge : job.spec.userSimulator;
  return {
    role: setting("role", role),
    settings: [
      ...setting("model", endpoint.model),
      ...setting("upstreamBaseUrl", endpoint.baseURL),
      ...setting("upstreamModel", endpoint.model),
      ...setting("temperature", endpoint.temperature),
      ...setting("maxTokens", endpoint.maxTokens),
      ...setting("retries", endpoint.retries),
      ...setting("timeoutSeconds", endpoint.timeoutSeconds),
      ...setting("requestsPerMinute", endpoint.rateLimit.requestsPerMinute),
      ...setting("tokensPerMinute", endpoint.rateLimit.tokensPerMinute),
      ...setting("maxConcurrency", endpoint.rateLimit.maxConcurrency),
      ...(serverOf(job, role) ? setting("holdUnavailable", "true") : []),
    ],
    key: endpoint.apiKeySecretRef ? [secretEnv(GATEWAY_KEY_ENV, endpoint.apiKeySecretRef)] : [],
  };
}

/** The containers that hold the user's key run unprivileged, as a fixed non-root user, on a read-only root. */
export function gatewaySecurityContext() {
  return {
    allowPrivilegeEscalation: false,
    readOnlyRootFilesystem: true,
    runAsNonRoot: true,
    runAsUser: 65532,
    capabilities: { drop: ["ALL"] },
  };
}

/**
 * The job's image, or the operator's: pass_rate imports bigcodebench, and without it veRL's metric silently scores 0
 * (recipe/collabllm/metrics/pass_rate.py), so such jobs get the variant built with it.
 */
export function trainerImage(spec: Spec, ctx: OperatorContext): string {
  return spec.runtime.image ?? (PASS_RATE in spec.reward.metrics ? ctx.bigcodebenchTrainerImage : ctx.trainerImage);
}

/** The two gateways as native sidecars: they start before the trainer and stop after it. */
function sidecars(job: CollabTrainingJob, ctx: OperatorContext, shape: PodShape) {
  const { spec } = job;
  const jobURL = `${ctx.reportBaseURL}/v1/namespaces/${job.metadata.namespace}/collabtrainingjobs/${jobName(job)}`;
  const gateway = (role: EndpointRole, endpoint: Endpoint, port: number, followLog: boolean) => {
    const endpointSettings = endpointEnv(job, role);
    return {
      name: role,
      image: ctx.operatorImage,
      restartPolicy: "Always",
      args: ["gateway"],
      ports: [{ name: GATEWAY_METRICS_PORTS[role].name, containerPort: GATEWAY_METRICS_PORTS[role].port }],
      env: [
        ...endpointSettings.role,
        ...setting("listen", `127.0.0.1:${port}`),
        ...setting("metricsListen", `0.0.0.0:${GATEWAY_METRICS_PORTS[role].port}`),
        ...endpointSettings.settings,
        // The job's limits and budget are for all pods together: the operator hands them out where the calls are.
        ...setting("allowanceUrl", `${jobURL}/allowance`),
        ...setting("cacheEntries", endpoint.temperature === 0 ? 10_000 : 0),
        ...setting("reportUrl", `${jobURL}/report`),
        ...(followLog ? setting("followLog", TRAINER_LOG) : []),
        { name: gatewayEnv("pod"), valueFrom: { fieldRef: { fieldPath: "metadata.name" } } },
        secretEnv(GATEWAY_TOKEN_ENV, { name: childName.token(jobName(job)), key: TOKEN_KEY }),
        ...endpointSettings.key,
      ],
      // The chat API listens on loopback only; the kubelet probes the pod IP, where the metrics listener, which the
      // gateway opens once the chat API listens, answers /healthz. (An exec probe would need a program in the image:
      // the distroless image has no shell and no node on PATH.) On a native sidecar the startupProbe holds the trainer
      // back until the gateway answers; the livenessProbe restarts one that stops answering.
      startupProbe: {
        httpGet: { path: "/healthz", port: GATEWAY_METRICS_PORTS[role].name },
        periodSeconds: 1,
        failureThreshold: 60,
      },
      livenessProbe: {
        httpGet: { path: "/healthz", port: GATEWAY_METRICS_PORTS[role].name },
        periodSeconds: 10,
        timeoutSeconds: 5,
        failureThreshold: 6,
      },
      resources: { requests: { cpu: "250m", memory: "256Mi" }, limits: { memory: "1Gi" } },
      securityContext: gatewaySecurityContext(),
      ...(followLog
        ? { volumeMounts: [{ name: VOLUMES.trainerLog, mountPath: TRAINER_LOG_DIR, readOnly: true }] }
        : {}),
    };
  };
  // Only the head's driver prints veRL's step lines; its user-simulator gateway follows them and reports progress.
  const head = shape.role === "head";
  return [
    gateway("user-simulator", spec.userSimulator, USER_SIMULATOR_PORT, head),
    gateway("judge", spec.judge, JUDGE_PORT, false),
  ];
}
