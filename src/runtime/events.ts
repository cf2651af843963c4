// Records core/v1 Events about objects: the kind `kubectl describe` lists under "Events:" (it matches
// involvedObject kind/name/namespace/uid). Like client-go's EventCorrelator, an event identical to one recorded
// within `windowMs` (same object, type, reason and message) bumps the existing Event's count and lastTimestamp
// instead of creating a new object. Recording never throws: a lost Event must not fail a reconcile.
import type { KubernetesObject } from "@kubernetes/client-node";
import type { Logger } from "pino";
import { type Clock, realClock } from "./clock.ts";
import { request, statusCode } from "./http.ts";
import type { KubeConfig } from "./kubeconfig.ts";

export type EventType = "Normal" | "Warning";

export interface EventRecorderOptions {
  kc: KubeConfig;
  /** source.component and reportingComponent, e.g. "collab-operator". */
  component: string;
  /** reportingInstance, e.g. the pod name. */
  instance?: string;
  logger: Logger;
  /** Identical events within this window are folded into one. Default 10 min. */
  windowMs?: number;
  /** How many distinct recent events to remember for folding. Default 4096. */
  maxEntries?: number;
  clock?: Clock;
}

interface Recent {
  namespace: string;
  name: string;
  count: number;
  lastAt: number;
}

const MAX_MESSAGE = 1024;

export class EventRecorder {
  readonly #o: EventRecorderOptions;
  readonly #clock: Clock;
  readonly #recent = new Map<string, Recent>();
  /** Per-key chain, so two concurrent records of one event cannot both create it. */
  readonly #inFlight = new Map<string, Promise<void>>();
  #sequence = 0;

  constructor(opts: EventRecorderOptions) {
    this.#o = opts;
    this.#clock = opts.clock ?? realClock;
  }

  /** Records an event about `regarding` (which needs apiVersion, kind, metadata.name and ideally uid). */
  record(regarding: KubernetesObject, type: EventType, reason: string, message: string): Promise<void> {
    const m = regarding.metadata ?? {};
    const text = message.length > MAX_MESSAGE ? `${message.slice(0, MAX_MESSAGE - 3)}...` : message;
    const key = [regarding.kind, m.namespace, m.name, m.uid, type, reason, text].join("\u0000");
    const previous = this.#inFlight.get(key) ?? Promise.resolve();
    const next = previous
      .then(() => this.#write(key, regarding, type, reason, text))
      .catch((err: unknown) => this.#o.logger.warn({ err, reason }, "could not record event"))
      .finally(() => {
        if (this.#inFlight.get(key) === next) this.#inFlight.delete(key);
      });
    this.#inFlight.set(key, next);
    return next;
  }

  async #write(key: string, regarding: KubernetesObject, type: EventType, reason: string, message: string) {
    const now = this.#clock.now();
    const stamp = new Date(now).toISOString();
    const recent = this.#recent.get(key);
    if (recent && now - recent.lastAt < (this.#o.windowMs ?? 600_000)) {
      try {
        await request(this.#o.kc, {
          method: "PATCH",
          path: `/api/v1/namespaces/${recent.namespace}/events/${recent.name}`,
          body: { count: recent.count + 1, lastTimestamp: stamp },
          contentType: "application/merge-patch+json",
        });
        this.#remember(key, { ...recent, count: recent.count + 1, lastAt: now });
        return;
      } catch (err) {
        if (statusCode(err) !== 404) throw err; // expired (events have a TTL): create a fresh one
      }
    }
    const m = regarding.metadata ?? {};
    const namespace = m.namespace || "default";
    // client-go's naming: the object's name and the time in hex nanoseconds. The clock has milliseconds only, and a
    // plan's Events are recorded within one: a sequence fills the nanoseconds, or the second one would be refused (409).
    const nanos = BigInt(now) * 1_000_000n + BigInt(this.#sequence++ % 1_000_000);
    const name = `${m.name}.${nanos.toString(16)}`;
    await request(this.#o.kc, {
      method: "POST",
      path: `/api/v1/namespaces/${namespace}/events`,
      body: {
        apiVersion: "v1",
        kind: "Event",
        metadata: { name, namespace },
        involvedObject: {
          apiVersion: regarding.apiVersion,
          kind: regarding.kind,
          name: m.name,
          namespace: m.namespace,
          uid: m.uid,
        },
        type,
        reason,
        message,
        count: 1,
        firstTimestamp: stamp,
        lastTimestamp: stamp,
        source: { component: this.#o.component },
        reportingComponent: this.#o.component,
        reportingInstance: this.#o.instance ?? "",
      },
    });
    this.#remember(key, { namespace, name, count: 1, lastAt: now });
  }

  /** Keeps the map in least-recently-recorded order and bounded. */
  #remember(key: string, entry: Recent): void {
    this.#recent.delete(key);
    this.#recent.set(key, entry);
    const max = this.#o.maxEntries ?? 4096;
    for (const oldest of this.#recent.keys()) {
      if (this.#recent.size <= max) break;
      this.#recent.delete(oldest);
    }
  }
}
