// What the admission queue asks of a limiter, and the static one: this pod's fixed share of the job's limits over the
// sliding window (contract/sliding-window.ts). Pure: the caller passes the time in, so tests drive it with a fake
// clock. The other limiter is the operator's allowances (allowance.ts).
import type { Limits } from "../contract/allowance.ts";
import { type Charge, SlidingWindow, WINDOW_MS } from "../contract/sliding-window.ts";
import { type TokenCounts, totalTokens } from "../contract/usage.ts";

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
  neverFits(need: TokenCounts): string | undefined;
  tryAcquire(now: number, need: TokenCounts): Decision;
  /** How long until the request could be admitted, concurrency aside (0: now); Infinity when unknown. */
  waitMs(now: number, need: TokenCounts): number;
  /** Ends a request; `used` (from the upstream's usage) replaces the estimate. */
  release(ticket: Ticket, used?: TokenCounts): void;
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

  neverFits(need: TokenCounts): string | undefined {
    const tpm = this.limits.tokensPerMinute;
    const tokens = totalTokens(need);
    return tpm > 0 && tokens > tpm
      ? `request needs ~${tokens} tokens, more than this pod's limit of ${tpm} per minute`
      : undefined;
  }

  waitMs(now: number, need: TokenCounts): number {
    return this.window.limited ? this.window.waitMs(now, 1, totalTokens(need)) : 0;
  }

  tryAcquire(now: number, need: TokenCounts): Decision {
    const { maxConcurrency } = this.limits;
    if (maxConcurrency > 0 && this.inFlight >= maxConcurrency) return { admitted: false, waitMs: null };
    const tokens = totalTokens(need);
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

  release(ticket: Ticket, used?: TokenCounts): void {
    this.inFlight--;
    if (!used) return;
    const own = ticket as WindowTicket;
    own.tokens = totalTokens(used);
    if (own.charge) this.window.settle(own.charge, 1, own.tokens);
  }
}
