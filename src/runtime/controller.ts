// Wires informers to a work queue and the queue to a Reconciler, with controller-runtime's contract: keys are
// "namespace/name", a key never reconciles in two workers at once, a thrown error re-queues it with per-key backoff,
// `requeueAfterMs` schedules a timed re-run, and success forgets the key's failures. Reconcilers are level-triggered:
// they get only the key and read the world from the caches, never from the event that woke them.
import type { KubernetesObject } from "@kubernetes/client-node";
import type { Logger } from "pino";
import type { Registry } from "prom-client";
import { type Clock, realClock, sleep } from "./clock.ts";
import { serves } from "./discovery.ts";
import { type Cache, Informer, type InformerEvent } from "./informer.ts";
import type { KubeConfig } from "./kubeconfig.ts";
import { type RuntimeMetrics, runtimeMetrics } from "./metrics.ts";
import { WorkQueue } from "./queue.ts";
import { exponentialDelayMs, RateLimiter, type RateLimiterOptions } from "./rate-limit.ts";
import { yieldToLoop } from "./slice.ts";
import type { IndexFunction } from "./store.ts";

export interface ObjectKey {
  namespace: string;
  name: string;
}

export interface ReconcileResult {
  /** Reconcile this key again after this long (the earliest pending requeue wins). */
  requeueAfterMs?: number;
}

export interface Reconciler {
  /**
   * Converges the object named by `key`. Throw to retry with backoff. `signal` aborts when the controller stops
   * (shutdown or lost leadership): finish or give up soon. `logger` carries the controller and namespace/name.
   */
  reconcile(key: ObjectKey, signal: AbortSignal, logger: Logger): Promise<ReconcileResult | undefined>;
}

export interface WatchSpec {
  /** Names the cache (`controller.cache(name)`) and labels its metrics and logs. */
  name: string;
  /** Collection path to LIST and WATCH, e.g. /api/v1/pods or /apis/g/v1/namespaces/ns/things. */
  listPath: string;
  labelSelector?: string;
  fieldSelector?: string;
  /** Applied to every object before it is cached (the informer's transform), e.g. transform.ts's slimPod. */
  transform?: (obj: KubernetesObject) => KubernetesObject;
  /** As the informer's option: report updates that changed only the resourceVersion of what the cache keeps. */
  reportVersionOnlyUpdates?: boolean;
  /** Named indexes of the cache (`cache(name).byIndex`), e.g. the Secrets each job references. */
  indexes?: Record<string, IndexFunction>;
  /** Label keys to index, so `cache(name).list(ns, "key=value")` reads an index instead of scanning. */
  indexLabels?: string[];
  /**
   * Whether the periodic resync reports this watch's objects (default true). A watch of children whose changes all
   * map to owners another watch resyncs anyway can skip it: each resync would wake every owner once more per watch.
   */
  resync?: boolean;
  /** Which changes wake anyone at all (controller-runtime's predicates); default every change. */
  predicate?: (event: InformerEvent, obj: KubernetesObject, old?: KubernetesObject) => boolean;
  /**
   * Which reconcile keys a change to `obj` concerns; e.g. a child maps to its owner through a label, a Secret to the
   * jobs an index says reference it. Called for every event that passes the predicate: keep it cheap (no scans).
   */
  toKeys: (obj: KubernetesObject) => ObjectKey[];
  /**
   * Watch only if the apiserver serves this kind (an optional component's API), asked each time the controller
   * starts: a watch of an API that is not there would never sync. Until it is served the cache stays empty.
   */
  ifServed?: { apiVersion: string; kind: string };
}

export interface ControllerOptions {
  kc: KubeConfig;
  name: string;
  watches: WatchSpec[];
  reconciler: Reconciler;
  /** Concurrent reconciles (distinct keys). Default 1. */
  workers?: number;
  logger: Logger;
  metrics: Registry;
  /** Reconcile every cached object this often (from the caches, no relist); 0 turns it off. Default 5 min. */
  resyncMs?: number;
  /** Relist every watch this often, besides when a watch needs it (410, errors); 0 (default) never. */
  relistMs?: number;
  /** Restart a watch silent (no event, no bookmark) for this long. Default 3 min. */
  watchdogMs?: number;
  /** `start()` fails if the caches have not synced by then. Default 2 min (controller-runtime's CacheSyncTimeout). */
  syncTimeoutMs?: number;
  /**
   * While an `ifServed` watch's API is not served, ask again this often, and once it is, watch it and reconcile every
   * cached object's keys (an optional component installed while the controller runs). 0 turns it off. Default 60 s.
   */
  rediscoverMs?: number;
  rateLimiter?: RateLimiterOptions;
  clock?: Clock;
}

export const keyString = (key: ObjectKey): string => `${key.namespace}/${key.name}`;

export function parseKey(key: string): ObjectKey {
  const slash = key.indexOf("/");
  return { namespace: key.slice(0, slash), name: key.slice(slash + 1) };
}

export class Controller {
  readonly name: string;
  readonly #o: ControllerOptions;
  readonly #clock: Clock;
  readonly #metrics: RuntimeMetrics;
  readonly #logger: Logger;
  readonly #informers = new Map<string, Informer>();
  /** The watches with `ifServed` whose API the apiserver did not serve when the controller last started. */
  readonly #unserved = new Set<string>();
  #queue: WorkQueue | undefined;
  #stop: AbortController | undefined;
  #workers: Promise<void>[] = [];
  #rediscovery: Promise<void> | undefined;

  constructor(opts: ControllerOptions) {
    this.name = opts.name;
    this.#o = opts;
    this.#clock = opts.clock ?? realClock;
    this.#metrics = runtimeMetrics(opts.metrics);
    this.#logger = opts.logger.child({ controller: opts.name });
    for (const spec of opts.watches) {
      if (this.#informers.has(spec.name)) throw new Error(`duplicate watch name ${spec.name}`);
      const informer = new Informer({
        kc: opts.kc,
        name: spec.name,
        listPath: spec.listPath,
        labelSelector: spec.labelSelector,
        fieldSelector: spec.fieldSelector,
        logger: this.#logger,
        metrics: this.#metrics,
        resyncMs: spec.resync === false ? 0 : opts.resyncMs,
        relistMs: opts.relistMs,
        watchdogMs: opts.watchdogMs,
        transform: spec.transform,
        indexes: spec.indexes,
        indexLabels: spec.indexLabels,
        reportVersionOnlyUpdates: spec.reportVersionOnlyUpdates,
        clock: this.#clock,
      });
      informer.on((event, obj, old) => {
        if (spec.predicate && !spec.predicate(event, obj, old)) return;
        const keys = new Set(spec.toKeys(obj).map(keyString));
        // A change can move an object to another owner (say, a relabelled child): wake the old one too.
        if (event === "update" && old) for (const k of spec.toKeys(old)) keys.add(keyString(k));
        for (const k of keys) this.#queue?.add(k);
      });
      this.#informers.set(spec.name, informer);
    }
  }

  cache<T extends KubernetesObject = KubernetesObject>(name: string): Cache<T> {
    const informer = this.#informers.get(name);
    if (!informer) throw new Error(`controller ${this.name} has no watch named ${name}`);
    return informer as unknown as Cache<T>;
  }

  /** True once every cache has listed successfully (but those of watches whose API is not served). */
  hasSynced(): boolean {
    return [...this.#informers].every(([name, i]) => this.#unserved.has(name) || i.hasSynced());
  }

  /** Whether the watch named `name` runs: it has no `ifServed`, or its API was served when the controller started. */
  watching(name: string): boolean {
    return this.#informers.has(name) && !this.#unserved.has(name);
  }

  enqueue(key: ObjectKey): void {
    this.#queue?.add(keyString(key));
  }

  /** Starts the watches, waits until every cache has synced, then starts the workers. Can run again after stop(). */
  async start(): Promise<void> {
    if (this.#stop) return;
    const stop = new AbortController();
    this.#stop = stop;
    const depth = this.#metrics.depth.labels({ name: this.name });
    const queue = new WorkQueue(this.#clock, new RateLimiter(this.#clock, this.#o.rateLimiter), (d) => depth.set(d));
    this.#queue = queue;
    const deadline = this.#clock.now() + (this.#o.syncTimeoutMs ?? 120_000);
    this.#unserved.clear();
    for (const spec of this.#o.watches) {
      if (!spec.ifServed) continue;
      // Asked until answered (an apiserver that is briefly away), within the time the caches have to sync.
      for (let failures = 0; ; failures++) {
        try {
          if (!(await serves(this.#o.kc, spec.ifServed.apiVersion, spec.ifServed.kind))) {
            this.#unserved.add(spec.name);
            this.#logger.info({ watch: spec.name, ...spec.ifServed }, "not served by the apiserver: not watched");
          }
          break;
        } catch (err) {
          if (stop.signal.aborted) return;
          if (this.#clock.now() >= deadline) {
            await this.stop();
            throw new Error(`controller ${this.name}: API discovery failed: ${String(err)}`);
          }
          await sleep(this.#clock, exponentialDelayMs(failures, 500, 10_000), stop.signal);
        }
      }
    }
    for (const [name, informer] of this.#informers) if (!this.#unserved.has(name)) informer.start();
    while (!this.hasSynced() && !stop.signal.aborted) {
      if (this.#clock.now() >= deadline) {
        await this.stop();
        throw new Error(`controller ${this.name}: caches did not sync in time`);
      }
      await sleep(this.#clock, 100, stop.signal);
    }
    if (stop.signal.aborted) return;
    this.#logger.info({ workers: this.#o.workers ?? 1 }, "caches synced; starting workers");
    this.#workers = Array.from({ length: this.#o.workers ?? 1 }, () => this.#work(queue, stop.signal));
    const rediscoverMs = this.#o.rediscoverMs ?? 60_000;
    if (this.#unserved.size > 0 && rediscoverMs > 0) this.#rediscovery = this.#rediscover(rediscoverMs, stop.signal);
  }

  /** Watches each unserved API once it is served, then has every cached object's owners reconciled. */
  async #rediscover(everyMs: number, signal: AbortSignal): Promise<void> {
    while (this.#unserved.size > 0 && !signal.aborted) {
      await sleep(this.#clock, everyMs, signal);
      const found: string[] = [];
      for (const spec of this.#o.watches) {
        if (!spec.ifServed || !this.#unserved.has(spec.name) || signal.aborted) continue;
        // An apiserver that does not answer now is asked again at the next turn.
        const served = await serves(this.#o.kc, spec.ifServed.apiVersion, spec.ifServed.kind).catch(() => false);
        if (!served || signal.aborted) continue;
        this.#logger.info({ watch: spec.name, ...spec.ifServed }, "now served by the apiserver: watched");
        this.#unserved.delete(spec.name);
        this.#informers.get(spec.name)?.start();
        found.push(spec.name);
      }
      if (found.length === 0) continue;
      while (!found.every((name) => this.#informers.get(name)?.hasSynced()) && !signal.aborted) {
        await sleep(this.#clock, 100, signal);
      }
      // What the new API says may change every owner's decision (a job held back for want of it), not only the
      // owners of the objects just listed.
      for (const [name, informer] of this.#informers) {
        if (this.#unserved.has(name)) continue;
        const spec = this.#o.watches.find((w) => w.name === name)!;
        for (const obj of informer.list()) for (const key of spec.toKeys(obj)) this.#queue?.add(keyString(key));
      }
    }
  }

  /**
   * Stops taking work and the watches. Reconciles in flight finish within `drainMs` (a SIGTERM's drain: their writes
   * are kept) and then see their signal abort (at once, `drainMs` 0, when leadership is lost: the next leader may be
   * acting already); they are awaited either way.
   */
  async stop(drainMs = 0): Promise<void> {
    const stop = this.#stop;
    if (!stop) return;
    const drained = this.#queue?.shutDown() ?? Promise.resolve();
    const deadline = new Promise<void>((resolve) => setTimeout(resolve, drainMs).unref());
    await Promise.race([drained, deadline]);
    stop.abort();
    await this.#rediscovery;
    this.#rediscovery = undefined;
    await Promise.all([...this.#informers.values()].map((i) => i.stop()));
    await drained;
    await Promise.all(this.#workers);
    this.#workers = [];
    this.#queue = undefined;
    this.#stop = undefined;
    this.#logger.info("stopped");
  }

  async #work(queue: WorkQueue, signal: AbortSignal): Promise<void> {
    for (let key = await queue.get(); key !== undefined; key = await queue.get()) {
      await this.#reconcileOne(queue, key, signal);
      queue.done(key);
      // A reconcile that writes nothing never waits for I/O, and the next key is already queued: without a yield, a
      // queue of thousands (start-up, a resync) would run as one chain of microtasks and hold the event loop.
      await yieldToLoop();
    }
  }

  async #reconcileOne(queue: WorkQueue, key: string, signal: AbortSignal): Promise<void> {
    const objectKey = parseKey(key);
    const logger = this.#logger.child(objectKey);
    const { reconciles, reconcileDuration } = this.#metrics;
    const endTimer = reconcileDuration.startTimer({ controller: this.name });
    let result: "success" | "error" | "requeue" = "success";
    try {
      const out = await this.#o.reconciler.reconcile(objectKey, signal, logger);
      queue.forget(key);
      if (out?.requeueAfterMs !== undefined && out.requeueAfterMs > 0) {
        result = "requeue";
        queue.addAfter(key, out.requeueAfterMs);
      }
    } catch (err) {
      result = "error";
      queue.addRateLimited(key);
      // Cut short by a stop (past its drain, or on lost leadership): the next leader reconciles it; nothing failed.
      if (signal.aborted) logger.info("reconcile interrupted by the controller's stop");
      else logger.error({ err, retries: queue.numRequeues(key) }, "reconcile failed");
    } finally {
      endTimer();
      reconciles.inc({ controller: this.name, result });
    }
  }
}
