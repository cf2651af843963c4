// The model servers a job runs for its served roles (spec.<role>.serve), pure: which servers a spec asks for and
// which roles each serves, and their objects: a Deployment and a Service of the operator's running vLLM's
// OpenAI-compatible server (`vllm serve`). Owned by the job, labelled as its children, placed and queued as its pods
// are; a server that is not running has no replica. The served roles' gateways call the server's Service
// (withServedEndpoints).
import { createHash } from "node:crypto";
import { quantityText } from "../api/k8s.ts";
import {
  type CollabTrainingJob,
  DEFAULT_SERVER_IMAGE,
  type SERVED_ROLES,
  type Server,
  type Spec,
} from "../api/schema.ts";
import type { EndpointRole } from "../contract/gateway-settings.ts";
import { VOLUME_MOUNT } from "../verl/layout.ts";
import { KUEUE } from "./gang.ts";
import { childMeta, GPU_PRODUCT_LABEL, GPU_RESOURCE, jobLabels, jobName, jobNamespace, LABEL } from "./meta.ts";
import { claimName } from "./support.ts";

/** The collabllm.io/role of a server's pods. */
export const SERVER_ROLE = "server";
/** Which role's server a pod belongs to (the role whose spec defines it). */
export const SERVER_LABEL = "collabllm.io/server";
/** GPUs a server pod holds, read back from the cache (which keeps annotations, not resources) for the GPU-hours. */
export const GPUS_ANNOTATION = "collabllm.io/gpus";
/** A hash of the object as the operator last applied it: a different one is applied again. */
export const SPEC_HASH_ANNOTATION = "collabllm.io/spec-hash";
export const SERVER_PORT = 8000;
export const SERVER_CONTAINER = "server";
const MODEL_CACHE = "/var/cache/collab-server";

export type ServedRole = (typeof SERVED_ROLES)[number];

/** A server a job runs: the role whose spec defines it, the roles it serves, what it serves and what it answers to. */
export interface JobServer {
  owner: EndpointRole;
  roles: EndpointRole[];
  serve: Server;
  /** The model name its roles ask for: vLLM's --served-model-name. */
  servedName: string;
  name: string;
}

/** The status.serving name of a role (the spec's field name). */
export const SERVED_ROLE_NAME: Record<EndpointRole, ServedRole> = { judge: "judge", "user-simulator": "userSimulator" };

export function serverName(job: string, owner: EndpointRole): string {
  return `${job}-${owner === "judge" ? "judge" : "usersim"}-server`;
}

/** The servers the spec asks for: the judge's (serving the user simulator too when shared) and the user simulator's. */
export function jobServers(job: CollabTrainingJob): JobServer[] {
  const { spec } = job;
  const servers: JobServer[] = [];
  if (spec.judge.serve) {
    servers.push({
      owner: "judge",
      roles: spec.judge.serve.shareWithUserSimulator ? ["judge", "user-simulator"] : ["judge"],
      serve: spec.judge.serve,
      servedName: spec.judge.model,
      name: serverName(jobName(job), "judge"),
    });
  }
  if (spec.userSimulator.serve) {
    servers.push({
      owner: "user-simulator",
      roles: ["user-simulator"],
      serve: spec.userSimulator.serve,
      servedName: spec.userSimulator.model,
      name: serverName(jobName(job), "user-simulator"),
    });
  }
  return servers;
}

/** The server a role's calls go to, if the job serves it. */
export function serverOf(job: CollabTrainingJob, role: EndpointRole): JobServer | undefined {
  return jobServers(job).find((s) => s.roles.includes(role));
}

/** The job as its gateways and preflight see it: each served role's baseURL is its server's URL. */
export function withServedEndpoints(
  job: CollabTrainingJob,
  urls: Readonly<Partial<Record<EndpointRole, string>>>,
): CollabTrainingJob {
  const { userSimulator, judge } = job.spec;
  const simURL = urls["user-simulator"];
  return {
    ...job,
    spec: {
      ...job.spec,
      userSimulator: simURL === undefined ? userSimulator : { ...userSimulator, baseURL: simURL },
      judge: urls.judge === undefined ? judge : { ...judge, baseURL: urls.judge },
    },
  };
}

/** The base URL of a server the operator runs itself: its Service, in the job's namespace. */
export function deploymentURL(job: CollabTrainingJob, server: JobServer): string {
  return `http://${server.name}.${jobNamespace(job)}.svc:${SERVER_PORT}/v1`;
}

/** Labels of a server's pods (and its Deployment's selector). */
export function serverPodLabels(job: CollabTrainingJob, server: JobServer): Record<string, string> {
  return { ...jobLabels(jobName(job)), [LABEL.role]: SERVER_ROLE, [SERVER_LABEL]: server.owner };
}

/** The model as vLLM's positional argument: a Hub id as written, a path on the job's volume as mounted. */
function modelOnVolume(model: string): boolean {
  return model.startsWith("/");
}

/** vLLM's parallelism flags from serve: tensor parallel size, and the replica's other GPUs as data-parallel ranks. */
function parallelism(serve: Server): { tensor: number; data: number } {
  const tensor = serve.tensorParallelSize ?? serve.gpusPerReplica;
  return { tensor, data: serve.gpusPerReplica / tensor };
}

/** The arguments of `vllm serve` (the image's entrypoint): the model, what it answers to, where, how parallel. */
export function serverArgs(server: JobServer): string[] {
  const { tensor, data } = parallelism(server.serve);
  return [
    server.serve.model,
    "--served-model-name",
    server.servedName,
    "--host",
    "0.0.0.0",
    "--port",
    String(SERVER_PORT),
    "--tensor-parallel-size",
    String(tensor),
    ...(data > 1 ? ["--data-parallel-size", String(data)] : []),
    ...(server.serve.args ?? []),
  ];
}

function placement(spec: Spec, serve: Server) {
  const nodeSelector: Record<string, string> = { ...spec.scheduling.nodeSelector };
  if (serve.gpuProduct) nodeSelector[GPU_PRODUCT_LABEL] = serve.gpuProduct;
  return {
    ...(spec.scheduling.priorityClassName ? { priorityClassName: spec.scheduling.priorityClassName } : {}),
    nodeSelector,
    tolerations: [
      { key: GPU_RESOURCE, operator: "Exists", effect: "NoSchedule" },
      ...(spec.scheduling.tolerations ?? []),
    ],
  };
}

function resources(serve: Server) {
  const limits: Record<string, string> = {
    [GPU_RESOURCE]: String(serve.gpusPerReplica),
    ...(serve.cpu !== undefined ? { cpu: quantityText(serve.cpu) } : {}),
    ...(serve.memory !== undefined ? { memory: quantityText(serve.memory) } : {}),
  };
  return { requests: limits, limits };
}

function hfToken(spec: Spec) {
  const ref = spec.integrations.huggingFaceTokenSecretRef;
  return ref ? [{ name: "HF_TOKEN", valueFrom: { secretKeyRef: { name: ref.name, key: ref.key } } }] : [];
}

/** Kueue's queue label, so the server's pods are admitted under the job's LocalQueue and counted in its quota. */
function queueLabel(spec: Spec): Record<string, string> {
  return spec.scheduling.queueName ? { [KUEUE.queueName]: spec.scheduling.queueName } : {};
}

/** Annotations a server's pods carry: their GPUs (for the GPU-hours), and no autoscaler eviction mid-run. */
function podAnnotations(serve: Server): Record<string, string> {
  return {
    [GPUS_ANNOTATION]: String(serve.gpusPerReplica),
    "cluster-autoscaler.kubernetes.io/safe-to-evict": "false",
    "karpenter.sh/do-not-disrupt": "true",
  };
}

/** The metadata of a server's objects: the job's child, labelled with the role whose server it is. */
function serverMeta(job: CollabTrainingJob, server: JobServer) {
  return {
    ...childMeta(job, server.name, { ...jobLabels(jobName(job)), [SERVER_LABEL]: server.owner }),
    annotations: {},
  };
}

/** Puts the hash of what is applied on the object, so a changed spec (or replica count) is applied again. */
function hashed<T extends { metadata: object }>(object: T): T {
  const hash = createHash("sha256").update(JSON.stringify(object)).digest("hex").slice(0, 16);
  const { annotations } = object.metadata as { annotations?: Record<string, string> };
  return {
    ...object,
    metadata: { ...object.metadata, annotations: { ...annotations, [SPEC_HASH_ANNOTATION]: hash } },
  };
}

/**
 * The operator's own server: vLLM's OpenAI-compatible server (`vllm serve`, the image's entrypoint) with the GPUs of
 * a replica, probed on /health (a replica loading its weights is not ready, and gets up to 30 minutes to start). A
 * rolling update replaces one replica at a time without a surge, so it never asks for more GPUs than serve says.
 */
export function serverDeployment(job: CollabTrainingJob, server: JobServer, running: boolean) {
  const { spec } = job;
  const { serve } = server;
  const labels = serverPodLabels(job, server);
  const onVolume = modelOnVolume(serve.model);
  const probe = (periodSeconds: number, failureThreshold: number) => ({
    httpGet: { path: "/health", port: "http" },
    periodSeconds,
    failureThreshold,
    timeoutSeconds: 5,
  });
  return hashed({
    apiVersion: "apps/v1",
    kind: "Deployment",
    metadata: serverMeta(job, server),
    spec: {
      replicas: running ? serve.replicas : 0,
      selector: { matchLabels: labels },
      strategy: { type: "RollingUpdate", rollingUpdate: { maxSurge: 0, maxUnavailable: 1 } },
      template: {
        metadata: { labels: { ...labels, ...queueLabel(spec) }, annotations: podAnnotations(serve) },
        spec: {
          automountServiceAccountToken: false,
          enableServiceLinks: false,
          ...placement(spec, serve),
          containers: [
            {
              name: SERVER_CONTAINER,
              image: serve.image ?? DEFAULT_SERVER_IMAGE,
              args: serverArgs(server),
              env: [{ name: "HF_HOME", value: `${MODEL_CACHE}/huggingface` }, ...hfToken(spec)],
              ports: [{ name: "http", containerPort: SERVER_PORT }],
              resources: resources(serve),
              startupProbe: probe(10, 180),
              readinessProbe: probe(5, 3),
              livenessProbe: probe(10, 6),
              terminationMessagePolicy: "FallbackToLogsOnError",
              volumeMounts: [
                { name: "shm", mountPath: "/dev/shm" },
                { name: "model-cache", mountPath: MODEL_CACHE },
                ...(onVolume ? [{ name: "data", mountPath: VOLUME_MOUNT, readOnly: true }] : []),
              ],
            },
          ],
          volumes: [
            // vLLM's workers share tensors through /dev/shm (its docs: --ipc=host or a large --shm-size).
            { name: "shm", emptyDir: { medium: "Memory" } },
            { name: "model-cache", emptyDir: {} },
            ...(onVolume
              ? [{ name: "data", persistentVolumeClaim: { claimName: claimName(job), readOnly: true } }]
              : []),
          ],
        },
      },
    },
  });
}

/** The server's ClusterIP Service: only ready replicas take calls. */
export function serverService(job: CollabTrainingJob, server: JobServer) {
  return hashed({
    apiVersion: "v1",
    kind: "Service",
    metadata: serverMeta(job, server),
    spec: {
      selector: serverPodLabels(job, server),
      ports: [{ name: "http", port: SERVER_PORT, targetPort: "http" }],
    },
  });
}
