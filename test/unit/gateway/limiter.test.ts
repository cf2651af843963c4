// Property tests of the sliding-window limiter, driven by a fake clock.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { WINDOW_MS } from "../../../src/contract/sliding-window.ts";
import { SlidingWindowLimiter, type Ticket } from "../../../src/gateway/limiter.ts";

/** A request of `tokens` prompt tokens. */
const need = (tokens: number) => ({ promptTokens: tokens, completionTokens: 0 });

const limitsArb = fc.record({
  requestsPerMinute: fc.integer({ min: 0, max: 20 }),
  tokensPerMinute: fc.integer({ min: 0, max: 5000 }),
  maxConcurrency: fc.integer({ min: 0, max: 6 }),
});

// One step of a workload: time passes, then a request of `tokens` asks to be admitted, and maybe an older one ends
// (reporting actual usage at most its estimate, or above it when `overrun`).
const stepArb = fc.record({
  advanceMs: fc.oneof(fc.integer({ min: 0, max: 500 }), fc.integer({ min: 0, max: 70_000 })),
  tokens: fc.integer({ min: 1, max: 1500 }),
  release: fc.option(fc.nat(), { nil: undefined }),
  actualFraction: fc.double({ min: 0, max: 1, noNaN: true }),
});

describe("SlidingWindowLimiter", () => {
  it("never admits more than the limits in any 60 s window, nor more than maxConcurrency at once", () => {
    fc.assert(
      fc.property(limitsArb, fc.array(stepArb, { maxLength: 300 }), (limits, steps) => {
        const limiter = new SlidingWindowLimiter(limits);
        const admitted: Ticket[] = [];
        const open: Ticket[] = [];
        let now = 0;
        for (const step of steps) {
          now += step.advanceMs;
          if (step.release !== undefined && open.length > 0) {
            const [ticket] = open.splice(step.release % open.length, 1);
            // Actual usage at most the estimate (the estimate includes max_tokens); a ticket then carries the actual.
            limiter.release(ticket!, need(Math.floor(ticket!.tokens * step.actualFraction)));
          }
          if (limiter.neverFits(need(step.tokens))) continue;
          const decision = limiter.tryAcquire(now, need(step.tokens));
          if (decision.admitted) {
            admitted.push(decision.ticket);
            open.push(decision.ticket);
          }
          if (limits.maxConcurrency > 0) expect(limiter.active).toBeLessThanOrEqual(limits.maxConcurrency);
        }
        // The busiest window starts at some admission: checking those windows checks them all. Tokens are counted as
        // finally charged: the actual usage of released requests, the estimate of open ones.
        for (const start of admitted) {
          const inWindow = admitted.filter((a) => a.at >= start.at && a.at < start.at + WINDOW_MS);
          if (limits.requestsPerMinute > 0) expect(inWindow.length).toBeLessThanOrEqual(limits.requestsPerMinute);
          if (limits.tokensPerMinute > 0) {
            expect(inWindow.reduce((sum, a) => sum + a.tokens, 0)).toBeLessThanOrEqual(limits.tokensPerMinute);
          }
        }
      }),
    );
  });

  it("admits a refused request once the wait it named has passed", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 10 }),
        fc.array(fc.integer({ min: 0, max: 30_000 }), { minLength: 1, maxLength: 40 }),
        (rpm, gaps) => {
          const limiter = new SlidingWindowLimiter({ requestsPerMinute: rpm, tokensPerMinute: 0, maxConcurrency: 0 });
          let now = 0;
          for (const gap of gaps) {
            now += gap;
            const decision = limiter.tryAcquire(now, need(1));
            if (!decision.admitted) {
              const waitMs = "waitMs" in decision ? decision.waitMs : null;
              expect(waitMs).toBeGreaterThan(0);
              now += waitMs!;
              expect(limiter.tryAcquire(now, need(1)).admitted).toBe(true);
            }
          }
        },
      ),
    );
  });

  it("waits for a release, not for time, when only concurrency is exhausted", () => {
    const limiter = new SlidingWindowLimiter({ requestsPerMinute: 0, tokensPerMinute: 0, maxConcurrency: 1 });
    const first = limiter.tryAcquire(0, need(10));
    expect(limiter.tryAcquire(0, need(10))).toEqual({ admitted: false, waitMs: null });
    if (first.admitted) limiter.release(first.ticket);
    expect(limiter.tryAcquire(0, need(10)).admitted).toBe(true);
  });

  it("charges the upstream's actual tokens instead of the estimate", () => {
    const limiter = new SlidingWindowLimiter({ requestsPerMinute: 0, tokensPerMinute: 1000, maxConcurrency: 0 });
    const first = limiter.tryAcquire(0, need(900));
    expect(limiter.tryAcquire(1, need(900)).admitted).toBe(false);
    if (first.admitted) limiter.release(first.ticket, need(50));
    expect(limiter.tryAcquire(2, need(900)).admitted).toBe(true);
  });

  it("knows a request larger than the per-minute token limit can never fit", () => {
    const limiter = new SlidingWindowLimiter({ requestsPerMinute: 0, tokensPerMinute: 100, maxConcurrency: 0 });
    expect(limiter.neverFits(need(101))).toMatch(/101 tokens/);
    expect(limiter.tryAcquire(0, need(101))).toEqual({ admitted: false, waitMs: Number.POSITIVE_INFINITY });
  });
});
