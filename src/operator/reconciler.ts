// The CollabTrainingJob reconciler's shell, in the order it acts: observe (observe.ts), plan (plan/plan.ts, pure),
// apply the children, write the status (once), delete what the status decided away, record the Events. It knows
// which objects to write, never why; the why is in plan/.
import { randomBytes } from "node:crypto";
import type { KubernetesObject } from "@kubernetes/client-node";
import type { Logger } from "pino";
import { CONDITION } from "../api/conditions.ts";
import type { CollabTrainingJob, Status } from "../api/schema.ts";
import { storedStatus } from "../api/stored.ts";
import { rfc3339 } from "../api/time.ts";
import { PODGROUP_API_VERSION, type ServedApis } from "../children/gang.ts";
import { childName, FIELD_MANAGER, jobName } from "../children/meta.ts";
import type { OperatorContext } from "../children/pods.ts";
import { tokenSecret } from "../children/support.ts";
import { setCondition } from "../kube/conditions.ts";
import { sameData } from "../kube/json.ts";
import {
  applyObject,
  deleteObject,
  type EventRecorder,
  type KubeConfig,
  type ObjectKey,
  type ReconcileResult,
  type Reconciler,
  request,
  statusCode,
} from "../runtime/index.ts";
import { jobRef, STATUS_MANAGER, writeJobStatus } from "./job-status.ts";
import { type Caches, observe } from "./observe.ts";
import type { PlannedEvent } from "./plan/observed.ts";
import { type OwnedStatus, type Plan, plan } from "./plan/plan.ts";
import { isRejection, type Rejection } from "./plan/rejection.ts";
import { ownConditions } from "./plan/status.ts";
import { storedJob } from "./stored-job.ts";

/** What carrying out a plan's applies came to: the pods created, and the child the apiserver refused, if any. */
interface Applied {
  createdPods: string[];
  rejection: Rejection | undefined;
}

/** Long enough for the cache to show a deletion. */
const DELETED_MEMORY_MS = 30_000;

export class JobReconciler implements Reconciler {
  readonly #kc: KubeConfig;
  readonly #caches: () => Caches;
  readonly #ctx: OperatorContext;
  readonly #served: () => ServedApis;
  readonly #events: EventRecorder;
  readonly #now: () => Date;
  /** Each job as this process's last status write returned it: read-your-writes over a cache that may lag. */
  readonly #written = new Map<string, KubernetesObject>();
  /**
   * The children this process deleted lately, by namespace/kind/name/uid, with when: the next reconcile may come before
   * the cache shows them terminating, and would delete (and log) them again. Forgotten after DELETED_MEMORY_MS.
   */
  readonly #deleted = new Map<string, number>();

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
    const raw = this.#current(key);
    // Deleted: garbage collection removes the children through their owner references.
    if (!raw || raw.metadata?.deletionTimestamp) return undefined;
    const now = rfc3339(this.#now());
    // Lenient: fields this operator does not know (a newer CRD) are ignored; only a spec it cannot use fails the job.
    const parsed = storedJob(raw);
    if (parsed.ignored.length > 0) logger.debug({ ignored: parsed.ignored }, "fields this operator does not know");
    if (!parsed.ok) {
      // Admission normally catches this; a job stored before a stricter CRD still must not crash or hot-loop us.
      const message = parsed.errors.map((e) => `${e.field}: ${e.message}`).join("; ");
      await this.#writeInvalid(raw, message, now, signal);
      return undefined;
    }
    const job = parsed.job;

    const observed = observe(this.#caches(), key, job, now, this.#served());
    const planned = plan(observed, this.#ctx);
    const applied = await this.#apply(job, planned, signal, logger);
    // Refused: the status written must say so, so plan again knowing it (pure; no apply is repeated).
    const p = applied.rejection ? plan(observed, this.#ctx, { rejection: applied.rejection }) : planned;
    if (!sameOwnedStatus(job.status, p.status)) {
      this.#written.set(
        `${key.namespace}/${key.name}`,
        await writeJobStatus(this.#kc, key, p.status, STATUS_MANAGER, signal),
      );
    }
    // Deletions follow the status that decided them (a restart's next attempt, Failed, Suspended), which plans them
    // again by itself. The other way round, a kill in between leaves pods gone that the status still counts: a new
    // life would take the operator's own deletions for lost pods, and a counted restart for a disruption.
    await this.#delete(key, job, p, signal, logger);
    // Events last: each tells of something the status now shows, or of a pod that now exists.
    const created = applied.createdPods.map(
      (name): PlannedEvent => ({ type: "Normal", reason: "CreatedPod", message: `created pod ${name}` }),
    );
    for (const e of [...created, ...p.events]) void this.#events.record(raw, e.type, e.reason, e.message);
    if (p.deleteJob) return undefined;
    return p.requeueAfterMs !== undefined ? { requeueAfterMs: p.requeueAfterMs } : undefined;
  }

  /** The job as the cache shows it, or as this process last wrote it when that is newer. */
  #current(key: ObjectKey): KubernetesObject | undefined {
    const id = `${key.namespace}/${key.name}`;
    const raw = fresher(this.#caches().jobs.get(key.namespace, key.name), this.#written.get(id));
    if (raw !== this.#written.get(id)) this.#written.delete(id);
    return raw;
  }

  /**
   * Creates the token and applies the children in order. A child the apiserver refuses stops the pass (what follows
   * depends on it) and is returned, for the status to say; other errors throw, and the queue retries with backoff.
   */
  async #apply(job: CollabTrainingJob, p: Plan, signal: AbortSignal, logger: Logger): Promise<Applied> {
    const createdPods: string[] = [];
    if (p.createTokenSecret) {
      const rejection = await refusal("Secret", childName.token(jobName(job)), () => this.#createToken(job, signal));
      if (rejection) return { createdPods, rejection };
    }
    for (const { kind, name, object } of p.apply) {
      const rejection = await refusal(kind, name, () =>
        applyObject(this.#kc, object as KubernetesObject, FIELD_MANAGER, { signal }),
      );
      if (rejection) {
        logger.warn({ kind, child: name, code: rejection.code, message: rejection.message }, "child refused");
        return { createdPods, rejection };
      }
      logger.info({ kind, child: name }, "applied");
      if (kind === "Pod") createdPods.push(name);
    }
    return { createdPods, rejection: undefined };
  }

  /** The plan's deletions: pods, the PodGroups of earlier attempts, and the job itself once its TTL ran out. */
  async #delete(key: ObjectKey, job: CollabTrainingJob, p: Plan, signal: AbortSignal, logger: Logger): Promise<void> {
    const now = Date.now();
    for (const [child, at] of this.#deleted) if (now - at > DELETED_MEMORY_MS) this.#deleted.delete(child);
    const caches = this.#caches();
    const children = [
      ...p.deletePods.map((name) => ({
        apiVersion: "v1",
        kind: "Pod",
        name,
        uid: caches.pods.get(key.namespace, name)?.metadata?.uid,
        said: "deleted pod",
      })),
      ...p.deletePodGroups.map((name) => ({
        apiVersion: PODGROUP_API_VERSION,
        kind: "PodGroup",
        name,
        uid: caches.podGroups.get(key.namespace, name)?.metadata?.uid,
        said: "deleted the PodGroup of an earlier attempt",
      })),
    ];
    for (const { apiVersion, kind, name, uid, said } of children) {
      // By uid: a pod made again under the same name (a preflight pod evicted twice) is a new one to delete.
      const id = `${key.namespace}/${kind}/${name}/${uid}`;
      if (this.#deleted.has(id)) continue;
      await deleteObject(this.#kc, { apiVersion, kind, namespace: key.namespace, name }, { signal });
      this.#deleted.set(id, now);
      logger.info({ child: name }, said);
    }
    if (p.deleteJob) {
      await deleteObject(this.#kc, jobRef(key), { uid: job.metadata.uid as string, signal });
      logger.info("deleted the finished job: its ttlSecondsAfterFinished ran out");
    }
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
    const key = { namespace: raw.metadata?.namespace ?? "", name: raw.metadata?.name ?? "" };
    await writeJobStatus(this.#kc, key, status, STATUS_MANAGER, signal);
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
