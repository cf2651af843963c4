// The I/O half of leader election on a coordination.k8s.io/v1 Lease: read, decide (election.ts), write with the
// read resourceVersion, sleep, repeat. Defaults are controller-runtime's: lease 15 s, renew deadline 10 s, retry 2 s.
// While leading, `onStartedLeading` gets a signal that aborts when leadership ends; `onStoppedLeading` follows.
// After losing the lease the elector goes back to being a candidate.

import type { Logger } from "pino";
import { type Clock, realClock, sleep } from "./clock.ts";
import {
  decide,
  type LeaseRecord,
  type LeaseView,
  mustStepDown,
  nextRecord,
  type Observation,
  releasedRecord,
} from "./election.ts";
import { request, statusCode } from "./http.ts";
import type { KubeConfig } from "./kubeconfig.ts";

export interface LeaderElectionOptions {
  kc: KubeConfig;
  namespace: string;
  name: string;
  /** Unique per process, e.g. pod name plus a random suffix. */
  identity: string;
  leaseDurationMs?: number;
  renewDeadlineMs?: number;
  retryPeriodMs?: number;
  logger: Logger;
  onStartedLeading: (signal: AbortSignal) => void | Promise<void>;
  onStoppedLeading: () => void | Promise<void>;
  /**
   * Annotations the holder writes on the Lease with every create, take and renew (and clears on release), so the
   * other candidates, which read the Lease anyway, learn something about the leader, say where to reach it.
   */
  holderAnnotations?: () => Record<string, string>;
  clock?: Clock;
}

/** The Lease as last read: who holds it and what the holder wrote in its annotations. */
export interface LeaseHolder {
  identity: string;
  annotations: Record<string, string>;
}

interface LeaseObject {
  metadata?: { resourceVersion?: string; annotations?: Record<string, string> };
  spec?: {
    holderIdentity?: string | null;
    leaseDurationSeconds?: number;
    acquireTime?: string;
    renewTime?: string;
    leaseTransitions?: number;
  };
}

/** Lease times are MicroTime: RFC 3339 with exactly six fractional digits. */
const microTime = (ms: number | undefined) =>
  ms === undefined ? undefined : new Date(ms).toISOString().replace(/Z$/, "000Z");
const parseTime = (s: string | undefined) => (s ? Date.parse(s) : undefined);

function toView(lease: LeaseObject): LeaseView {
  const s = lease.spec ?? {};
  return {
    resourceVersion: lease.metadata?.resourceVersion ?? "",
    record: {
      holderIdentity: s.holderIdentity ?? undefined,
      leaseDurationSeconds: s.leaseDurationSeconds,
      acquireTime: parseTime(s.acquireTime),
      renewTime: parseTime(s.renewTime),
      leaseTransitions: s.leaseTransitions,
    },
  };
}

function toSpec(r: LeaseRecord): LeaseObject["spec"] {
  return {
    holderIdentity: r.holderIdentity ?? null,
    leaseDurationSeconds: r.leaseDurationSeconds,
    acquireTime: microTime(r.acquireTime),
    renewTime: microTime(r.renewTime),
    leaseTransitions: r.leaseTransitions,
  };
}

/**
 * Options with the timings filled in field by field: the Manager passes its options through as explicit `undefined`,
 * which a spread of defaults would keep (AbortSignal.timeout(undefined) then failed every round, and the NaN retry
 * sleep made the failing rounds a hot loop, so no replica ever led).
 */
export function electionDefaults(opts: LeaderElectionOptions): Required<Omit<LeaderElectionOptions, "clock">> {
  const { clock: _clock, ...rest } = opts;
  return {
    ...rest,
    holderAnnotations: opts.holderAnnotations ?? (() => ({})),
    leaseDurationMs: opts.leaseDurationMs ?? 15_000,
    renewDeadlineMs: opts.renewDeadlineMs ?? 10_000,
    retryPeriodMs: opts.retryPeriodMs ?? 2_000,
  };
}

export class LeaderElector {
  readonly #o: Required<Omit<LeaderElectionOptions, "clock">>;
  readonly #clock: Clock;
  readonly #path: string;
  readonly #stop = new AbortController();
  #observed: Observation | undefined;
  #holder: LeaseHolder | undefined;
  #leading = false;
  #release = true;
  #loop: Promise<void> | undefined;

  constructor(opts: LeaderElectionOptions) {
    this.#o = electionDefaults(opts);
    if (this.#o.renewDeadlineMs >= this.#o.leaseDurationMs)
      throw new Error("renewDeadline must be below leaseDuration");
    this.#clock = opts.clock ?? realClock;
    this.#path = `/apis/coordination.k8s.io/v1/namespaces/${opts.namespace}/leases`;
  }

  isLeader(): boolean {
    return this.#leading;
  }

  /** The holder of the Lease as this candidate last read it (every retry period), or undefined when none holds it. */
  holder(): LeaseHolder | undefined {
    return this.#holder;
  }

  /** Campaigns in the background until stop(). */
  start(): void {
    this.#loop ??= this.#run();
  }

  /**
   * Stops campaigning. A leader stops leading (its signal aborts, onStoppedLeading runs) and, with `release` (the
   * default), clears the lease so a standby takes over at once; without it the lease simply expires, as on a crash.
   */
  async stop(opts: { release?: boolean } = {}): Promise<void> {
    this.#release = opts.release ?? true;
    this.#stop.abort();
    await this.#loop;
  }

  async #run(): Promise<void> {
    const { retryPeriodMs, renewDeadlineMs, logger } = this.#o;
    const stopped = this.#stop.signal;
    while (!stopped.aborted) {
      if (!(await this.#tryAcquireOrRenew())) {
        // Jitter, as client-go does, so candidates do not retry in lockstep.
        await sleep(this.#clock, retryPeriodMs * (1 + Math.random() * 0.2), stopped);
        continue;
      }
      let lastRenewedAt = this.#clock.now();
      const term = new AbortController();
      this.#leading = true;
      logger.info({ identity: this.#o.identity }, "became leader");
      this.#callback(() => this.#o.onStartedLeading(term.signal));
      while (!stopped.aborted) {
        await sleep(this.#clock, retryPeriodMs, stopped);
        if (stopped.aborted) break;
        if (await this.#tryAcquireOrRenew()) lastRenewedAt = this.#clock.now();
        else if (mustStepDown(lastRenewedAt, this.#clock.now(), renewDeadlineMs)) {
          logger.warn("could not renew the lease in time; stepping down");
          break;
        }
      }
      this.#leading = false;
      term.abort();
      await this.#callback(() => this.#o.onStoppedLeading());
      if (stopped.aborted && this.#release) await this.#releaseLease();
    }
  }

  async #callback(fn: () => void | Promise<void>): Promise<void> {
    try {
      await fn();
    } catch (err) {
      this.#o.logger.error({ err }, "leader election callback threw");
    }
  }

  async #read(): Promise<LeaseView | undefined> {
    try {
      const lease = await request<LeaseObject>(this.#o.kc, this.#get());
      const identity = lease.spec?.holderIdentity;
      this.#holder = identity ? { identity, annotations: lease.metadata?.annotations ?? {} } : undefined;
      return toView(lease);
    } catch (err) {
      if (statusCode(err) === 404) {
        this.#holder = undefined;
        return undefined;
      }
      throw err;
    }
  }

  #get() {
    return {
      method: "GET" as const,
      path: `${this.#path}/${this.#o.name}`,
      signal: AbortSignal.timeout(this.#o.renewDeadlineMs),
    };
  }

  async #write(view: LeaseView | undefined, record: LeaseRecord): Promise<void> {
    const annotations = record.holderIdentity === this.#o.identity ? this.#o.holderAnnotations() : {};
    const metadata = { name: this.#o.name, namespace: this.#o.namespace, annotations };
    const body = { apiVersion: "coordination.k8s.io/v1", kind: "Lease", spec: toSpec(record) };
    const signal = AbortSignal.timeout(this.#o.renewDeadlineMs);
    if (!view) await request(this.#o.kc, { method: "POST", path: this.#path, body: { ...body, metadata }, signal });
    else {
      const withVersion = { ...body, metadata: { ...metadata, resourceVersion: view.resourceVersion } };
      await request(this.#o.kc, { method: "PUT", path: `${this.#path}/${this.#o.name}`, body: withVersion, signal });
    }
  }

  /** One round: true if this candidate holds the lease afterwards. Conflicts and API errors count as "no". */
  async #tryAcquireOrRenew(): Promise<boolean> {
    const { identity, leaseDurationMs, logger } = this.#o;
    try {
      const view = await this.#read();
      const now = this.#clock.now();
      const { decision, observed } = decide(view, this.#observed, now, identity);
      this.#observed = observed;
      if (decision.action === "wait") return false;
      const record = nextRecord(view?.record, decision.action, identity, now, leaseDurationMs);
      await this.#write(view, record);
      this.#holder = { identity, annotations: this.#o.holderAnnotations() };
      return true;
    } catch (err) {
      if (statusCode(err) !== 409) logger.warn({ err }, "leader election round failed");
      return false;
    }
  }

  async #releaseLease(): Promise<void> {
    try {
      const view = await this.#read();
      if (view?.record.holderIdentity !== this.#o.identity) return;
      await this.#write(view, releasedRecord(view.record, this.#clock.now()));
      this.#holder = undefined;
      this.#o.logger.info("released the lease");
    } catch (err) {
      this.#o.logger.warn({ err }, "could not release the lease; it will expire");
    }
  }
}
