// `collab-operator run`: the operator process. Flags (each with a COLLAB_ environment variable) configure what to
// watch, how many workers reconcile, leader election, ports and images; the rest is the generic runtime.
import { randomBytes } from "node:crypto";
import type { Server } from "node:http";
import type { AddressInfo } from "node:net";
import type { CoreV1Event, KubernetesObject } from "@kubernetes/client-node";
import { pino } from "pino";
import { Registry } from "prom-client";
import { type CollabTrainingJob, GROUP, PLURAL, VERSION } from "../api/schema.ts";
import { KUEUE_WORKLOAD_API_VERSION, PODGROUP_API_VERSION } from "../children/gang.ts";
import { LABEL, MANAGED_BY } from "../children/meta.ts";
import { DEFAULT_OPERATOR_CONTEXT } from "../children/pods.ts";
import { Options } from "../cli/options.ts";
import {
  type Cache,
  Controller,
  EventRecorder,
  loadKubeConfig,
  Manager,
  type ObjectKey,
  sharedLines,
  slimPod,
  type WatchSpec,
} from "../runtime/index.ts";
import { registerJobMetrics } from "./job-metrics.ts";
import { CAPACITY_EVENT_REASONS } from "./plan/capacity.ts";
import { secretReferences } from "./plan/readiness.ts";
import { type Caches, JobReconciler } from "./reconciler.ts";
import { createReportServer } from "./report/server.ts";
import { parseStoredJob } from "./stored-job.ts";

const options = new Options("COLLAB", {
  kubeconfig: { flag: "kubeconfig", kind: "string", help: "kubeconfig file (default: $KUBECONFIG, else in-cluster)" },
  namespaces: { flag: "namespaces", kind: "string", help: "comma-separated namespaces to watch (default: all)" },
  workers: { flag: "workers", kind: "number", help: "jobs reconciled concurrently (default 4)" },
  leaderElect: { flag: "leader-elect", kind: "bool", help: "run only while holding the Lease (default true)" },
  leaderElectionNamespace: {
    flag: "leader-election-namespace",
    kind: "string",
    help: "namespace of the Lease (default: $POD_NAMESPACE, else default)",
  },
  leaderElectionId: { flag: "leader-election-id", kind: "string", help: "Lease name (default collab-operator)" },
  port: { flag: "port", kind: "number", help: "port of /healthz, /readyz and /metrics (default 8080)" },
  reportPort: {
    flag: "report-port",
    kind: "number",
    help: "port the gateway sidecars report usage and progress to (default 8081)",
  },
  operatorImage: {
    flag: "operator-image",
    kind: "string",
    help: `image of the gateway sidecars, this operator's own (default ${DEFAULT_OPERATOR_CONTEXT.operatorImage})`,
  },
  trainerImage: {
    flag: "trainer-image",
    kind: "string",
    help: `trainer image when a job names none (default ${DEFAULT_OPERATOR_CONTEXT.trainerImage})`,
  },
  trainerImageBigcodebench: {
    flag: "trainer-image-bigcodebench",
    kind: "string",
    help: `trainer image with bigcodebench, for jobs with the pass_rate metric that name none (default ${DEFAULT_OPERATOR_CONTEXT.bigcodebenchTrainerImage})`,
  },
  reportBaseUrl: {
    flag: "report-base-url",
    kind: "string",
    help: `URL the gateways reach the operator's report endpoint at (default ${DEFAULT_OPERATOR_CONTEXT.reportBaseURL})`,
  },
  resyncSeconds: {
    flag: "resync-seconds",
    kind: "number",
    help: "reconcile every job from the cache this often (default 300)",
  },
  logLevel: { flag: "log-level", kind: "string", help: "fatal|error|warn|info|debug (default info)" },
});

function help(): string {
  return [
    "usage: collab-operator run [flags]",
    "",
    "Runs the CollabTrainingJob operator against the cluster of the kubeconfig (or in-cluster).",
    "",
    ...options.helpRows(),
  ].join("\n");
}

export async function main(argv: string[]): Promise<number> {
  if (argv.includes("--help") || argv.includes("-h")) {
    process.stdout.write(`${help()}\n`);
    return 0;
  }
  let raw: ReturnType<typeof options.read>;
  try {
    raw = options.read(argv, process.env);
  } catch (err) {
    process.stderr.write(`collab-operator run: ${(err as Error).message}\n\n${help()}\n`);
    return 2;
  }
  const logger = pino({ level: raw.logLevel ?? "info", base: { component: "collab-operator" } });
  const kc = loadKubeConfig(raw.kubeconfig);
  const registry = new Registry();
  const namespaces = (raw.namespaces ?? "")
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean);
  const events = new EventRecorder({ kc, component: "collab-operator", instance: process.env.POD_NAME, logger });

  let controller: Controller | undefined;
  const caches = (): Caches => {
    const c = controller as Controller;
    const kinds = ["jobs", "pods", "configMaps", "services", "secrets", "volumeClaims"] as const;
    const one = Object.fromEntries(kinds.map((k) => [k, namespacedCache(c, k, namespaces)]));
    const podEvents = unionCache(CAPACITY_EVENT_REASONS.map((r) => namespacedCache(c, `podEvents.${r}`, namespaces)));
    const gang = {
      podGroups: namespacedCache(c, "podGroups", namespaces),
      kueueWorkloads: namespacedCache(c, "kueueWorkloads", namespaces),
    };
    return { ...one, podEvents, ...gang } as unknown as Caches;
  };
  const reconciler = new JobReconciler({
    kc,
    caches,
    events,
    // Whether the optional watches run: their APIs were served when the controller last started.
    served: () => {
      const c = controller as Controller;
      const watching = (kind: string) => c.watching(namespaces.length > 0 ? `${kind}@${namespaces[0]}` : kind);
      return { kueue: watching("kueueWorkloads"), podGroups: watching("podGroups") };
    },
    ctx: {
      operatorImage: raw.operatorImage ?? DEFAULT_OPERATOR_CONTEXT.operatorImage,
      trainerImage: raw.trainerImage ?? DEFAULT_OPERATOR_CONTEXT.trainerImage,
      bigcodebenchTrainerImage: raw.trainerImageBigcodebench ?? DEFAULT_OPERATOR_CONTEXT.bigcodebenchTrainerImage,
      reportBaseURL: raw.reportBaseUrl ?? DEFAULT_OPERATOR_CONTEXT.reportBaseURL,
    },
  });
  controller = new Controller({
    kc,
    name: "collabtrainingjob",
    watches: watches(namespaces, caches),
    reconciler,
    workers: options.number(raw, "workers", 4, 1),
    logger,
    metrics: registry,
    resyncMs: options.number(raw, "resyncSeconds", 300, 0) * 1000,
  });
  registerJobMetrics(registry, () => caches().jobs);
  const leaderElect = options.bool(raw, "leaderElect", true);
  let manager: Manager | undefined;
  // With two replicas behind one Service, a report may reach the standby: it passes it on to the leader, whose
  // report endpoint the leader writes on the Lease (docs/install.md, "The report endpoint").
  const reports = createReportServer({
    kc,
    caches,
    logger,
    registry,
    ...(leaderElect
      ? {
          routing: () => ({
            leading: manager?.isLeader() ?? false,
            leaderUrl: manager?.leaseHolder()?.annotations[REPORT_ENDPOINT_ANNOTATION],
          }),
        }
      : {}),
  });
  await new Promise<void>((resolve) => reports.listen(options.number(raw, "reportPort", 8081, 0), resolve));
  logger.info({ address: reports.address() }, "report endpoint listening");
  manager = new Manager({
    kc,
    logger,
    registry,
    controllers: [controller],
    port: options.number(raw, "port", 8080, 0),
    ...(leaderElect
      ? {
          leaderElection: {
            namespace: raw.leaderElectionNamespace ?? process.env.POD_NAMESPACE ?? "default",
            name: raw.leaderElectionId ?? "collab-operator",
            // The pod's name (as Events' reportingInstance) plus a suffix unique to this process, so the Lease
            // holder says which replica leads and a restarted pod of the same name is a new candidate.
            ...(process.env.POD_NAME ? { identity: `${process.env.POD_NAME}_${randomBytes(4).toString("hex")}` } : {}),
            holderAnnotations: () => ({ [REPORT_ENDPOINT_ANNOTATION]: advertisedUrl(reports) }),
          },
        }
      : {}),
  });
  manager.handleSignals();
  await manager.start();
  // Resolves only on failure: a clean shutdown exits the process from handleSignals.
  return manager.failed.then(
    () => 1,
    (err: unknown) => {
      logger.error({ err }, "controllers failed");
      return 1;
    },
  );
}

/** The Lease annotation where the leader says where its report endpoint is. */
export const REPORT_ENDPOINT_ANNOTATION = "collabllm.io/report-endpoint";

/** This replica's report endpoint as other replicas reach it: $POD_IP in a pod, loopback out of cluster. */
function advertisedUrl(server: Server): string {
  const ip = process.env.POD_IP || "127.0.0.1";
  const port = (server.address() as AddressInfo).port;
  return `http://${ip.includes(":") ? `[${ip}]` : ip}:${port}`;
}

/** Cache name -> core/v1 resource of each kind of child the operator labels. */
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

/** An index function: "namespace/name" of each object `names` reads from a stored job; none while it does not parse. */
const referencedBy =
  (names: (job: CollabTrainingJob) => string[]) =>
  (raw: KubernetesObject): string[] => {
    const parsed = parseStoredJob(raw);
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
function watches(namespaces: string[], caches: () => Caches): WatchSpec[] {
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
  return scopes.flatMap((ns) => {
    const suffix = ns ? `@${ns}` : "";
    return [
      {
        name: `jobs${suffix}`,
        listPath: path(ns, `/apis/${GROUP}/${VERSION}`, PLURAL),
        indexes: {
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
      ...CAPACITY_EVENT_REASONS.map((reason) => ({
        name: `podEvents.${reason}${suffix}`,
        listPath: path(ns, "/api/v1", "events"),
        fieldSelector: `involvedObject.kind=Pod,reason=${reason}`,
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
  });
}

/** A claim or a PodGroup as the planner reads it: whether it exists (and is going away). */
function metadataOnly(obj: KubernetesObject): KubernetesObject {
  const { name, namespace, uid, resourceVersion, labels, ownerReferences, deletionTimestamp } = obj.metadata ?? {};
  return {
    apiVersion: obj.apiVersion,
    kind: obj.kind,
    metadata: { name, namespace, uid, resourceVersion, labels, ownerReferences, deletionTimestamp },
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
