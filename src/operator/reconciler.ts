// The CollabTrainingJob reconciler's shell: reads the caches, asks the pure planner what to do, does it. It knows
// which objects to write, never why; the why is in plan.ts.
import { randomBytes } from "node:crypto";
import type { CoreV1Event, KubernetesObject, V1ConfigMap, V1Pod, V1Secret, V1Service } from "@kubernetes/client-node";
import type { Logger } from "pino";
import { CONDITION } from "../api/conditions.ts";
import { API_VERSION, type CollabTrainingJob, KIND, type Status } from "../api/schema.ts";
import { storedStatus } from "../api/stored.ts";
import { PODGROUP_API_VERSION, type ServedApis } from "../children/gang.ts";
import { childName, FIELD_MANAGER, jobName, LABEL } from "../children/meta.ts";
import type { OperatorContext } from "../children/pods.ts";
import { tokenSecret } from "../children/support.ts";
import { setCondition } from "../kube/conditions.ts";
import { sameData } from "../kube/json.ts";
import { rfc3339, timeText } from "../kube/time.ts";
import {
  applyObject,
  type Cache,
  deleteObject,
  type EventRecorder,
  type KubeConfig,
  type ObjectKey,
  patchStatus,
  type ReconcileResult,
  type Reconciler,
  request,
  statusCode,
} from "../runtime/index.ts";
import type { KueueWorkload } from "./plan/kueue.ts";
import type { PodEvent, PodGroupSeen } from "./plan/observed.ts";
import { type Observed, type OwnedStatus, plan } from "./plan/plan.ts";
import { secretReferences } from "./plan/readiness.ts";
import { isRejection, type Rejection } from "./plan/rejection.ts";
import { ownConditions } from "./plan/status.ts";
import { parseStoredJob } from "./stored-job.ts";

export const STATUS_MANAGER = "collab-operator-status";

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
}

export class JobReconciler implements Reconciler {
  readonly #kc: KubeConfig;
  readonly #caches: () => Caches;
  readonly #ctx: OperatorContext;
  readonly #served: () => ServedApis;
  readonly #events: EventRecorder;
  readonly #now: () => Date;
  /** Each job as this process's last status write returned it: read-your-writes over a cache that may lag. */
  readonly #written = new Map<string, KubernetesObject>();

  constructor(opts: {
    kc: KubeConfig;
    caches: () => Caches;
    ctx: OperatorContext;
    /** Which gang APIs the cluster serves (API discovery when the controller started). */
    served: () => ServedApis;
    events: EventRecorder;
    now?: () => Date;
  }) {
    this.#kc = opts.kc;
    this.#caches = opts.caches;
    this.#ctx = opts.ctx;
    this.#served = opts.served;
    this.#events = opts.events;
    this.#now = opts.now ?? (() => new Date());
  }

  async reconcile(key: ObjectKey, signal: AbortSignal, logger: Logger): Promise<ReconcileResult | undefined> {
    const caches = this.#caches();
    const id = `${key.namespace}/${key.name}`;
    const raw = fresher(caches.jobs.get(key.namespace, key.name), this.#written.get(id));
    if (raw !== this.#written.get(id)) this.#written.delete(id);
    // Deleted: garbage collection removes the children through their owner references.
    if (!raw || raw.metadata?.deletionTimestamp) return undefined;
    const now = rfc3339(this.#now());
    // Lenient: fields this operator does not know (a newer CRD) are ignored; only a spec it cannot use fails the job.
    const parsed = parseStoredJob(raw);
    if (parsed.ignored.length > 0) logger.debug({ ignored: parsed.ignored }, "fields this operator does not know");
    if (!parsed.ok) {
      // Admission normally catches this; a job stored before a stricter CRD still must not crash or hot-loop us.
      const message = parsed.errors.map((e) => `${e.field}: ${e.message}`).join("; ");
      await this.#writeInvalid(raw, message, now, signal);
      return undefined;
    }
    const job = parsed.job;
    const observed = this.#observe(caches, key, job, now);
    let p = plan(observed, this.#ctx);
    const rejection = await this.#carryOut(raw, job, p, signal, logger);
    // Refused: the status written must say so, so plan again knowing it (pure; no apply is repeated).
    if (rejection) p = plan(observed, this.#ctx, { rejection });
    if (!sameOwnedStatus(job.status, p.status)) {
      this.#written.set(id, await patchStatus(this.#kc, jobRef(key), p.status, STATUS_MANAGER, { signal }));
    }
    // Deletions follow the status that decided them (a restart's next attempt, Failed, Suspended), which plans them
    // again by itself. The other way round, a kill in between leaves pods gone that the status still counts: a new
    // life would take the operator's own deletions for lost pods, and a counted restart for a disruption.
    for (const name of p.deletePods) {
      await deleteObject(this.#kc, { apiVersion: "v1", kind: "Pod", namespace: key.namespace, name }, { signal });
      logger.info({ child: name }, "deleted pod");
    }
    for (const name of p.deletePodGroups) {
      const ref = { apiVersion: PODGROUP_API_VERSION, kind: "PodGroup", namespace: key.namespace, name };
      await deleteObject(this.#kc, ref, { signal });
      logger.info({ child: name }, "deleted the PodGroup of an earlier attempt");
    }
    for (const e of p.events) void this.#events.record(raw, e.type, e.reason, e.message);
    if (p.deleteJob) {
      const ref = { ...jobRef(key) };
      await deleteObject(this.#kc, ref, { uid: job.metadata.uid as string, signal });
      logger.info("deleted the finished job: its ttlSecondsAfterFinished ran out");
      return undefined;
    }
    return p.requeueAfterMs !== undefined ? { requeueAfterMs: p.requeueAfterMs } : undefined;
  }

  #observe(caches: Caches, key: ObjectKey, job: CollabTrainingJob, now: string): Observed {
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
    const claimName = job.spec.storage.existingClaim ?? childName.volume(key.name);
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
    return {
      job,
      pods,
      secretKeys,
      secretVersions,
      configMapData: configMap?.data,
      serviceSelector: service ? (service.spec?.selector ?? {}) : undefined,
      tokenSecretExists: caches.secrets.get(key.namespace, childName.token(key.name)) !== undefined,
      claimExists: caches.volumeClaims.get(key.namespace, claimName) !== undefined,
      podEvents,
      served: this.#served(),
      podGroups,
      kueueWorkloads,
      now,
    };
  }

  /**
   * Creates the token and applies the children in order. A child the apiserver refuses stops the pass (what follows
   * depends on it) and is returned, for the status to say; other errors throw, and the queue retries with backoff.
   */
  async #carryOut(
    raw: KubernetesObject,
    job: CollabTrainingJob,
    p: ReturnType<typeof plan>,
    signal: AbortSignal,
    logger: Logger,
  ): Promise<Rejection | undefined> {
    if (p.createTokenSecret) {
      const refused = await refusal("Secret", childName.token(jobName(job)), () => this.#createToken(job, signal));
      if (refused) return refused;
    }
    for (const { kind, name, object } of p.apply) {
      const refused = await refusal(kind, name, () =>
        applyObject(this.#kc, object as KubernetesObject, FIELD_MANAGER, { signal }),
      );
      if (refused) {
        logger.warn({ kind, child: name, code: refused.code, message: refused.message }, "child refused");
        return refused;
      }
      logger.info({ kind, child: name }, "applied");
      if (kind === "Pod") void this.#events.record(raw, "Normal", "CreatedPod", `created pod ${name}`);
    }
    return undefined;
  }

  /** The token's value is made here, once: a pure planner cannot make randomness, and it must never change. */
  async #createToken(job: CollabTrainingJob, signal: AbortSignal): Promise<void> {
    const secret = tokenSecret(job, randomBytes(32).toString("base64url"));
    try {
      await request(this.#kc, {
        method: "POST",
        path: `/api/v1/namespaces/${job.metadata.namespace}/secrets`,
        body: secret,
        signal,
      });
    } catch (err) {
      if (statusCode(err) !== 409) throw err; // another reconcile (or a previous life) made it: keep that one
    }
  }

  async #writeInvalid(raw: KubernetesObject, message: string, now: string, signal: AbortSignal): Promise<void> {
    const previous = storedStatus(raw);
    const generation = raw.metadata?.generation;
    // Failed as well as Stalled, so `kubectl wait --for=condition=Failed` returns for it like for any failed job.
    const conditions = [CONDITION.stalled, CONDITION.failed].reduce(
      (all, type) => setCondition(all, { type, status: "True", reason: "InvalidSpec", message }, now, generation),
      ownConditions(previous.conditions),
    );
    const status: OwnedStatus = {
      ...ownedPart(previous),
      phase: "Failed",
      conditions,
      message,
      observedGeneration: generation,
    };
    if (sameOwnedStatus(previous, status)) return;
    await patchStatus(
      this.#kc,
      jobRef({ namespace: raw.metadata?.namespace ?? "", name: raw.metadata?.name ?? "" }),
      status,
      STATUS_MANAGER,
      { signal },
    );
    void this.#events.record(raw, "Warning", "InvalidSpec", message);
  }
}

/**
 * The newer of the cached job and the one our last status write returned. The cache can lag behind our own write (the
 * job's watch event may come after a pod's): a reconcile on the older status would decide again what the last one
 * already decided, and differently (say, a second pod "lost" that the first reconcile deleted). As client-go's
 * IntegerResourceVersionMutationCache, resourceVersions are compared as integers (etcd revisions); anything else,
 * a different uid, or a cache as new as the write, and the cache wins.
 */
export function fresher(
  cached: KubernetesObject | undefined,
  written: KubernetesObject | undefined,
): KubernetesObject | undefined {
  if (!cached || !written || written.metadata?.uid !== cached.metadata?.uid) return cached;
  const mine = Number(written.metadata?.resourceVersion);
  const theirs = Number(cached.metadata?.resourceVersion);
  return Number.isSafeInteger(mine) && Number.isSafeInteger(theirs) && mine > theirs ? written : cached;
}

/** The object reference status patches of a job go to. */
export function jobRef(key: ObjectKey) {
  return { apiVersion: API_VERSION, kind: KIND, namespace: key.namespace, name: key.name };
}

function ownedPart(status: Status | undefined): OwnedStatus {
  const { progress: _progress, usage: _usage, conditions, ...owned } = status ?? {};
  return { ...owned, ...(conditions ? { conditions: ownConditions(conditions) } : {}) };
}

/** Compares as JSON so undefined fields and key order do not count as a change. */
function sameOwnedStatus(current: Status | undefined, next: OwnedStatus): boolean {
  return sameData(ownedPart(current), next);
}

/** Runs `write`; a refusal (4xx but conflicts and throttling) is returned as a Rejection, anything else thrown. */
async function refusal(kind: string, name: string, write: () => Promise<unknown>): Promise<Rejection | undefined> {
  try {
    await write();
    return undefined;
  } catch (err) {
    const code = statusCode(err);
    if (!isRejection(code)) throw err;
    const body = apiStatusBody(err);
    return {
      kind,
      name,
      code,
      message: body.message ?? String(err),
      fields: (body.details?.causes ?? []).flatMap((c) => (c.field ? [c.field] : [])),
    };
  }
}

function apiStatusBody(err: unknown): { message?: string; details?: { causes?: { field?: string }[] } } {
  const body = (err as { body?: unknown }).body;
  if (body && typeof body === "object") return body as { message?: string };
  if (typeof body === "string") {
    try {
      return JSON.parse(body) as { message?: string };
    } catch {
      return { message: body };
    }
  }
  return {};
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
