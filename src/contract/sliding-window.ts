// The exact sliding window both sides run: the gateway's own limiter (static shares: one request a charge, a 60 s
// window) and the operator's allowance books (grants of many requests, counted over the window plus their validity).
// A log of weighted charges rather than a token bucket: no window, wherever it starts, holds more than the limit,
// which is what upstream providers enforce and what the property tests check. Pure: the caller passes the time in.

export const WINDOW_MS = 60_000;

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
