// What the cache keeps of an object. Memory tracks the number of cached objects and their size (KubeRay's memory
// benchmark: ray-project/kuberay benchmark/memory_benchmark), and most of a stored object's bytes are bookkeeping no
// controller reads (docs/runtime.md, "Transforms", has the sizes). Every informer applies stripBookkeeping; pods can
// be narrowed further by slimPod.
import type { KubernetesObject } from "@kubernetes/client-node";
import { COMPUTED, share } from "./immutable.ts";

const LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration";

/**
 * Drops metadata.managedFields (server-side apply's field ownership, often larger than the object) and kubectl's
 * last-applied-configuration annotation (a full copy of what `kubectl apply` sent, read only by kubectl). Everything
 * else is kept as it is. Returns the same object when there is nothing to drop.
 */
export function stripBookkeeping<T extends KubernetesObject>(obj: T): T {
  const meta = obj.metadata;
  if (!meta || (meta.managedFields === undefined && meta.annotations?.[LAST_APPLIED] === undefined)) return obj;
  const { managedFields: _managed, ...rest } = meta;
  if (rest.annotations?.[LAST_APPLIED] !== undefined) {
    const { [LAST_APPLIED]: _applied, ...annotations } = rest.annotations;
    rest.annotations = annotations;
  }
  return { ...obj, metadata: rest };
}

interface ContainerStatus {
  name?: string;
  state?: unknown;
  lastState?: unknown;
  ready?: boolean;
  restartCount?: number;
}

interface Pod extends KubernetesObject {
  spec?: {
    nodeName?: string;
    schedulingGates?: unknown[];
    priority?: number;
    priorityClassName?: string;
  } & Record<string, unknown>;
  status?: {
    phase?: string;
    reason?: string;
    message?: string;
    startTime?: string;
    conditions?: unknown[];
    containerStatuses?: ContainerStatus[];
    initContainerStatuses?: ContainerStatus[];
  } & Record<string, unknown>;
}

const reduced = (statuses: ContainerStatus[] | undefined) =>
  statuses?.map(({ name, state, lastState, ready, restartCount }) => ({ name, state, lastState, ready, restartCount }));

/**
 * A pod reduced to what a controller decides from: who it is and who owns it, where and whether it is scheduled, and
 * how it is doing. Kept:
 * - metadata: name, namespace, uid, resourceVersion, generation, creationTimestamp, deletionTimestamp,
 *   deletionGracePeriodSeconds, labels, annotations, ownerReferences, finalizers;
 * - spec: nodeName, schedulingGates, priority, priorityClassName;
 * - status: phase, reason, message, startTime, every condition (PodScheduled, Ready, DisruptionTarget, Kueue's and
 *   others' alike), and container and init container statuses as name, state, lastState, ready, restartCount.
 * Dropped: the rest of the spec (containers, volumes, affinity, tolerations...), which a controller that made the pod
 * already knows and cannot change, and the rest of the status (IPs, QoS class, images, resources...). apiVersion and
 * kind stay.
 */
export function slimPod(obj: KubernetesObject): KubernetesObject {
  const pod = stripBookkeeping(obj) as Pod;
  const m = pod.metadata ?? {};
  const s = pod.status;
  return {
    apiVersion: pod.apiVersion,
    kind: pod.kind,
    metadata: defined({
      name: m.name,
      namespace: m.namespace,
      uid: m.uid,
      resourceVersion: m.resourceVersion,
      generation: m.generation,
      creationTimestamp: m.creationTimestamp,
      deletionTimestamp: m.deletionTimestamp,
      deletionGracePeriodSeconds: m.deletionGracePeriodSeconds,
      labels: m.labels,
      annotations: m.annotations,
      ownerReferences: m.ownerReferences,
      finalizers: m.finalizers,
    }),
    spec: defined({
      nodeName: pod.spec?.nodeName,
      schedulingGates: pod.spec?.schedulingGates,
      priority: pod.spec?.priority,
      priorityClassName: pod.spec?.priorityClassName,
    }),
    ...(s
      ? {
          status: defined({
            phase: s.phase,
            reason: s.reason,
            message: s.message,
            startTime: s.startTime,
            conditions: s.conditions,
            containerStatuses: reduced(s.containerStatuses),
            initContainerStatuses: reduced(s.initContainerStatuses),
          }),
        }
      : {}),
  } as KubernetesObject;
}

/**
 * The object without its undefined fields, so a slimmed object compares and serialises like the original. Built
 * anew rather than with `delete`, which turns a V8 object into a dictionary several times its size.
 */
function defined<T extends object>(o: T): T {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as T;
}

/** Files shorter than this stay whole: a whole file is shared when another object has the same one. */
const WHOLE_FILE_MAX = 2048;

/**
 * A transform for a field holding files by name (a ConfigMap's `data`) that keeps each file of 2 KiB or more as its
 * lines, every line the process-wide shared string, and joins them again on every read (a new, unfrozen object each
 * time). Files rendered from one template differ in a line or two (the training script in this operator's ConfigMaps
 * is the same for every job but for the job's name), so their lines are shared where whole files would not be
 * (docs/runtime.md, "Transforms", has what it saves). Smaller files stay whole (shared when identical, as every
 * string in the cache is). Serialising the object (JSON.stringify, structuredClone) reads the field like any other.
 */
export function sharedLines(field: string): (obj: KubernetesObject) => KubernetesObject {
  return (obj) => {
    const { [field]: files, ...rest } = obj as KubernetesObject & Record<string, unknown>;
    if (files === null || typeof files !== "object") return obj;
    const lines = share(
      Object.entries(files as Record<string, unknown>).map(([name, text]) => [
        name,
        typeof text === "string" && text.length >= WHOLE_FILE_MAX ? text.split("\n") : text,
      ]),
    );
    Object.defineProperty(rest, field, {
      enumerable: true,
      get: () => Object.fromEntries(lines.map(([name, l]) => [name, Array.isArray(l) ? l.join("\n") : l])),
    });
    Object.defineProperty(rest, COMPUTED, { value: [field] });
    return rest;
  };
}
