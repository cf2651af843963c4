// The bounded fair queue in front of the limiter. Strictly first come, first served: a large request at the head is
// not overtaken by small ones behind it, so no request starves. A full queue is refused at once (the caller turns
// that into a clear 429) instead of growing without bound.
import type { SlidingWindowLimiter, Ticket } from "./limiter.ts";

/** The queue is full; `retryAfterMs`: when the limiter's window opens for the request at its head (or at least 1 s). */
export class QueueFullError extends Error {
  readonly retryAfterMs: number;
  constructor(message: string, retryAfterMs: number) {
    super(message);
    this.retryAfterMs = retryAfterMs;
  }
}
export class NeverFitsError extends Error {}

interface Waiter {
  tokens: number;
  resolve: (ticket: Ticket) => void;
  reject: (error: unknown) => void;
  signal: AbortSignal | undefined;
  onAbort: () => void;
}

export class AdmissionQueue {
  private readonly limiter: SlidingWindowLimiter;
  private readonly maxWaiting: number;
  private readonly now: () => number;
  private readonly waiters: Waiter[] = [];
  private timer: NodeJS.Timeout | undefined;

  constructor(
    limiter: SlidingWindowLimiter,
    maxWaiting: number,
    now: () => number = performance.now.bind(performance),
  ) {
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

  acquire(tokens: number, signal?: AbortSignal): Promise<Ticket> {
    if (this.limiter.neverFits(tokens)) {
      return Promise.reject(
        new NeverFitsError(
          `request needs ~${tokens} tokens, more than this pod's limit of ${this.limiter.limits.tokensPerMinute} per minute`,
        ),
      );
    }
    if (this.waiters.length === 0) {
      const decision = this.limiter.tryAcquire(this.now(), tokens);
      if (decision.admitted) return Promise.resolve(decision.ticket);
    }
    if (this.waiters.length >= this.maxWaiting) {
      // A place frees when the head is admitted: when the window opens for it. Held back only by requests in flight
      // (or with no queue at all), no time is known; a second is the soonest worth trying again.
      const head = this.waiters[0];
      const wait = head ? this.limiter.windowWaitMs(this.now(), head.tokens) : 0;
      const retryAfterMs = Number.isFinite(wait) ? Math.max(1000, wait) : 1000;
      return Promise.reject(
        new QueueFullError(`gateway queue is full (${this.maxWaiting} requests waiting)`, Math.ceil(retryAfterMs)),
      );
    }
    signal?.throwIfAborted();
    return new Promise<Ticket>((resolve, reject) => {
      const waiter: Waiter = { tokens, resolve, reject, signal, onAbort: () => this.abandon(waiter) };
      signal?.addEventListener("abort", waiter.onAbort, { once: true });
      this.waiters.push(waiter);
      this.pump();
    });
  }

  release(ticket: Ticket, actualTokens?: number): void {
    this.limiter.release(ticket, actualTokens);
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
      const decision = this.limiter.tryAcquire(this.now(), head.tokens);
      if (!decision.admitted) {
        if (decision.waitMs !== null) this.timer = setTimeout(() => this.pump(), decision.waitMs);
        return;
      }
      this.waiters.shift();
      head.signal?.removeEventListener("abort", head.onAbort);
      head.resolve(decision.ticket);
    }
  }
}
