// A list-then-watch informer with its own loop. client-node's ListWatch is not used: after any error other than 410
// or a client timeout it stays stopped (its src/cache.ts doneHandler, @kubernetes/client-node 2.0), it cannot request bookmarks or force a relist, and its
// recursive done-handler races a restart against the old request's abort. Here one loop owns the connection: LIST
// (raw JSON, paged), WATCH from the list's resourceVersion with bookmarks, and on every end decide: closed by the
// server -> rewatch; 410 Gone -> relist; silent too long -> restart; error -> retry with capped backoff.
//
// At thousands of objects the informer must never hold the event loop: list pages are sized to parse in a few
// milliseconds, and every loop over the objects (a page's transform, a relist's changes, a resync) yields between
// slices. Objects are stripped (transform.ts) and frozen before they are stored, and handed to readers without a
// copy; an update that changes nothing the cache keeps is stored without waking anyone.
import type { KubernetesObject } from "@kubernetes/client-node";
import type { Logger } from "pino";
import { type Cancel, type Clock, realClock, sleep } from "./clock.ts";
import { requestText, statusCode } from "./http.ts";
import { sameButVersion, share } from "./immutable.ts";
import type { KubeConfig } from "./kubeconfig.ts";
import type { RuntimeMetrics } from "./metrics.ts";
import { exponentialDelayMs } from "./rate-limit.ts";
import { equalityTerms, parseSelector } from "./selector.ts";
import { nextSlice } from "./slice.ts";
import { type Change, type ChangeType, type IndexFunction, keyOf, Store } from "./store.ts";
import { stripBookkeeping } from "./transform.ts";
import { type WatchEvent, watch } from "./watch.ts";
import { watchIsSilent, watchTimeoutSeconds } from "./watchdog.ts";

/**
 * Read access to an informer's cache. Objects are the cache's own, frozen: reading is free and a reader that tries to
 * change one gets a TypeError. Copy (structuredClone) what you mean to modify.
 */
export interface Cache<T extends KubernetesObject = KubernetesObject> {
  get(namespace: string, name: string): T | undefined;
  /**
   * Objects in `namespace` (all when omitted) whose labels match `labelSelector` (apiserver syntax). A selector with
   * an equality term on an indexed label (`indexLabels`) reads that index instead of scanning.
   */
  list(namespace?: string, labelSelector?: string): T[];
  /** Objects one of the informer's `indexes` files under `value`. */
  byIndex(index: string, value: string): T[];
  hasSynced(): boolean;
}

export type InformerEvent = ChangeType | "resync";
export type InformerHandler = (event: InformerEvent, obj: KubernetesObject, old?: KubernetesObject) => void;

export interface InformerOptions {
  kc: KubeConfig;
  /** Label for logs and the watch_restarts_total{kind} metric. */
  name: string;
  /** Collection path, e.g. /api/v1/namespaces/ns/configmaps or /apis/collabllm.io/v1alpha1/collabtrainingjobs. */
  listPath: string;
  labelSelector?: string;
  /** Field selector of the LIST and WATCH (apiserver syntax), e.g. involvedObject.kind=Pod,reason=Nominated. */
  fieldSelector?: string;
  logger: Logger;
  metrics: RuntimeMetrics;
  /** Report every cached object to the handlers this often (a `resync` event each); 0 turns it off. Default 5 min. */
  resyncMs?: number;
  /** Also relist this often (healing the cache from any event it missed); 0: only when the watch needs it. */
  relistMs?: number;
  /** Restart a watch that delivered nothing (not even a bookmark) for this long. Default 3 min. */
  watchdogMs?: number;
  /** Retry delay after errors: base doubling to max. Default 1 s -> 30 s. */
  backoff?: { baseMs: number; maxMs: number };
  clock?: Clock;
  /**
   * Applied to every object before it is cached, after managedFields and kubectl's last-applied annotation are
   * dropped (transform.ts), e.g. to keep only what the controller reads of it.
   */
  transform?: (obj: KubernetesObject) => KubernetesObject;
  /** Named index functions, read with `byIndex`. */
  indexes?: Record<string, IndexFunction>;
  /** Label keys to index, so `list(ns, "key=value")` reads the index. */
  indexLabels?: string[];
  /**
   * Report updates that changed nothing the cache keeps but `metadata.resourceVersion` (default false: they wake
   * nobody, say a pod's status change in fields the transform drops). A reader that acts on the version itself (a
   * Secret whose values the transform drops, whose version says they changed) needs them.
   */
  reportVersionOnlyUpdates?: boolean;
}

type Outcome = { reason: "closed" | "gone" | "watchdog" | "relist" | "stopped" } | { reason: "error"; error: unknown };

/** A list page this size parses in about 10 ms here; larger ones held the loop (a page of 500 pods is 20 MB). */
const PAGE_BYTES = 2 * 1024 * 1024;
const PAGE_MIN = 10;
const PAGE_MAX = 500;
const FIRST_PAGE = 100;

export class Informer implements Cache {
  readonly #o: ReturnType<typeof withDefaults>;
  readonly #store: Store;
  readonly #handlers: InformerHandler[] = [];
  #rv = "";
  #synced = false;
  #relistDue = false;
  #resyncing = false;
  #stop: AbortController | undefined;
  #loop: Promise<void> | undefined;
  #endWatch: ((outcome: Outcome) => void) | undefined;
  #timers: Cancel[] = [];
  #pageLimit = FIRST_PAGE;

  constructor(opts: InformerOptions) {
    this.#o = withDefaults(opts);
    this.#store = new Store({ labels: opts.indexLabels, indexes: opts.indexes });
  }

  on(handler: InformerHandler): void {
    this.#handlers.push(handler);
  }

  #prepare(obj: KubernetesObject): KubernetesObject {
    const stripped = stripBookkeeping(obj);
    return share(this.#o.transform ? this.#o.transform(stripped) : stripped);
  }

  hasSynced(): boolean {
    return this.#synced;
  }

  get(namespace: string, name: string): KubernetesObject | undefined {
    return this.#store.get(namespace, name);
  }

  list(namespace?: string, labelSelector?: string): KubernetesObject[] {
    const matches = labelSelector ? parseSelector(labelSelector) : () => true;
    const indexed = labelSelector
      ? equalityTerms(labelSelector).find(({ key }) => this.#store.hasLabelIndex(key))
      : undefined;
    const candidates = indexed
      ? this.#store.byLabel(indexed.key, indexed.value)
      : namespace
        ? this.#store.inNamespace(namespace)
        : this.#store.values();
    const out: KubernetesObject[] = [];
    for (const obj of candidates) {
      if (namespace && obj.metadata?.namespace !== namespace) continue;
      if (matches(obj.metadata?.labels)) out.push(obj);
    }
    return out;
  }

  byIndex(index: string, value: string): KubernetesObject[] {
    return this.#store.byIndex(index, value);
  }

  /** Starts listing and watching in the background; `hasSynced()` turns true after the first successful LIST. */
  start(): void {
    if (this.#loop) return;
    const stop = new AbortController();
    this.#stop = stop;
    this.#loop = this.#run(stop.signal);
    this.#every(this.#o.resyncMs, () => void this.#resync(stop.signal));
    this.#every(this.#o.relistMs, () => {
      this.#relistDue = true;
      this.#endWatch?.({ reason: "relist" });
    });
  }

  async stop(): Promise<void> {
    this.#stop?.abort();
    for (const cancel of this.#timers.splice(0)) cancel();
    this.#endWatch?.({ reason: "stopped" });
    await this.#loop;
    this.#loop = undefined;
    // A stopped cache is no cache: readers (say, a replica that lost leadership) must not act on a frozen world.
    // Started again, it lists afresh: a watch resumed from the old resourceVersion would never mark it synced.
    this.#synced = false;
    this.#rv = "";
    this.#store.clear();
  }

  #every(ms: number, fn: () => void): void {
    if (ms <= 0) return;
    const schedule = () => {
      const cancel = this.#o.clock.after(ms, () => {
        this.#timers = this.#timers.filter((c) => c !== cancel);
        fn();
        schedule();
      });
      this.#timers.push(cancel);
    };
    schedule();
  }

  /** Reports every cached object as `resync`, a slice at a time. A resync still running when the next is due wins. */
  async #resync(signal: AbortSignal): Promise<void> {
    if (this.#resyncing || !this.#synced) return;
    this.#resyncing = true;
    try {
      for (const obj of [...this.#store.values()]) {
        if (signal.aborted) return;
        // Skip what was deleted meanwhile; its delete event was delivered.
        if (this.#store.get(obj.metadata?.namespace ?? "", obj.metadata?.name ?? "") !== obj) continue;
        this.#emit("resync", obj);
        await nextSlice();
      }
      this.#o.metrics.resyncs.inc({ kind: this.#o.name });
    } finally {
      this.#resyncing = false;
    }
  }

  async #run(signal: AbortSignal): Promise<void> {
    const { clock, backoff, logger, metrics, name } = this.#o;
    let failures = 0;
    while (!signal.aborted) {
      let outcome: Outcome;
      try {
        if (this.#rv === "" || this.#relistDue) await this.#relist(signal);
        outcome = signal.aborted ? { reason: "stopped" } : await this.#watchOnce(signal);
      } catch (error) {
        outcome = statusCode(error) === 410 ? { reason: "gone" } : { reason: "error", error };
      }
      if (signal.aborted || outcome.reason === "stopped") break;
      metrics.watchRestarts.inc({ kind: name, reason: outcome.reason });
      if (outcome.reason === "gone") this.#rv = "";
      if (outcome.reason !== "error") {
        failures = 0;
        logger.debug({ reason: outcome.reason }, "restarting watch");
        continue;
      }
      const delay = exponentialDelayMs(failures++, backoff.baseMs, backoff.maxMs);
      logger.warn({ err: outcome.error, retryInMs: delay }, "list/watch failed; retrying");
      await sleep(clock, delay, signal);
    }
  }

  /**
   * LIST, a page at a time, into the store: each listed object is stored and its change (add, or update if it moved)
   * reported as it comes, then the objects the list no longer has are deleted. The cache is complete, and hasSynced,
   * once the last page is in; until then readers may see a mix of the old and the new state, as with any lag.
   */
  async #relist(signal: AbortSignal): Promise<void> {
    const listed = new Set<string>();
    let cont: string | undefined;
    let rv = "";
    do {
      const text = await requestText(this.#o.kc, {
        method: "GET",
        path: this.#o.listPath,
        query: {
          labelSelector: this.#o.labelSelector,
          fieldSelector: this.#o.fieldSelector,
          limit: this.#pageLimit,
          continue: cont,
        },
        signal,
      });
      // Parsing a page cannot be cut short: it waits for a turn with time left, so pages of many informers that
      // arrive together are parsed a few per turn.
      await nextSlice();
      if (signal.aborted) return;
      const page = JSON.parse(text) as {
        apiVersion?: string;
        kind?: string;
        items?: KubernetesObject[];
        metadata?: { resourceVersion?: string; continue?: string };
      };
      const got = page.items ?? [];
      // Size the next page from this one's bytes per object, so one JSON.parse stays short whatever the kind.
      if (got.length > 0) {
        const perItem = text.length / got.length;
        this.#pageLimit = Math.max(PAGE_MIN, Math.min(PAGE_MAX, Math.floor(PAGE_BYTES / perItem)));
      }
      // List items of built-in kinds come without apiVersion/kind; watch events carry them. Keep the cache uniform.
      const kind = page.kind?.replace(/List$/, "");
      for (const item of got) {
        if (signal.aborted) return;
        const obj = this.#prepare({ apiVersion: page.apiVersion, kind, ...item });
        listed.add(keyOf(obj));
        this.#report(this.#store.upsert(obj));
        await nextSlice();
      }
      cont = page.metadata?.continue || undefined;
      rv = page.metadata?.resourceVersion ?? "";
    } while (cont);
    for (const change of this.#store.removeMissing(listed)) {
      this.#report(change);
      await nextSlice();
    }
    this.#rv = rv;
    this.#relistDue = false;
    this.#synced = true;
  }

  /** Tells the handlers about a change, unless it is an update that changed nothing the cache keeps. */
  #report(change: Change | undefined): void {
    if (!change) return;
    if (change.type === "update" && !this.#o.reportVersionOnlyUpdates && sameButVersion(change.old, change.obj)) return;
    this.#emit(change.type, change.obj, change.old);
  }

  /** One WATCH request, from the current resourceVersion until it ends; resolves with why it ended. */
  #watchOnce(signal: AbortSignal): Promise<Outcome> {
    const { clock, watchdogMs, labelSelector, fieldSelector } = this.#o;
    return new Promise<Outcome>((resolve) => {
      let lastActivity = clock.now();
      let cancelWatchdog: Cancel = () => {};
      let abort: () => void = () => {};
      let ended = false;
      const end = (outcome: Outcome) => {
        if (ended) return;
        ended = true;
        this.#endWatch = undefined;
        cancelWatchdog();
        abort();
        resolve(outcome);
      };
      this.#endWatch = end;
      if (signal.aborted) return end({ reason: "stopped" });
      const check = () => {
        if (watchIsSilent(lastActivity, clock.now(), watchdogMs)) end({ reason: "watchdog" });
        else cancelWatchdog = clock.after(watchdogMs / 4, check);
      };
      cancelWatchdog = clock.after(watchdogMs / 4, check);
      const onEvent = ({ type, object }: WatchEvent) => {
        if (ended) return;
        lastActivity = clock.now();
        if (type === "ERROR") {
          // A Status in the stream; 410 means our resourceVersion was compacted away.
          end(object.code === 410 ? { reason: "gone" } : { reason: "error", error: object });
          return;
        }
        if (type === "ADDED" || type === "MODIFIED") {
          this.#report(this.#store.upsert(this.#prepare(object)));
        } else if (type === "DELETED") {
          const gone = this.#prepare(object);
          const change = this.#store.remove(gone);
          if (change) this.#emit("delete", gone, change.old);
        }
        const rv = object.metadata?.resourceVersion;
        if (rv) this.#rv = rv;
      };
      const onDone = (err?: unknown) => {
        if (!err) end({ reason: "closed" });
        else if (statusCode(err) === 410) end({ reason: "gone" });
        else end({ reason: "error", error: err });
      };
      const query = {
        resourceVersion: this.#rv,
        allowWatchBookmarks: true,
        timeoutSeconds: watchTimeoutSeconds(300, Math.random()),
        labelSelector,
        fieldSelector,
      };
      abort = watch(this.#o.kc, this.#o.listPath, query, { event: onEvent, done: onDone });
    });
  }

  #emit(event: InformerEvent, obj: KubernetesObject, old?: KubernetesObject): void {
    for (const handler of this.#handlers) {
      try {
        handler(event, obj, old);
      } catch (err) {
        this.#o.logger.error({ err, event }, "informer handler threw");
      }
    }
  }
}

/**
 * Options with defaults filled in, field by field: callers pass options through as explicit `undefined`, which a
 * spread of defaults would keep (a NaN watch timeout then aborted every watch the moment it started).
 */
export function withDefaults(opts: InformerOptions) {
  return {
    ...opts,
    resyncMs: opts.resyncMs ?? 5 * 60_000,
    relistMs: opts.relistMs ?? 0,
    watchdogMs: opts.watchdogMs ?? 3 * 60_000,
    backoff: opts.backoff ?? { baseMs: 1000, maxMs: 30_000 },
    clock: opts.clock ?? realClock,
    logger: opts.logger.child({ informer: opts.name }),
  };
}
