// A list-then-watch informer with its own loop around client-node's Watch. client-node's ListWatch is not used: after
// any error other than 410 or a client timeout it stays stopped (anchors §5.1), it cannot request bookmarks or force a
// relist, and its recursive done-handler races a restart against the old request's abort. Here one loop owns the
// connection: LIST (raw JSON, paged), WATCH from the list's resourceVersion with bookmarks, and on every end decide:
// closed by the server -> rewatch; 410 Gone -> relist; silent too long -> restart; error -> retry with capped backoff.
// A periodic resync relists (healing any missed event) and then reports every object, so handlers re-enqueue all.
import { type KubeConfig, type KubernetesObject, Watch } from "@kubernetes/client-node";
import type { Logger } from "pino";
import { type Cancel, type Clock, realClock, sleep } from "./clock.ts";
import { request, statusCode } from "./http.ts";
import type { RuntimeMetrics } from "./metrics.ts";
import { exponentialDelayMs } from "./rate-limit.ts";
import { parseSelector } from "./selector.ts";
import { type ChangeType, Store } from "./store.ts";
import { watchIsSilent, watchTimeoutSeconds } from "./watchdog.ts";

/** Read access to an informer's cache. Objects are deep copies: mutating them never changes the cache. */
export interface Cache<T extends KubernetesObject = KubernetesObject> {
  get(namespace: string, name: string): T | undefined;
  /** Objects in `namespace` (all when omitted) whose labels match `labelSelector` (apiserver syntax). */
  list(namespace?: string, labelSelector?: string): T[];
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
  /** Relist and report every object this often; 0 turns it off. Default 5 min. */
  resyncMs?: number;
  /** Restart a watch that delivered nothing (not even a bookmark) for this long. Default 3 min. */
  watchdogMs?: number;
  /** Retry delay after errors: base doubling to max. Default 1 s -> 30 s. */
  backoff?: { baseMs: number; maxMs: number };
  clock?: Clock;
  /** Applied to every object before it is cached, e.g. to keep only what the controller needs of it. */
  transform?: (obj: KubernetesObject) => KubernetesObject;
}

type Outcome = { reason: "closed" | "gone" | "watchdog" | "resync" | "stopped" } | { reason: "error"; error: unknown };

interface WatchEvent {
  type: string;
  object: KubernetesObject & { code?: number; message?: string };
}

const PAGE = 500;

export class Informer implements Cache {
  readonly #o: ReturnType<typeof withDefaults>;
  readonly #store = new Store();
  readonly #handlers: InformerHandler[] = [];
  readonly #watch: Watch;
  #rv = "";
  #synced = false;
  #resyncDue = false;
  #stop: AbortController | undefined;
  #loop: Promise<void> | undefined;
  #endWatch: ((outcome: Outcome) => void) | undefined;
  #cancelResync: Cancel | undefined;

  constructor(opts: InformerOptions) {
    this.#o = withDefaults(opts);
    this.#watch = new Watch(opts.kc);
    // client-node 2.0.1 aborts a watch after 30 s without data (its inactivity timer, #3022). Quiet collections get
    // a bookmark only about once a minute, so that would restart healthy watches every 30 s; our watchdog judges
    // silence instead, and client-node's timer stays as a backstop just beyond it. The field is private in the
    // typings; test/unit/runtime/informer.test.ts fails if a client-node upgrade renames it.
    (this.#watch as unknown as { requestTimeoutMs: number }).requestTimeoutMs = this.#o.watchdogMs + 30_000;
  }

  on(handler: InformerHandler): void {
    this.#handlers.push(handler);
  }

  #transform(obj: KubernetesObject): KubernetesObject {
    return this.#o.transform ? this.#o.transform(obj) : obj;
  }

  hasSynced(): boolean {
    return this.#synced;
  }

  get(namespace: string, name: string): KubernetesObject | undefined {
    const obj = this.#store.get(namespace, name);
    return obj && structuredClone(obj);
  }

  list(namespace?: string, labelSelector?: string): KubernetesObject[] {
    const matches = labelSelector ? parseSelector(labelSelector) : () => true;
    const out: KubernetesObject[] = [];
    for (const obj of this.#store.values()) {
      if (namespace !== undefined && namespace !== "" && obj.metadata?.namespace !== namespace) continue;
      if (matches(obj.metadata?.labels)) out.push(structuredClone(obj));
    }
    return out;
  }

  /** Starts listing and watching in the background; `hasSynced()` turns true after the first successful LIST. */
  start(): void {
    if (this.#loop) return;
    const stop = new AbortController();
    this.#stop = stop;
    this.#loop = this.#run(stop.signal);
    this.#scheduleResync();
  }

  async stop(): Promise<void> {
    this.#stop?.abort();
    this.#cancelResync?.();
    this.#endWatch?.({ reason: "stopped" });
    await this.#loop;
    this.#loop = undefined;
    // A stopped cache is no cache: readers (say, a replica that lost leadership) must not act on a frozen world.
    // Started again, it lists afresh: a watch resumed from the old resourceVersion would never mark it synced.
    this.#synced = false;
    this.#store.replace([]);
    this.#rv = "";
  }

  #scheduleResync(): void {
    if (this.#o.resyncMs <= 0) return;
    this.#cancelResync = this.#o.clock.after(this.#o.resyncMs, () => {
      this.#resyncDue = true;
      this.#endWatch?.({ reason: "resync" });
      this.#scheduleResync();
    });
  }

  async #run(signal: AbortSignal): Promise<void> {
    const { clock, backoff, logger, metrics, name } = this.#o;
    let failures = 0;
    while (!signal.aborted) {
      let outcome: Outcome;
      try {
        if (this.#rv === "" || this.#resyncDue) await this.#relist();
        outcome = await this.#watchOnce(signal);
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

  async #relist(): Promise<void> {
    const items: KubernetesObject[] = [];
    let cont: string | undefined;
    let rv = "";
    do {
      const page = await request<{
        apiVersion?: string;
        kind?: string;
        items?: KubernetesObject[];
        metadata?: { resourceVersion?: string; continue?: string };
      }>(this.#o.kc, {
        method: "GET",
        path: this.#o.listPath,
        query: {
          labelSelector: this.#o.labelSelector,
          fieldSelector: this.#o.fieldSelector,
          limit: PAGE,
          continue: cont,
        },
      });
      // List items of built-in kinds come without apiVersion/kind; watch events carry them. Keep the cache uniform.
      const kind = page.kind?.replace(/List$/, "");
      for (const item of page.items ?? []) items.push(this.#transform({ apiVersion: page.apiVersion, kind, ...item }));
      cont = page.metadata?.continue || undefined;
      rv = page.metadata?.resourceVersion ?? "";
    } while (cont);
    const changes = this.#store.replace(items);
    this.#rv = rv;
    this.#synced = true;
    for (const c of changes) this.#emit(c.type, c.obj, c.old);
    if (this.#resyncDue) {
      this.#resyncDue = false;
      for (const obj of this.#store.values()) this.#emit("resync", obj);
    }
  }

  /** One WATCH request, from the current resourceVersion until it ends; resolves with why it ended. */
  #watchOnce(signal: AbortSignal): Promise<Outcome> {
    const { clock, watchdogMs, labelSelector, fieldSelector } = this.#o;
    return new Promise<Outcome>((resolve) => {
      let lastActivity = clock.now();
      let cancelWatchdog: Cancel = () => {};
      let conn: AbortController | undefined;
      let ended = false;
      const end = (outcome: Outcome) => {
        if (ended) return;
        ended = true;
        this.#endWatch = undefined;
        cancelWatchdog();
        conn?.abort();
        resolve(outcome);
      };
      this.#endWatch = end;
      if (signal.aborted) return end({ reason: "stopped" });
      const check = () => {
        if (watchIsSilent(lastActivity, clock.now(), watchdogMs)) end({ reason: "watchdog" });
        else cancelWatchdog = clock.after(watchdogMs / 4, check);
      };
      cancelWatchdog = clock.after(watchdogMs / 4, check);
      const onEvent = (type: string, obj: WatchEvent["object"]) => {
        if (ended) return;
        lastActivity = clock.now();
        if (type === "ERROR") {
          // A Status in the stream; 410 means our resourceVersion was compacted away.
          end(obj.code === 410 ? { reason: "gone" } : { reason: "error", error: obj });
          return;
        }
        if (type === "ADDED" || type === "MODIFIED") {
          const change = this.#store.upsert(this.#transform(obj));
          if (change) this.#emit(change.type, change.obj, change.old);
        } else if (type === "DELETED") {
          const gone = this.#transform(obj);
          const change = this.#store.remove(gone);
          if (change) this.#emit("delete", gone, change.old);
        }
        const rv = obj.metadata?.resourceVersion;
        if (rv) this.#rv = rv;
      };
      const onDone = (err: unknown) => {
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
      this.#watch.watch(this.#o.listPath, query, onEvent, onDone).then(
        (controller) => {
          conn = controller;
          if (ended) controller.abort();
        },
        (err: unknown) => onDone(err ?? new Error("watch failed")),
      );
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
    watchdogMs: opts.watchdogMs ?? 3 * 60_000,
    backoff: opts.backoff ?? { baseMs: 1000, maxMs: 30_000 },
    clock: opts.clock ?? realClock,
    logger: opts.logger.child({ informer: opts.name }),
  };
}
