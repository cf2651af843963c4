// Helpers for the scheduling smoke tests (native gang, Kueue, Karpenter): plain GPU pods written as raw JSON (the
// generated client would drop fields it does not know, such as 1.37's spec.schedulingGroup), reads of any object,
// and the state of the static GPU fleet.
import { type KubernetesObject, Watch } from "@kubernetes/client-node";
import { request, statusCode } from "../../src/runtime/http.ts";
import { applyObject, deleteObject } from "../../src/runtime/writes.ts";
import { FLEET } from "../cluster/fleet.ts";
import { kc } from "./kube.ts";

export type Obj = KubernetesObject & { spec?: any; status?: any };

const FIELD_MANAGER = "scheduling-smoke-test";

/** Creates or updates `obj` by server-side apply; returns it as stored. */
export const apply = <T extends Obj>(obj: T): Promise<T> => applyObject(kc, obj, FIELD_MANAGER);

export const remove = (obj: Obj) =>
  deleteObject(kc, {
    apiVersion: obj.apiVersion!,
    kind: obj.kind!,
    name: obj.metadata!.name!,
    namespace: obj.metadata?.namespace,
  });

/** Adds annotations to a live pod (a merge patch: the apply of another manager would take fields away). */
export const annotatePod = (namespace: string, name: string, annotations: Record<string, string>) =>
  request(kc, {
    method: "PATCH",
    path: `/api/v1/namespaces/${namespace}/pods/${name}`,
    body: { metadata: { annotations } },
    contentType: "application/merge-patch+json",
  });

export async function get<T = Obj>(path: string): Promise<T | undefined> {
  try {
    return await request<T>(kc, { method: "GET", path });
  } catch (error) {
    if (statusCode(error) === 404) return undefined;
    throw error;
  }
}

/** The items of a list, each with the apiVersion and kind a list response leaves out. */
export async function list<T extends Obj = Obj>(path: string, labelSelector?: string): Promise<T[]> {
  const res = await request<{ apiVersion: string; kind: string; items: T[] }>(kc, {
    method: "GET",
    path,
    query: { labelSelector },
  });
  const kind = res.kind.replace(/List$/, "");
  return res.items.map((item) => ({ ...item, apiVersion: res.apiVersion, kind }));
}

export const pods = (namespace: string, labelSelector?: string) =>
  list<Obj>(`/api/v1/namespaces/${namespace}/pods`, labelSelector);

/** Events about one object, oldest first. */
export async function eventsFor(namespace: string, name: string, kind = "Pod") {
  const events = await list<Obj & { reason: string; message: string; type: string; source?: { component?: string } }>(
    `/api/v1/namespaces/${namespace}/events`,
  );
  return events.filter((e: any) => e.involvedObject?.name === name && e.involvedObject?.kind === kind);
}

export interface GpuPodOptions {
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  nodeSelector?: Record<string, string>;
  tolerations?: { key: string; operator?: string; value?: string; effect?: string }[];
  /** spec.schedulingGroup.podGroupName: the native gang (scheduling.k8s.io/v1beta1 PodGroup) the pod belongs to. */
  podGroup?: string;
  gpus?: number;
}

/** A plain pod taking a whole 8-GPU node of the fleet (tolerating the GPU taint), as a training rank would. */
export function gpuPod(namespace: string, name: string, options: GpuPodOptions = {}): Obj {
  const gpus = String(options.gpus ?? 8);
  return {
    apiVersion: "v1",
    kind: "Pod",
    metadata: { name, namespace, labels: options.labels, annotations: options.annotations },
    spec: {
      restartPolicy: "Never",
      terminationGracePeriodSeconds: 0,
      containers: [
        {
          name: "trainer",
          image: "registry.invalid/trainer:smoke",
          resources: {
            requests: { cpu: "1", memory: "1Gi", "nvidia.com/gpu": gpus },
            limits: { "nvidia.com/gpu": gpus },
          },
        },
      ],
      nodeSelector: options.nodeSelector,
      tolerations: [
        { key: "nvidia.com/gpu", operator: "Exists", effect: "NoSchedule" },
        ...(options.tolerations ?? []),
      ],
      ...(options.podGroup ? { schedulingGroup: { podGroupName: options.podGroup } } : {}),
    },
  };
}

export const isBound = (pod: Obj) => Boolean(pod.spec?.nodeName);
export const isRunning = (pod: Obj) => pod.status?.phase === "Running";
export const schedulingGates = (pod: Obj): string[] =>
  ((pod.spec?.schedulingGates ?? []) as { name: string }[]).map((g) => g.name);
export const podCondition = (pod: Obj, type: string) =>
  (pod.status?.conditions as { type: string; status: string; reason?: string; message?: string }[] | undefined)?.find(
    (c) => c.type === type,
  );

/** Names of the static fleet's nodes of `product` whose GPUs no live pod holds. */
export async function freeFleetGpuNodes(product: string): Promise<string[]> {
  const names = FLEET.filter((n) => n.gpus?.product === product).map((n) => n.name);
  const all = await list<Obj>("/api/v1/pods");
  const busy = new Set(
    all
      .filter((p) => p.spec?.nodeName && !["Succeeded", "Failed"].includes(p.status?.phase))
      .filter((p) =>
        ((p.spec?.containers ?? []) as any[]).some((c) => Number(c.resources?.requests?.["nvidia.com/gpu"] ?? 0) > 0),
      )
      .map((p) => p.spec.nodeName as string),
  );
  return names.filter((n) => !busy.has(n));
}

/**
 * Watches the namespace's pods and runs `check` on all of them after every event (every change is seen, not a poll):
 * whatever it returns is recorded as a violation, with the time.
 */
export async function podSampler(namespace: string, check: (pods: Obj[]) => string | undefined) {
  const live = new Map<string, Obj>();
  const violations: string[] = [];
  const controller = await new Watch(kc).watch(
    `/api/v1/namespaces/${namespace}/pods`,
    {},
    (type: string, pod: Obj) => {
      const name = pod.metadata?.name ?? "";
      if (type === "DELETED") live.delete(name);
      else live.set(name, pod);
      const wrong = check([...live.values()]);
      if (wrong) violations.push(`${new Date().toISOString()} ${wrong}`);
    },
    () => {},
  );
  return { violations, pods: () => [...live.values()], stop: () => controller.abort() };
}

/** A pod that holds its node's resources: bound, not finished, not on its way out. */
export const isHolding = (pod: Obj) =>
  isBound(pod) && !["Succeeded", "Failed"].includes(pod.status?.phase) && !pod.metadata?.deletionTimestamp;

/** The training pods (head and workers) of `job`, of any attempt. */
export const trainingPodsOf = (pods: Obj[], job: string) =>
  pods.filter(
    (p) =>
      p.metadata?.labels?.["collabllm.io/job-name"] === job &&
      ["head", "worker"].includes(p.metadata?.labels?.["collabllm.io/role"] ?? ""),
  );

/**
 * Waits until Karpenter holds no NodeClaim: one of an earlier file's pools still being consolidated or replaced can
 * keep its provisioner from launching for another for minutes (seen when both Karpenter files ran on one cluster).
 */
export async function karpenterSettled(): Promise<void> {
  const deadline = Date.now() + 180_000;
  while ((await list("/apis/karpenter.sh/v1/nodeclaims")).length > 0) {
    if (Date.now() > deadline) throw new Error("NodeClaims of earlier tests still there after 180 s");
    await new Promise((r) => setTimeout(r, 1000));
  }
}
