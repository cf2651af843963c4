// Pure rate limiter: an exact sliding window over the last 60 s for requests and tokens, plus an in-flight cap.
// The caller passes the time in, so tests drive it with a fake clock. An exact window (a log of admissions) rather
// than a token bucket: it guarantees that no 60 s window, wherever it starts, admits more than the limit, which is
// what upstream providers enforce and what the property tests check.

export const WINDOW_MS = 60_000;

export interface Limits {
  /** 0 means unlimited, for each of the three. */
  requestsPerMinute: number;
  tokensPerMinute: number;
  maxConcurrency: number;
}

interface Admission {
  at: number;
  tokens: number;
  inWindow: boolean;
}

/** Handed out on admission; give it back to release() when the request ends. */
export type Ticket = Admission;

export type Decision =
  | { admitted: true; ticket: Ticket }
  /** waitMs: when the window will have room again; null when only a release() can make room. */
  | { admitted: false; waitMs: number | null };

export class SlidingWindowLimiter {
  readonly limits: Limits;
  private readonly log: Admission[] = [];
  private head = 0;
  private tokensInWindow = 0;
  private inFlight = 0;

  constructor(limits: Limits) {
    this.limits = limits;
  }

  get active(): number {
    return this.inFlight;
  }

  /** A request estimated above the whole per-minute token limit can never be admitted. */
  neverFits(tokens: number): boolean {
    return this.limits.tokensPerMinute > 0 && tokens > this.limits.tokensPerMinute;
  }

  /**
   * How long until the per-minute windows have room for `tokens` (0: now), concurrency aside; Infinity when only
   * releases can make room.
   */
  windowWaitMs(now: number, tokens: number): number {
    this.expire(now);
    const { requestsPerMinute: rpm, tokensPerMinute: tpm } = this.limits;
    let waitUntil = Number.NEGATIVE_INFINITY;
    const count = this.log.length - this.head;
    if (rpm > 0 && count >= rpm) {
      // The (count - rpm + 1) oldest admissions must leave the window first.
      waitUntil = this.log[this.head + count - rpm]!.at + WINDOW_MS;
    }
    if (tpm > 0 && this.tokensInWindow + tokens > tpm) {
      // Without a break below the request alone exceeds the limit: it can never be admitted (see neverFits).
      let until = Number.POSITIVE_INFINITY;
      let freed = 0;
      for (let i = this.head; i < this.log.length; i++) {
        freed += this.log[i]!.tokens;
        if (this.tokensInWindow - freed + tokens <= tpm) {
          until = this.log[i]!.at + WINDOW_MS;
          break;
        }
      }
      waitUntil = Math.max(waitUntil, until);
    }
    return waitUntil > Number.NEGATIVE_INFINITY ? Math.max(1, waitUntil - now) : 0;
  }

  tryAcquire(now: number, tokens: number): Decision {
    const { requestsPerMinute: rpm, tokensPerMinute: tpm, maxConcurrency } = this.limits;
    if (maxConcurrency > 0 && this.inFlight >= maxConcurrency) return { admitted: false, waitMs: null };
    const waitMs = this.windowWaitMs(now, tokens);
    if (waitMs > 0) return { admitted: false, waitMs };
    // Without a per-minute limit there is no window to keep: 60 s of admissions would be memory for nothing.
    const windowed = rpm > 0 || tpm > 0;
    const ticket: Admission = { at: now, tokens, inWindow: windowed };
    if (windowed) {
      this.log.push(ticket);
      this.tokensInWindow += tokens;
    }
    this.inFlight++;
    return { admitted: true, ticket };
  }

  /** Ends a request; actualTokens (from the upstream's usage) replaces the estimate while it is still in the window. */
  release(ticket: Ticket, actualTokens?: number): void {
    this.inFlight--;
    if (actualTokens !== undefined && ticket.inWindow) {
      this.tokensInWindow += actualTokens - ticket.tokens;
      ticket.tokens = actualTokens;
    }
  }

  private expire(now: number): void {
    while (this.head < this.log.length && now - this.log[this.head]!.at >= WINDOW_MS) {
      const old = this.log[this.head++]!;
      old.inWindow = false;
      this.tokensInWindow -= old.tokens;
    }
    // Compact now and then so the log does not grow without bound.
    if (this.head > 1024 && this.head * 2 > this.log.length) {
      this.log.splice(0, this.head);
      this.head = 0;
    }
  }
}
