// What the cache keeps of an object. Memory tracks the number of cached objects and their size (KubeRay's memory
// benchmark, anchors §4.1), and most of a stored object's bytes are bookkeeping no controller reads: a pod of this
// operator is 41 KB of JSON as the apiserver sends it, 18 KB without managedFields, 1.6 KB as slimPod keeps it
// (docs/runtime.md has the table). Every informer applies stripBookkeeping; pods can be narrowed further by slimPod.
import type { KubernetesObject } from "@kubernetes/client-node";

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

/** The object without its undefined fields, so a slimmed object compares and serialises like the original. */
function defined<T extends object>(o: T): T {
  for (const k of Object.keys(o) as (keyof T)[]) if (o[k] === undefined) delete o[k];
  return o;
}
