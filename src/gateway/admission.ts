// The bounded fair queue in front of the limiter. Strictly first come, first served: a large request at the head is
// not overtaken by small ones behind it, so no request starves. A full queue is refused at once (the caller turns
// that into a clear 429) instead of growing without bound.
import type { TokenCounts } from "../contract/usage.ts";
import type { Limiter, Ticket } from "./limiter.ts";

/** The queue is full; `retryAfterMs`: when the limiter expects room for the request at its head (or at least 1 s). */
export class QueueFullError extends Error {
  readonly retryAfterMs: number;
  constructor(message: string, retryAfterMs: number) {
    super(message);
    this.retryAfterMs = retryAfterMs;
  }
}
export class NeverFitsError extends Error {}

interface Waiter {
  need: TokenCounts;
  resolve: (ticket: Ticket) => void;
  reject: (error: unknown) => void;
  signal: AbortSignal | undefined;
  onAbort: () => void;
}

/** What the requests in the queue need together, for a limiter that asks for its capacity ahead (allowance.ts). */
export interface Waiting {
  count: number;
  need: TokenCounts;
  /** The request at the head: the least a grant must cover to be of use. */
  head: TokenCounts | undefined;
}

export class AdmissionQueue {
  private readonly limiter: Limiter;
  private readonly maxWaiting: number;
  private readonly now: () => number;
  private readonly waiters: Waiter[] = [];
  private timer: NodeJS.Timeout | undefined;

  constructor(limiter: Limiter, maxWaiting: number, now: () => number = performance.now.bind(performance)) {
    this.limiter = limiter;
    this.maxWaiting = maxWaiting;
    this.now = now;
  }

  get waiting(): number {
    return this.waiters.length;
  }

  get active(): number {
    return this.limiter.active;
  }

  waitingDemand(): Waiting {
    const need = { promptTokens: 0, completionTokens: 0 };
    for (const w of this.waiters) {
      need.promptTokens += w.need.promptTokens;
      need.completionTokens += w.need.completionTokens;
    }
    return { count: this.waiters.length, need, head: this.waiters[0]?.need };
  }

  acquire(need: TokenCounts, signal?: AbortSignal): Promise<Ticket> {
    const never = this.limiter.neverFits(need);
    if (never) return Promise.reject(new NeverFitsError(never));
    if (this.waiters.length === 0) {
      const decision = this.limiter.tryAcquire(this.now(), need);
      if (decision.admitted) return Promise.resolve(decision.ticket);
      if ("refused" in decision) return Promise.reject(decision.refused);
    }
    if (this.waiters.length >= this.maxWaiting) {
      // A place frees when the head is admitted: when the limiter has room for it. Held back only by requests in
      // flight, or when the limiter cannot know (waiting for the operator), a second is the soonest worth trying.
      const head = this.waiters[0];
      const wait = head ? this.limiter.waitMs(this.now(), head.need) : 0;
      const retryAfterMs = Number.isFinite(wait) ? Math.max(1000, wait) : 1000;
      return Promise.reject(
        new QueueFullError(`gateway queue is full (${this.maxWaiting} requests waiting)`, Math.ceil(retryAfterMs)),
      );
    }
    signal?.throwIfAborted();
    return new Promise<Ticket>((resolve, reject) => {
      const waiter: Waiter = { need, resolve, reject, signal, onAbort: () => this.abandon(waiter) };
      signal?.addEventListener("abort", waiter.onAbort, { once: true });
      this.waiters.push(waiter);
      this.pump();
    });
  }

  release(ticket: Ticket, used?: TokenCounts): void {
    this.limiter.release(ticket, used);
    this.pump();
  }

  /** The limiter got capacity from elsewhere (an allowance arrived): admit whoever fits now. */
  poke(): void {
    this.pump();
  }

  private abandon(waiter: Waiter): void {
    const index = this.waiters.indexOf(waiter);
    if (index < 0) return;
    this.waiters.splice(index, 1);
    waiter.reject(waiter.signal?.reason);
    // The head may have changed: the next one could fit now.
    this.pump();
  }

  private pump(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    while (this.waiters.length > 0) {
      const head = this.waiters[0]!;
      const decision = this.limiter.tryAcquire(this.now(), head.need);
      if (!decision.admitted && !("refused" in decision)) {
        if (decision.waitMs !== null && Number.isFinite(decision.waitMs)) {
          this.timer = setTimeout(() => this.pump(), decision.waitMs);
        }
        return;
      }
      this.waiters.shift();
      head.signal?.removeEventListener("abort", head.onAbort);
      if (decision.admitted) head.resolve(decision.ticket);
      else head.reject(decision.refused);
    }
  }
}
