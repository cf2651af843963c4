// Properties and cases of the pure retry policy.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { type Failure, holdDelay, isRetryable, nextDelay, parseRetryAfter } from "../../../src/gateway/retry-policy.ts";

const failureArb: fc.Arbitrary<Failure> = fc.oneof(
  fc.record({
    kind: fc.constant("status" as const),
    status: fc.constantFrom(400, 401, 404, 408, 422, 429, 500, 502, 503),
    retryAfterMs: fc.option(fc.integer({ min: 0, max: 120_000 }), { nil: undefined }),
  }),
  fc.constant<Failure>({ kind: "timeout" }),
  fc.constant<Failure>({ kind: "connection" }),
);

const headers = (entries: Record<string, string>) => ({ get: (name: string) => entries[name] ?? null });

describe("retry policy", () => {
  it("never retries more than the configured count, and never waits past the deadline", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 8 }),
        fc.array(failureArb, { maxLength: 20 }),
        fc.integer({ min: 0, max: 600_000 }),
        fc.double({ min: 0, max: 1, noNaN: true, maxExcluded: true }),
        (retries, failures, deadlineMs, jitter) => {
          const backoff = { retries, baseMs: 500, maxMs: 30_000 };
          let retriesDone = 0;
          let elapsed = 0;
          for (const failure of failures) {
            const delay = nextDelay(backoff, retriesDone, failure, deadlineMs - elapsed, () => jitter);
            if (delay === null) break;
            expect(isRetryable(failure)).toBe(true);
            expect(delay).toBeGreaterThanOrEqual(0);
            elapsed += delay;
            expect(elapsed).toBeLessThan(deadlineMs);
            if (failure.kind === "status" && failure.retryAfterMs !== undefined)
              expect(delay).toBe(failure.retryAfterMs);
            retriesDone++;
          }
          expect(retriesDone).toBeLessThanOrEqual(retries);
        },
      ),
    );
  });

  it("retries 429, 5xx, timeouts and connection errors only", () => {
    const status = (s: number): Failure => ({ kind: "status", status: s, retryAfterMs: undefined });
    expect([429, 500, 503].map((s) => isRetryable(status(s)))).toEqual([true, true, true]);
    expect([400, 401, 404, 422].map((s) => isRetryable(status(s)))).toEqual([false, false, false, false]);
    expect(isRetryable({ kind: "timeout" })).toBe(true);
    expect(isRetryable({ kind: "connection" })).toBe(true);
  });

  it("backs off exponentially with full jitter, capped", () => {
    const backoff = { retries: 10, baseMs: 500, maxMs: 30_000 };
    const failure: Failure = { kind: "connection" };
    expect(nextDelay(backoff, 0, failure, 1e9, () => 0.999)).toBeCloseTo(499.5);
    expect(nextDelay(backoff, 3, failure, 1e9, () => 0.5)).toBe(2000);
    expect(nextDelay(backoff, 9, failure, 1e9, () => 0.5)).toBe(15_000);
  });

  it("gives up when Retry-After would cross the deadline", () => {
    const failure: Failure = { kind: "status", status: 429, retryAfterMs: 60_000 };
    expect(nextDelay({ retries: 5, baseMs: 1, maxMs: 1 }, 0, failure, 30_000, Math.random)).toBeNull();
  });

  it("reads Retry-After as seconds, as an HTTP date, and retry-after-ms", () => {
    const now = Date.parse("2025-01-01T00:00:00Z");
    expect(parseRetryAfter(headers({ "retry-after": "7" }), now)).toBe(7000);
    expect(parseRetryAfter(headers({ "retry-after": "Wed, 01 Jan 2025 00:00:30 GMT" }), now)).toBe(30_000);
    expect(parseRetryAfter(headers({ "retry-after": "Tue, 31 Dec 2024 00:00:00 GMT" }), now)).toBe(0);
    expect(parseRetryAfter(headers({ "retry-after-ms": "250", "retry-after": "7" }), now)).toBe(250);
    expect(parseRetryAfter(headers({ "retry-after": "soon" }), now)).toBeUndefined();
    expect(parseRetryAfter(headers({}), now)).toBeUndefined();
  });

  it("holds for a served upstream that is unavailable only: every holdMs (or its Retry-After), within the deadline", () => {
    const held = { retries: 0, baseMs: 500, maxMs: 30_000, holdUnavailable: true, holdMs: 2_000 };
    const cases: [Failure, number, number | null][] = [
      [{ kind: "connection" }, 60_000, 2_000],
      [{ kind: "timeout" }, 60_000, 2_000],
      [{ kind: "status", status: 503, retryAfterMs: undefined }, 60_000, 2_000],
      [{ kind: "status", status: 502, retryAfterMs: 5_000 }, 60_000, 5_000],
      [{ kind: "status", status: 504, retryAfterMs: undefined }, 1_000, null],
      [{ kind: "status", status: 500, retryAfterMs: undefined }, 60_000, null],
      [{ kind: "status", status: 429, retryAfterMs: undefined }, 60_000, null],
      [{ kind: "internal" }, 60_000, null],
    ];
    for (const [failure, remaining, delay] of cases) expect(holdDelay(held, failure, remaining)).toBe(delay);
    expect(holdDelay({ ...held, holdUnavailable: false }, { kind: "connection" }, 60_000)).toBeNull();
  });
});
