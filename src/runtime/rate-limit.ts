// Rate-limiting math for retries, after client-go's DefaultControllerRateLimiter: the larger of a per-key
// exponential backoff (5 ms doubling to 1000 s) and an overall token bucket (10 qps, burst 100), so one failing key
// backs off alone while a storm of failures cannot hammer the apiserver. The math is pure; the class keeps state.
import type { Clock } from "./clock.ts";

/** Delay before retry number `failures` (0-based): base * 2^failures, capped. */
export function exponentialDelayMs(failures: number, baseMs: number, maxMs: number): number {
  return Math.min(baseMs * 2 ** failures, maxMs);
}

export interface Bucket {
  tokens: number;
  at: number;
}

/**
 * Takes one token from a bucket refilled at `qps` up to `burst`. Tokens may go negative: like golang.org/x/time/rate's
 * Reserve, each caller gets the delay until its own token exists, so later callers wait longer.
 */
export function reserveToken(
  bucket: Bucket,
  now: number,
  qps: number,
  burst: number,
): { bucket: Bucket; delayMs: number } {
  const refilled = Math.min(burst, bucket.tokens + (Math.max(0, now - bucket.at) * qps) / 1000);
  const tokens = refilled - 1;
  return { bucket: { tokens, at: now }, delayMs: tokens >= 0 ? 0 : (-tokens / qps) * 1000 };
}

export interface RateLimiterOptions {
  baseMs?: number;
  maxMs?: number;
  /** Overall bucket; `false` turns it off. */
  bucket?: { qps: number; burst: number } | false;
}

export class RateLimiter {
  readonly #failures = new Map<string, number>();
  readonly #baseMs: number;
  readonly #maxMs: number;
  readonly #limits: { qps: number; burst: number } | false;
  readonly #clock: Clock;
  #bucket: Bucket;

  constructor(clock: Clock, opts: RateLimiterOptions = {}) {
    this.#clock = clock;
    this.#baseMs = opts.baseMs ?? 5;
    this.#maxMs = opts.maxMs ?? 1_000_000;
    this.#limits = opts.bucket ?? { qps: 10, burst: 100 };
    this.#bucket = { tokens: this.#limits ? this.#limits.burst : 0, at: clock.now() };
  }

  /** The delay for the next retry of `key`; each call counts as one more failure. */
  when(key: string): number {
    const failures = this.#failures.get(key) ?? 0;
    this.#failures.set(key, failures + 1);
    const perKey = exponentialDelayMs(failures, this.#baseMs, this.#maxMs);
    if (!this.#limits) return perKey;
    const reserved = reserveToken(this.#bucket, this.#clock.now(), this.#limits.qps, this.#limits.burst);
    this.#bucket = reserved.bucket;
    return Math.max(perKey, reserved.delayMs);
  }

  /** Forgets `key`'s failures (after a success), so its next failure starts again at the base delay. */
  forget(key: string): void {
    this.#failures.delete(key);
  }

  failures(key: string): number {
    return this.#failures.get(key) ?? 0;
  }
}
