import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { exponentialDelayMs, RateLimiter, reserveToken } from "../../../src/runtime/rate-limit.ts";
import { FakeClock } from "./fake-clock.ts";

describe("exponentialDelayMs", () => {
  it("doubles from the base and stops at the cap", () => {
    expect([0, 1, 2, 3].map((n) => exponentialDelayMs(n, 5, 1_000_000))).toEqual([5, 10, 20, 40]);
    expect(exponentialDelayMs(100, 5, 1_000_000)).toBe(1_000_000);
    expect(exponentialDelayMs(5000, 5, 1_000_000)).toBe(1_000_000); // 2^5000 is Infinity: still capped
  });

  it("never decreases and never exceeds the cap", () => {
    fc.assert(
      fc.property(fc.nat(2000), fc.integer({ min: 1, max: 1000 }), fc.integer({ min: 1, max: 1e9 }), (n, base, max) => {
        const d = exponentialDelayMs(n, base, max);
        expect(d).toBeLessThanOrEqual(Math.max(base, max));
        expect(exponentialDelayMs(n + 1, base, max)).toBeGreaterThanOrEqual(d);
      }),
    );
  });
});

describe("reserveToken", () => {
  it("serves the burst at once, then spaces callers at 1/qps", () => {
    let bucket = { tokens: 2, at: 0 };
    const delays: number[] = [];
    for (let i = 0; i < 4; i++) {
      const r = reserveToken(bucket, 0, 10, 2);
      bucket = r.bucket;
      delays.push(r.delayMs);
    }
    expect(delays).toEqual([0, 0, 100, 200]);
    expect(reserveToken(bucket, 1000, 10, 2).delayMs).toBe(0); // refilled, capped at burst
  });
});

describe("RateLimiter", () => {
  it("backs off one key exponentially and starts over after forget", () => {
    const limiter = new RateLimiter(new FakeClock(), { bucket: false });
    expect([1, 2, 3, 4].map(() => limiter.when("a"))).toEqual([5, 10, 20, 40]);
    expect(limiter.when("b")).toBe(5); // keys back off independently
    expect(limiter.failures("a")).toBe(4);
    limiter.forget("a");
    expect(limiter.failures("a")).toBe(0);
    expect(limiter.when("a")).toBe(5);
  });

  it("grows with failures and resets on forget, for any sequence", () => {
    fc.assert(
      fc.property(fc.array(fc.boolean(), { maxLength: 60 }), (ops) => {
        const limiter = new RateLimiter(new FakeClock(), { bucket: false, maxMs: 1000 });
        let last = 0;
        for (const fail of ops) {
          if (!fail) {
            limiter.forget("k");
            last = 0;
            continue;
          }
          const d = limiter.when("k");
          expect(d).toBe(last === 0 ? 5 : Math.min(last * 2, 1000));
          last = d;
        }
      }),
    );
  });

  it("lets the overall bucket slow a storm of distinct failing keys", () => {
    const limiter = new RateLimiter(new FakeClock(), { bucket: { qps: 10, burst: 3 } });
    const delays = ["a", "b", "c", "d", "e"].map((k) => limiter.when(k));
    expect(delays).toEqual([5, 5, 5, 100, 200]);
  });
});
