// Pure retry policy: which upstream failures are worth another attempt, and how long to wait before it.
// Exponential backoff with full jitter (AWS architecture blog), except that a Retry-After from the upstream is
// honoured exactly; a wait that would cross the request's deadline is not taken at all. An upstream that is a server
// the job runs (holdUnavailable) is waited for while none of its replicas answers: a replica being replaced is not
// an error of the request, so those tries are not retries.

export interface Backoff {
  /** Retries after the first attempt; the total number of attempts is retries + 1. */
  retries: number;
  baseMs: number;
  maxMs: number;
  /** The upstream is a server the job runs: while it is unavailable, try again every holdMs, not counted as retries. */
  holdUnavailable?: boolean;
  holdMs?: number;
}

export const DEFAULT_BACKOFF = { baseMs: 500, maxMs: 30_000, holdMs: 2_000 } as const;

export type Failure =
  | { kind: "status"; status: number; retryAfterMs: number | undefined }
  | { kind: "timeout" }
  | { kind: "connection" }
  /** Anything else (a bug, a refused argument): retrying would fail the same way. */
  | { kind: "internal" };

export function isRetryable(failure: Failure): boolean {
  if (failure.kind === "status") return failure.status === 429 || failure.status >= 500;
  return failure.kind !== "internal";
}

/**
 * What a server with no replica answering looks like from the gateway: the connection refused, reset or timed out
 * (no endpoint behind its Service), or a 502, 503 or 504 (a proxy with nothing behind it, vLLM still loading).
 */
export function isUnavailable(failure: Failure): boolean {
  if (failure.kind === "status") return failure.status === 502 || failure.status === 503 || failure.status === 504;
  return failure.kind === "connection" || failure.kind === "timeout";
}

/**
 * The wait before trying a served upstream again that is unavailable (its Retry-After, else holdMs), or null when
 * the failure is not one to hold for, holding is off, or the wait would not end before the deadline.
 */
export function holdDelay(backoff: Backoff, failure: Failure, remainingMs: number): number | null {
  if (!backoff.holdUnavailable || !isUnavailable(failure)) return null;
  const retryAfter = failure.kind === "status" ? failure.retryAfterMs : undefined;
  const delay = retryAfter ?? backoff.holdMs ?? DEFAULT_BACKOFF.holdMs;
  return delay < remainingMs ? delay : null;
}

/** Reads `retry-after-ms` (OpenAI's), else `retry-after` as seconds or an HTTP date. */
export function parseRetryAfter(headers: { get(name: string): string | null }, nowMs: number): number | undefined {
  const ms = Number(headers.get("retry-after-ms") ?? Number.NaN);
  if (Number.isFinite(ms) && ms >= 0) return ms;
  const value = headers.get("retry-after");
  if (value === null || value.trim() === "") return undefined;
  const seconds = Number(value);
  if (Number.isFinite(seconds)) return seconds >= 0 ? seconds * 1000 : undefined;
  const date = Date.parse(value);
  return Number.isNaN(date) ? undefined : Math.max(0, date - nowMs);
}

/**
 * The wait before retry number `retriesDone + 1`, or null when the request must give up: the failure is not
 * retryable, the retries are used up, or the wait would not end before the deadline.
 */
export function nextDelay(
  backoff: Backoff,
  retriesDone: number,
  failure: Failure,
  remainingMs: number,
  random: () => number,
): number | null {
  if (!isRetryable(failure) || retriesDone >= backoff.retries) return null;
  const retryAfter = failure.kind === "status" ? failure.retryAfterMs : undefined;
  const delay = retryAfter ?? random() * Math.min(backoff.maxMs, backoff.baseMs * 2 ** retriesDone);
  return delay < remainingMs ? delay : null;
}
