// Observation, in one place: what the controller watches (and how each event finds the jobs it concerns), what its
// caches keep of each object, and how a job's world in those caches becomes the Observed the planner reads
// (plan/observed.ts). The planner sees nothing else; the reconciler reads nothing else.

import type { CoreV1Event, KubernetesObject, V1ConfigMap, V1Pod, V1Secret, V1Service } from "@kubernetes/client-node";
import { CONDITION } from "../api/conditions.ts";
import { type CollabTrainingJob, GROUP, PLURAL, VERSION } from "../api/schema.ts";
import { timeText } from "../api/time.ts";
import { KUEUE_WORKLOAD_API_VERSION, PODGROUP_API_VERSION, type ServedApis } from "../children/gang.ts";
import { childName, LABEL, MANAGED_BY } from "../children/meta.ts";
import { SERVER_LABEL, SPEC_HASH_ANNOTATION } from "../children/serving.ts";
import { claimName } from "../children/support.ts";
import { type Cache, type Controller, type ObjectKey, sharedLines, slimPod, type WatchSpec } from "../runtime/index.ts";
import { CAPACITY_EVENTS } from "./plan/capacity.ts";
import type { KueueWorkload, Observed, PodEvent, PodGroupSeen, ServerSeen } from "./plan/observed.ts";
import { secretReferences } from "./plan/readiness.ts";
import { storedJob } from "./stored-job.ts";

export interface Caches {
  jobs: Cache;
  pods: Cache;
  configMaps: Cache;
  services: Cache;
  secrets: Cache;
  /** Every claim of the watched namespaces (metadata only): the operator's own and the ones jobs bring. */
  volumeClaims: Cache;
  /** Events about pods with the reasons the capacity policy reads (autoscalers, Karpenter). */
  podEvents: Cache;
  /** The job's native PodGroups (metadata only); empty when the cluster does not serve them. */
  podGroups: Cache;
  /** Kueue Workloads, reduced to owners and conditions; empty when the cluster does not serve them. */
  kueueWorkloads: Cache;
  /** The Deployments of the job's own model servers (metadata only). */
  deployments: Cache;
}

/** The caches, read through the controller that fills them (watching some namespaces or all). */
export function controllerCaches(controller: () => Controller, namespaces: string[]): () => Caches {
  return () => {
    const c = controller();
    const kinds = ["jobs", "pods", "configMaps", "services", "secrets", "volumeClaims"] as const;
    const one = Object.fromEntries(kinds.map((k) => [k, namespacedCache(c, k, namespaces)]));
    const podEvents = unionCache(
      CAPACITY_EVENTS.map(({ reason }) => namespacedCache(c, `podEvents.${reason}`, namespaces)),
    );
    const more = Object.fromEntries(
      (["podGroups", "kueueWorkloads", "deployments"] as const).map((k) => [k, namespacedCache(c, k, namespaces)]),
    );
    return { ...one, podEvents, ...more } as unknown as Caches;
  };
}

/** Which gang APIs the cluster serves: whether their optional watches run (their APIs were served at the last start). */
export function servedApis(controller: Controller, namespaces: string[]): ServedApis {
  const watching = (kind: string) => controller.watching(namespaces.length > 0 ? `${kind}@${namespaces[0]}` : kind);
  return { kueue: watching("kueueWorkloads"), podGroups: watching("podGroups") };
}

/** A job's world as the caches show it, for the planner: Secrets reduced to their key names, Events and Workloads to
 * the ones about the job's pods. */
export function observe(
  caches: Caches,
  key: ObjectKey,
  job: CollabTrainingJob,
  now: string,
  served: ServedApis,
): Observed {
  const pods = caches.pods.list(key.namespace, `${LABEL.job}=${key.name}`) as V1Pod[];
  const secrets = secretReferences(job).map(({ ref }) => ({
    name: ref.name,
    secret: caches.secrets.get(key.namespace, ref.name) as V1Secret | undefined,
  }));
  const secretKeys = Object.fromEntries(
    secrets.map(({ name, secret }) => [
      name,
      secret ? Object.keys({ ...secret.data, ...secret.stringData }) : undefined,
    ]),
  );
  const secretVersions = Object.fromEntries(
    secrets.map(({ name, secret }) => [
      name,
      secret ? `${secret.metadata?.uid}:${secret.metadata?.resourceVersion}` : undefined,
    ]),
  );
  const configMap = caches.configMaps.get(key.namespace, childName.config(key.name)) as V1ConfigMap | undefined;
  const service = caches.services.get(key.namespace, childName.rayService(key.name)) as V1Service | undefined;
  // By uid: an Event lives an hour, and may be about an earlier pod of the same name (a job deleted and re-created).
  const podUids = new Set(pods.map((p) => p.metadata?.uid));
  const podEvents = (caches.podEvents.list(key.namespace) as CoreV1Event[])
    .filter((e) => podUids.has(e.involvedObject?.uid))
    .map(podEvent);
  const podGroups = caches.podGroups.list(key.namespace, `${LABEL.job}=${key.name}`).map(
    (g): PodGroupSeen => ({
      name: g.metadata?.name ?? "",
      attempt: g.metadata?.labels?.[LABEL.attempt],
      deleting: g.metadata?.deletionTimestamp !== undefined,
    }),
  );
  const kueueWorkloads = (caches.kueueWorkloads.list(key.namespace) as unknown as KueueWorkloadObject[])
    .map(kueueWorkload)
    .filter((w) => w.podUids.some((uid) => podUids.has(uid)));
  const ofJob = `${LABEL.job}=${key.name},${SERVER_LABEL}`;
  const servers: ServerSeen[] = [
    ...caches.deployments.list(key.namespace, ofJob).map((d) => serverSeen("Deployment", d)),
    ...caches.services.list(key.namespace, ofJob).map((svc) => serverSeen("Service", svc)),
  ];
  return {
    job,
    pods,
    secretKeys,
    secretVersions,
    configMapData: configMap?.data,
    serviceSelector: service ? (service.spec?.selector ?? {}) : undefined,
    tokenSecretExists: caches.secrets.get(key.namespace, childName.token(key.name)) !== undefined,
    claimExists: caches.volumeClaims.get(key.namespace, claimName(job)) !== undefined,
    podEvents,
    served,
    podGroups,
    kueueWorkloads,
    servers,
    now,
  };
}

function serverSeen(kind: ServerSeen["kind"], obj: KubernetesObject): ServerSeen {
  return {
    kind,
    name: obj.metadata?.name ?? "",
    specHash: obj.metadata?.annotations?.[SPEC_HASH_ANNOTATION],
  };
}

function podEvent(e: CoreV1Event): PodEvent {
  const time = e.lastTimestamp ?? e.eventTime ?? e.firstTimestamp ?? e.metadata?.creationTimestamp;
  return {
    pod: e.involvedObject?.name ?? "",
    reason: e.reason ?? "",
    message: e.message ?? "",
    component: e.source?.component ?? e.reportingComponent ?? "",
    time: timeText(time) ?? "",
  };
}

/** A Kueue Workload (kueue.x-k8s.io/v1beta2) as the informer keeps it: owners and conditions. */
export interface KueueWorkloadObject {
  metadata?: { name?: string; ownerReferences?: { kind?: string; uid?: string }[] };
  status?: { conditions?: { type?: string; status?: string; reason?: string; message?: string }[] };
}

export function kueueWorkload(w: KueueWorkloadObject): KueueWorkload {
  return {
    name: w.metadata?.name ?? "",
    podUids: (w.metadata?.ownerReferences ?? []).filter((o) => o.kind === "Pod").map((o) => o.uid ?? ""),
    conditions: (w.status?.conditions ?? []).map((c) => ({
      type: c.type ?? "",
      status: c.status ?? "",
      reason: c.reason ?? "",
      message: c.message ?? "",
    })),
  };
}

/** Cache name -> core/v1 resource of each kind of child the operator labels (server Deployments are apps/v1's). */
const CHILD_RESOURCES = {
  pods: "pods",
  configMaps: "configmaps",
  services: "services",
} as const;

/**
 * What the cache keeps of each kind of child beyond what every cache drops (managedFields): pods as slimPod keeps
 * them; ConfigMaps whole, since the planner compares their data, with the files stored as shared lines (the scripts
 * of two jobs differ in the job's name).
 */
const CHILD_TRANSFORMS: Record<string, { transform?: (obj: KubernetesObject) => KubernetesObject }> = {
  pods: { transform: slimPod },
  configmaps: { transform: sharedLines("data") },
};

const CHILD_SELECTOR = Object.entries(MANAGED_BY)
  .map(([k, v]) => `${k}=${v}`)
  .join(",");

/** The jobs indexes of what each references by name, as "namespace/name" (a Secret, a claim). */
const REFERENCES = { secrets: "referencedSecrets", claims: "referencedClaims" } as const;
/**
 * The jobs index of those a refused child holds back (ChildrenCreated=False), by namespace: a change to the
 * namespace's ResourceQuotas or LimitRanges, or to a PriorityClass, wakes them at once instead of at their backoff.
 */
const REFUSED_IN = "refusedIn";

/** The index value of every refused job, for a change to a cluster-wide object (a PriorityClass). */
const ANY_NAMESPACE = "*";

const refusedIn = (raw: KubernetesObject): string[] => {
  const conditions = (raw as { status?: { conditions?: { type?: string; status?: string }[] } }).status?.conditions;
  const refused = conditions?.some((c) => c.type === CONDITION.childrenCreated && c.status === "False");
  return refused ? [raw.metadata?.namespace ?? "", ANY_NAMESPACE] : [];
};

/** An index function: "namespace/name" of each object `names` reads from a stored job; none while it does not parse. */
const referencedBy =
  (names: (job: CollabTrainingJob) => string[]) =>
  (raw: KubernetesObject): string[] => {
    const parsed = storedJob(raw);
    if (!parsed.ok) return [];
    const ns = raw.metadata?.namespace ?? "";
    return [...new Set(names(parsed.job).map((name) => `${ns}/${name}`))];
  };

/**
 * What the controller watches: jobs, the children it labels, Secrets and claims (a job waits for the ones it
 * references), the Events autoscalers write about pods (why a job waits for capacity) and the gang APIs when served.
 * Every event wakes exactly the jobs it concerns, found without a scan: a child through its job label, a Secret or
 * a claim through the jobs' index of what they reference, an Event or a Workload through its pod. Children are
 * indexed by that label, so a reconcile finds its pods in the index; pods are cached as slimPod keeps them. Only the
 * jobs watch resyncs: any other's resync would wake the same jobs again.
 */
export function watches(namespaces: string[], caches: () => Caches): WatchSpec[] {
  const scopes = namespaces.length > 0 ? namespaces : [undefined];
  const path = (ns: string | undefined, group: string, resource: string) =>
    `${group}${ns ? `/namespaces/${ns}` : ""}/${resource}`;
  const ownerKey = (obj: KubernetesObject): ObjectKey[] => {
    const job = obj.metadata?.labels?.[LABEL.job];
    return job && obj.metadata?.namespace ? [{ namespace: obj.metadata.namespace, name: job }] : [];
  };
  /** The jobs of obj's namespace whose spec names obj (a Secret or a claim), from the jobs index `index`. */
  const referencing =
    (index: string) =>
    (obj: KubernetesObject): ObjectKey[] => {
      const ns = obj.metadata?.namespace ?? "";
      const referrers = caches()
        .jobs.byIndex(index, `${ns}/${obj.metadata?.name ?? ""}`)
        .map((j) => ({ namespace: ns, name: j.metadata?.name ?? "" }));
      return [...ownerKey(obj), ...referrers];
    };
  /** The jobs of obj's namespace (or every namespace's, for a cluster-wide obj) that a refused child holds back. */
  const refusedJobs = (obj: KubernetesObject): ObjectKey[] =>
    caches()
      .jobs.byIndex(REFUSED_IN, obj.metadata?.namespace ?? ANY_NAMESPACE)
      .map((j) => ({ namespace: j.metadata?.namespace ?? "", name: j.metadata?.name ?? "" }));
  /** The jobs of the pods that own obj (a Kueue Workload is owned by the pods of its group). */
  const podOwnersKeys = (obj: KubernetesObject): ObjectKey[] => {
    const ns = obj.metadata?.namespace ?? "";
    return (obj.metadata?.ownerReferences ?? [])
      .filter((o) => o.kind === "Pod")
      .flatMap((o) => {
        const pod = caches().pods.get(ns, o.name);
        return pod ? ownerKey(pod) : [];
      });
  };
  /** An Event's job: the one whose pod it is about. */
  const eventKey = (obj: KubernetesObject): ObjectKey[] => {
    const event = obj as CoreV1Event;
    const ns = event.involvedObject?.namespace ?? obj.metadata?.namespace ?? "";
    const pod = caches().pods.get(ns, event.involvedObject?.name ?? "");
    return pod ? ownerKey(pod) : [];
  };
  return scopes
    .flatMap((ns) => {
      const suffix = ns ? `@${ns}` : "";
      return [
        {
          name: `jobs${suffix}`,
          listPath: path(ns, `/apis/${GROUP}/${VERSION}`, PLURAL),
          indexes: {
            [REFUSED_IN]: refusedIn,
            [REFERENCES.secrets]: referencedBy((job) => secretReferences(job).map(({ ref }) => ref.name)),
            [REFERENCES.claims]: referencedBy((job) =>
              job.spec.storage.existingClaim ? [job.spec.storage.existingClaim] : [],
            ),
          },
          toKeys: (o: KubernetesObject) => [{ namespace: o.metadata?.namespace ?? "", name: o.metadata?.name ?? "" }],
        },
        // The children, found by the label every one of them carries; a change wakes their job. The jobs watch's
        // resync reconciles every job; one of the children's or Secrets' would only wake the same jobs again.
        ...Object.entries(CHILD_RESOURCES).map(([cache, resource]) => ({
          name: `${cache}${suffix}`,
          listPath: path(ns, "/api/v1", resource),
          labelSelector: CHILD_SELECTOR,
          indexLabels: [LABEL.job],
          resync: false,
          ...CHILD_TRANSFORMS[resource],
          toKeys: ownerKey,
        })),
        {
          name: `secrets${suffix}`,
          listPath: path(ns, "/api/v1", "secrets"),
          transform: keysOnlyUnlessOurs,
          // A new value changes only the version of what is cached (the keys), and the preflight runs again on it.
          reportVersionOnlyUpdates: true,
          resync: false,
          toKeys: referencing(REFERENCES.secrets),
        },
        // Every claim, not only the operator's: a job that brings its own waits until it exists.
        {
          name: `volumeClaims${suffix}`,
          listPath: path(ns, "/api/v1", "persistentvolumeclaims"),
          transform: metadataOnly,
          resync: false,
          toKeys: referencing(REFERENCES.claims),
        },
        ...CAPACITY_EVENTS.map(({ reason, source }) => ({
          name: `podEvents.${reason}${suffix}`,
          listPath: path(ns, "/api/v1", "events"),
          fieldSelector: `involvedObject.kind=Pod,reason=${reason}${source ? `,source=${source}` : ""}`,
          transform: eventEssentials,
          resync: false,
          toKeys: eventKey,
        })),
        // The gang APIs, watched only when the cluster serves them (the operator's gang policy then knows it does).
        {
          name: `podGroups${suffix}`,
          listPath: path(ns, `/apis/${PODGROUP_API_VERSION}`, "podgroups"),
          labelSelector: CHILD_SELECTOR,
          transform: metadataOnly,
          resync: false,
          toKeys: ownerKey,
          ifServed: { apiVersion: PODGROUP_API_VERSION, kind: "PodGroup" },
        },
        // What lets a refused child through once fixed: the namespace's quotas and limits, watched so the jobs they
        // held back go on at once rather than at their next retry (a minute at most). Their names are enough.
        ...(["resourcequotas", "limitranges"] as const).map((resource) => ({
          name: `${resource}${suffix}`,
          listPath: path(ns, "/api/v1", resource),
          transform: metadataOnly,
          reportVersionOnlyUpdates: true,
          resync: false,
          toKeys: refusedJobs,
        })),
        // The job's own model servers (spec.<role>.serve): metadata only, for the hash of what was applied.
        {
          name: `deployments${suffix}`,
          listPath: path(ns, "/apis/apps/v1", "deployments"),
          labelSelector: CHILD_SELECTOR,
          indexLabels: [LABEL.job],
          transform: metadataOnly,
          resync: false,
          toKeys: ownerKey,
        },
        // Kueue's Workloads carry no label of ours: all of the namespace's, reduced to owners and conditions.
        {
          name: `kueueWorkloads${suffix}`,
          listPath: path(ns, `/apis/${KUEUE_WORKLOAD_API_VERSION}`, "workloads"),
          transform: workloadEssentials,
          resync: false,
          toKeys: podOwnersKeys,
          ifServed: { apiVersion: KUEUE_WORKLOAD_API_VERSION, kind: "Workload" },
        },
      ];
    })
    .concat(
      // PriorityClasses are cluster-wide: watched in cluster-wide mode only, whose ClusterRole may read them (in
      // namespaced mode a job refused for a missing one goes on at its next retry).
      namespaces.length > 0
        ? []
        : [
            {
              name: "priorityClasses",
              listPath: "/apis/scheduling.k8s.io/v1/priorityclasses",
              transform: metadataOnly,
              resync: false,
              toKeys: refusedJobs,
            },
          ],
    );
}

/**
 * A claim, a PodGroup or a server's Deployment as the planner reads it: whether it exists (and is going away), and
 * the hash of what the operator applied.
 */
function metadataOnly(obj: KubernetesObject): KubernetesObject {
  const { name, namespace, uid, resourceVersion, labels, ownerReferences, deletionTimestamp } = obj.metadata ?? {};
  const hash = obj.metadata?.annotations?.[SPEC_HASH_ANNOTATION];
  return {
    apiVersion: obj.apiVersion,
    kind: obj.kind,
    metadata: {
      name,
      namespace,
      uid,
      resourceVersion,
      labels,
      ownerReferences,
      deletionTimestamp,
      ...(hash ? { annotations: { [SPEC_HASH_ANNOTATION]: hash } } : {}),
    },
  } as KubernetesObject;
}

/** A Kueue Workload as the queue policy reads it: the pods that own it and its conditions. */
function workloadEssentials(obj: KubernetesObject): KubernetesObject {
  const w = obj as KubernetesObject & { status?: { conditions?: Record<string, unknown>[] } };
  const { name, namespace, uid, resourceVersion, ownerReferences } = w.metadata ?? {};
  return {
    apiVersion: w.apiVersion,
    kind: w.kind,
    metadata: {
      name,
      namespace,
      uid,
      resourceVersion,
      ownerReferences: ownerReferences?.map(({ apiVersion, kind, name, uid }) => ({ apiVersion, kind, name, uid })),
    },
    status: {
      conditions: (w.status?.conditions ?? []).map(({ type, status, reason, message }) => ({
        type,
        status,
        reason,
        message,
      })),
    },
  } as KubernetesObject;
}

/** An Event as the capacity policy reads it. */
function eventEssentials(obj: KubernetesObject): KubernetesObject {
  const e = obj as CoreV1Event;
  const { name, namespace, uid, resourceVersion, creationTimestamp } = e.metadata ?? {};
  return {
    apiVersion: e.apiVersion,
    kind: e.kind,
    metadata: { name, namespace, uid, resourceVersion, creationTimestamp },
    involvedObject: {
      kind: e.involvedObject?.kind,
      namespace: e.involvedObject?.namespace,
      name: e.involvedObject?.name,
      uid: e.involvedObject?.uid,
    },
    reason: e.reason,
    message: e.message,
    source: e.source,
    reportingComponent: e.reportingComponent,
    firstTimestamp: e.firstTimestamp,
    lastTimestamp: e.lastTimestamp,
    eventTime: e.eventTime,
  } as KubernetesObject;
}

/**
 * The operator needs only the key names of its users' Secrets (does the referenced key exist?): their values are
 * dropped before caching, so they never sit in its memory. Its own token Secrets keep their value, which the report
 * endpoint compares bearer tokens against.
 */
export function keysOnlyUnlessOurs(obj: KubernetesObject): KubernetesObject {
  const secret = obj as KubernetesObject & { data?: Record<string, string>; stringData?: Record<string, string> };
  const ours = Object.entries(MANAGED_BY).every(([k, v]) => secret.metadata?.labels?.[k] === v);
  if (ours) return secret;
  const { data, stringData: _never, ...rest } = secret;
  return { ...rest, data: Object.fromEntries(Object.keys(data ?? {}).map((k) => [k, ""])) } as KubernetesObject;
}

/** One kind's cache across the watched namespaces (a single cache when watching all). */
function namespacedCache(controller: Controller, kind: string, namespaces: string[]): Cache {
  if (namespaces.length === 0) return controller.cache(kind);
  const of = (ns: string) => (namespaces.includes(ns) ? controller.cache(`${kind}@${ns}`) : undefined);
  return {
    get: (ns, name) => of(ns)?.get(ns, name),
    list: (ns, selector) =>
      ns !== undefined
        ? (of(ns)?.list(ns, selector) ?? [])
        : namespaces.flatMap((n) => controller.cache(`${kind}@${n}`).list(n, selector)),
    byIndex: (index, value) => namespaces.flatMap((n) => controller.cache(`${kind}@${n}`).byIndex(index, value)),
    hasSynced: () => namespaces.every((n) => controller.cache(`${kind}@${n}`).hasSynced()),
  };
}

/** Several caches read as one (the same kind watched through several field selectors). */
function unionCache(parts: Cache[]): Cache {
  return {
    get: (ns, name) => parts.map((p) => p.get(ns, name)).find((o) => o !== undefined),
    list: (ns, selector) => parts.flatMap((p) => p.list(ns, selector)),
    byIndex: (index, value) => parts.flatMap((p) => p.byIndex(index, value)),
    hasSynced: () => parts.every((p) => p.hasSynced()),
  };
}
