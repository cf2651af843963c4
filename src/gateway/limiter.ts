// Pure rate limiting over an exact sliding window. The caller passes the time in, so tests drive it with a fake clock.
// An exact window (a log of charges) rather than a token bucket: it guarantees that no window, wherever it starts,
// holds more than the limit, which is what upstream providers enforce and what the property tests check.
//
// SlidingWindow is the weighted log (a charge may stand for several requests), shared by the gateway's own limiter
// (static shares: one request a charge, a 60 s window) and the operator's allowance book (grants of many requests,
// counted over the window plus their validity: src/operator/allowance.ts).

export const WINDOW_MS = 60_000;

export interface Limits {
  /** 0 means unlimited, for each of the three. */
  requestsPerMinute: number;
  tokensPerMinute: number;
  maxConcurrency: number;
}

/** What a call is expected to use (before it is sent) or did use (after): prompt and completion tokens. */
export interface Need {
  prompt: number;
  completion: number;
}

export function tokensOf(need: Need): number {
  return need.prompt + need.completion;
}

/** One charge in the log; its counts may be settled (replaced) while it is still in the window. */
export interface Charge {
  at: number;
  requests: number;
  tokens: number;
  inWindow: boolean;
}

export class SlidingWindow {
  readonly windowMs: number;
  requestsPerWindow: number;
  tokensPerWindow: number;
  private readonly log: Charge[] = [];
  private head = 0;
  private requests = 0;
  private tokens = 0;

  /** Limits of 0 mean unlimited. */
  constructor(windowMs: number, requestsPerWindow: number, tokensPerWindow: number) {
    this.windowMs = windowMs;
    this.requestsPerWindow = requestsPerWindow;
    this.tokensPerWindow = tokensPerWindow;
  }

  get limited(): boolean {
    return this.requestsPerWindow > 0 || this.tokensPerWindow > 0;
  }

  /** What the window can still take now (Infinity for an unlimited dimension, 0 when over a lowered limit). */
  room(now: number): { requests: number; tokens: number } {
    this.expire(now);
    const left = (limit: number, used: number) => (limit > 0 ? Math.max(0, limit - used) : Number.POSITIVE_INFINITY);
    return { requests: left(this.requestsPerWindow, this.requests), tokens: left(this.tokensPerWindow, this.tokens) };
  }

  /** How long until the window has room for this charge (0: now); Infinity when it never will (larger than a limit). */
  waitMs(now: number, requests: number, tokens: number): number {
    this.expire(now);
    const rpm = this.requestsPerWindow;
    const tpm = this.tokensPerWindow;
    if ((rpm > 0 && requests > rpm) || (tpm > 0 && tokens > tpm)) return Number.POSITIVE_INFINITY;
    const overRequests = rpm > 0 ? this.requests + requests - rpm : 0;
    const overTokens = tpm > 0 ? this.tokens + tokens - tpm : 0;
    if (overRequests <= 0 && overTokens <= 0) return 0;
    // The oldest charges leave the window first: walk them until enough has left for both limits.
    let freedRequests = 0;
    let freedTokens = 0;
    for (let i = this.head; i < this.log.length; i++) {
      const charge = this.log[i]!;
      freedRequests += charge.requests;
      freedTokens += charge.tokens;
      if (freedRequests >= overRequests && freedTokens >= overTokens) {
        return Math.max(1, charge.at + this.windowMs - now);
      }
    }
    return Number.POSITIVE_INFINITY; // over a lowered limit by more than the whole window holds: never
  }

  /** Charges now if the window has room; otherwise says how long until it will. */
  tryCharge(now: number, requests: number, tokens: number): Charge | { waitMs: number } {
    const waitMs = this.waitMs(now, requests, tokens);
    if (waitMs > 0) return { waitMs };
    return this.record(now, requests, tokens);
  }

  /**
   * Charges unconditionally at `at`, which may lie in the past (what was already sent, learnt late): the log stays
   * ordered by time.
   */
  record(at: number, requests: number, tokens: number): Charge {
    const charge: Charge = { at, requests, tokens, inWindow: true };
    let index = this.log.length;
    while (index > this.head && this.log[index - 1]!.at > at) index--;
    this.log.splice(index, 0, charge);
    this.requests += requests;
    this.tokens += tokens;
    return charge;
  }

  /** Replaces a charge's counts with what was really used, while it is still in the window. */
  settle(charge: Charge, requests: number, tokens: number): void {
    if (!charge.inWindow) return;
    this.requests += requests - charge.requests;
    this.tokens += tokens - charge.tokens;
    charge.requests = requests;
    charge.tokens = tokens;
  }

  private expire(now: number): void {
    while (this.head < this.log.length && now - this.log[this.head]!.at >= this.windowMs) {
      const old = this.log[this.head++]!;
      old.inWindow = false;
      this.requests -= old.requests;
      this.tokens -= old.tokens;
    }
    // Compact now and then so the log does not grow without bound.
    if (this.head > 1024 && this.head * 2 > this.log.length) {
      this.log.splice(0, this.head);
      this.head = 0;
    }
  }
}

/** Handed out on admission; give it back to release() when the request ends. */
export interface Ticket {
  at: number;
  /** Tokens charged: the estimate, then what the upstream said it used. */
  tokens: number;
}

export type Decision =
  | { admitted: true; ticket: Ticket }
  /** waitMs: when the limiter will have room again; null when only a release or news from outside can make room. */
  | { admitted: false; waitMs: number | null }
  /** The request is refused for good (the job's budget is spent): waiting would not help. */
  | { admitted: false; refused: Error };

/** What the admission queue needs of a limiter: the static one below, or the operator's allowances (allowance.ts). */
export interface Limiter {
  readonly active: number;
  /** Why a request of this size can never be admitted, or undefined. */
  neverFits(need: Need): string | undefined;
  tryAcquire(now: number, need: Need): Decision;
  /** How long until the request could be admitted, concurrency aside (0: now); Infinity when unknown. */
  waitMs(now: number, need: Need): number;
  /** Ends a request; `used` (from the upstream's usage) replaces the estimate. */
  release(ticket: Ticket, used?: Need): void;
}

interface WindowTicket extends Ticket {
  charge: Charge | undefined;
}

/** This pod's fixed share of the job's limits, over a 60 s window (the gateway without --allowance-url). */
export class SlidingWindowLimiter implements Limiter {
  readonly limits: Limits;
  private readonly window: SlidingWindow;
  private inFlight = 0;

  constructor(limits: Limits) {
    this.limits = limits;
    this.window = new SlidingWindow(WINDOW_MS, limits.requestsPerMinute, limits.tokensPerMinute);
  }

  get active(): number {
    return this.inFlight;
  }

  neverFits(need: Need): string | undefined {
    const tpm = this.limits.tokensPerMinute;
    const tokens = tokensOf(need);
    return tpm > 0 && tokens > tpm
      ? `request needs ~${tokens} tokens, more than this pod's limit of ${tpm} per minute`
      : undefined;
  }

  waitMs(now: number, need: Need): number {
    return this.window.limited ? this.window.waitMs(now, 1, tokensOf(need)) : 0;
  }

  tryAcquire(now: number, need: Need): Decision {
    const { maxConcurrency } = this.limits;
    if (maxConcurrency > 0 && this.inFlight >= maxConcurrency) return { admitted: false, waitMs: null };
    const tokens = tokensOf(need);
    let charge: Charge | undefined;
    // Without a per-minute limit there is no window to keep: 60 s of admissions would be memory for nothing.
    if (this.window.limited) {
      const result = this.window.tryCharge(now, 1, tokens);
      if ("waitMs" in result) return { admitted: false, waitMs: result.waitMs };
      charge = result;
    }
    this.inFlight++;
    const ticket: WindowTicket = { at: now, tokens, charge };
    return { admitted: true, ticket };
  }

  release(ticket: Ticket, used?: Need): void {
    this.inFlight--;
    if (!used) return;
    const own = ticket as WindowTicket;
    own.tokens = tokensOf(used);
    if (own.charge) this.window.settle(own.charge, 1, own.tokens);
  }
}
