// The job-wide guarantees of the operator's allowances, on a virtual clock (governance-sim.ts): several gateways and
// the operator's book, a network that delays and loses messages, skewed and shifting load, and the operator, a
// gateway and the whole gang restarted mid-run. Checked over the log of what reached the upstream.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { GRANT_VALIDITY_MS } from "../../../../src/contract/allowance.ts";
import { WINDOW_MS } from "../../../../src/contract/sliding-window.ts";
import { AllowanceBooks, type JobTerms } from "../../../../src/operator/report/allowance.ts";
import { busiestWindow, GovernanceSim, type SimCall } from "./governance-sim.ts";

function terms(limits: Partial<JobTerms["roles"]["judge"]["limits"]>, budget = { tokens: 0, cost: 0 }): JobTerms {
  const role = {
    limits: { requestsPerMinute: 0, tokensPerMinute: 0, maxConcurrency: 0, ...limits },
    prices: undefined,
  };
  return { roles: { "user-simulator": role, judge: role }, budget };
}

/** A seeded generator, so a failing case replays. */
function seeded(seed: number): () => number {
  let state = seed >>> 0 || 1;
  return () => {
    state = (state * 1664525 + 1013904223) >>> 0;
    return state / 2 ** 32;
  };
}

const call = (pod: number, tokens = 100, durationMs = 500, used = tokens): SimCall => ({
  pod,
  need: { promptTokens: tokens / 2, completionTokens: tokens / 2 },
  used: { promptTokens: used / 2, completionTokens: used / 2 },
  durationMs,
});

/** Keeps `per` calls per second coming from each pod `from(now)` names. */
function steady(per: number, from: (now: number) => number[], make = call) {
  let owed = 0;
  return (sim: GovernanceSim) => {
    owed += (per * 10) / 1000;
    while (owed >= 1) {
      owed--;
      for (const pod of from(sim.now)) sim.call(make(pod));
    }
  };
}

describe("job-wide limits", () => {
  it("no window of the upstream's arrivals holds more than the job's limits, whatever the load, faults and delays", () => {
    fc.assert(
      fc.property(
        fc.record({
          rpm: fc.integer({ min: 20, max: 600 }),
          tpm: fc.oneof(fc.constant(0), fc.integer({ min: 5_000, max: 60_000 })),
          concurrency: fc.integer({ min: 1, max: 40 }),
          pods: fc.integer({ min: 1, max: 5 }),
          perSecond: fc.integer({ min: 1, max: 30 }),
          delay: fc.integer({ min: 0, max: 300 }),
          loss: fc.constantFrom(0, 0.05, 0.3),
          fault: fc.constantFrom(
            "none",
            "operator",
            "operator-down",
            "gateway",
            "gang",
            "operator+gateway",
            "operator+gang",
          ),
          faultAt: fc.integer({ min: 5_000, max: 100_000 }),
          seed: fc.integer(),
        }),
        (p) => {
          const sim = new GovernanceSim({
            pods: p.pods,
            terms: terms({ requestsPerMinute: p.rpm, tokensPerMinute: p.tpm, maxConcurrency: p.concurrency }),
            delayMs: [0, p.delay],
            loss: p.loss,
            random: seeded(p.seed),
            stepMs: 20,
          });
          // All calls from pod 0 first, then from the last pod, then from all of them.
          const from = (now: number) => (now < 40_000 ? [0] : now < 80_000 ? [p.pods - 1] : [...Array(p.pods).keys()]);
          const load = steady(p.perSecond, from, (pod) => call(pod, 50 + ((pod * 37) % 400), 200 + pod * 300));
          sim.run(p.faultAt, load);
          if (p.fault === "operator") sim.restartOperator();
          if (p.fault === "operator-down") sim.stopOperator();
          if (p.fault === "gateway") sim.restartGateway(0);
          if (p.fault === "gang") sim.restartGang();
          // Both at once: the new leader never hears of what the dead gateways sent.
          if (p.fault === "operator+gateway") {
            sim.restartOperator();
            sim.restartGateway(0);
          }
          if (p.fault === "operator+gang") {
            sim.restartOperator();
            sim.restartGang();
          }
          sim.run(20_000, load);
          if (p.fault === "operator-down") sim.restartOperator();
          sim.run(150_000 - p.faultAt, load);
          const busiest = busiestWindow(sim.arrivals, WINDOW_MS);
          expect(busiest.requests).toBeLessThanOrEqual(p.rpm);
          if (p.tpm > 0) expect(busiest.tokens).toBeLessThanOrEqual(p.tpm);
          expect(sim.maxInFlight).toBeLessThanOrEqual(p.concurrency);
          expect(sim.arrivals.length).toBeGreaterThan(0);
        },
      ),
      { numRuns: 40 },
    );
  }, 120_000);

  it("lets one busy pod of four use at least 90% of the job's requests per minute", () => {
    const sim = new GovernanceSim({
      pods: 4,
      terms: terms({ requestsPerMinute: 600, maxConcurrency: 64 }),
      delayMs: [1, 5],
      loss: 0,
      random: seeded(7),
      stepMs: 20,
    });
    // Far more than the limit, all from pod 2.
    sim.run(
      20 * 60_000,
      steady(30, () => [2]),
    );
    const late = sim.arrivals.filter((a) => a.at >= 5 * 60_000);
    const share = late.length / (15 * 600);
    // The steady state of the design: 60 s of calls for every 60 s + T of grants.
    expect(share).toBeGreaterThanOrEqual(0.9);
    expect(share).toBeCloseTo(WINDOW_MS / (WINDOW_MS + GRANT_VALIDITY_MS), 1);
    expect(busiestWindow(sim.arrivals, WINDOW_MS).requests).toBeLessThanOrEqual(600);
    // Paced: no second sees more than what the limit allows in T (the grant size), so no burst of a minute's worth.
    expect(busiestWindow(sim.arrivals, 1000).requests).toBeLessThanOrEqual((600 * GRANT_VALIDITY_MS) / WINDOW_MS);
  }, 60_000);

  it("moves capacity to where the calls go when the load shifts from one pod to another", () => {
    const sim = new GovernanceSim({
      pods: 4,
      terms: terms({ requestsPerMinute: 600, maxConcurrency: 16 }),
      delayMs: [1, 5],
      loss: 0,
      random: seeded(3),
    });
    // 480 calls a minute (80% of the limit), from pod 0, then from pod 3.
    sim.run(
      4 * 60_000,
      steady(8, (now) => (now < 90_000 ? [0] : [3])),
    );
    // Once pod 0's grants have left the window (60 s + T after the shift), pod 3 gets all it asks for.
    const settled = sim.arrivals.filter((a) => a.at >= 160_000 && a.at < 220_000);
    expect(settled.every((a) => a.pod === 3)).toBe(true);
    expect(settled.length).toBeGreaterThanOrEqual(0.97 * 480);
    expect(sim.waiting).toBeLessThan(16);
  });

  it("keeps slots within maxConcurrency and lets a busy pod take the slots an idle one gave back", () => {
    const sim = new GovernanceSim({
      pods: 3,
      terms: terms({ maxConcurrency: 12 }),
      delayMs: [1, 20],
      loss: 0.05,
      random: seeded(11),
    });
    // Pod 0 keeps 12 long calls going, then stops; pod 1 then does the same.
    sim.run(
      30_000,
      steady(
        20,
        (now) => (now < 15_000 ? [0] : [1]),
        (pod) => call(pod, 100, 2_000),
      ),
    );
    expect(sim.maxInFlight).toBeLessThanOrEqual(12);
    const late = sim.arrivals.filter((a) => a.at >= 25_000);
    // 12 slots, 2 s calls: 6 calls a second at most, and pod 1 gets close to that.
    expect(late.length / 5).toBeGreaterThan(5);
  });

  it("survives an operator restart without a window over the limit, and resumes after T", () => {
    const sim = new GovernanceSim({
      pods: 4,
      terms: terms({ requestsPerMinute: 300, maxConcurrency: 64 }),
      delayMs: [1, 10],
      loss: 0,
      random: seeded(5),
    });
    const load = steady(20, (now) => [Math.floor(now / 20_000) % 4]);
    sim.run(45_000, load);
    sim.restartOperator();
    const restartedAt = sim.now;
    sim.run(120_000, load);
    expect(busiestWindow(sim.arrivals, WINDOW_MS).requests).toBeLessThanOrEqual(300);
    const afterRestart = sim.arrivals.filter((a) => a.at > restartedAt);
    expect(afterRestart[0]!.at - restartedAt).toBeGreaterThanOrEqual(0);
    expect(afterRestart.length).toBeGreaterThan(0);
  });
});

describe("job-wide budget", () => {
  it("is never overspent by more than what calls in flight used beyond their reservations", () => {
    fc.assert(
      fc.property(
        fc.record({
          budget: fc.integer({ min: 2_000, max: 200_000 }),
          pods: fc.integer({ min: 1, max: 5 }),
          perSecond: fc.integer({ min: 1, max: 20 }),
          underestimate: fc.boolean(),
          fault: fc.constantFrom("none", "operator", "gateway", "gang"),
          seed: fc.integer(),
        }),
        (p) => {
          const sim = new GovernanceSim({
            pods: p.pods,
            terms: terms({ maxConcurrency: 32 }, { tokens: p.budget, cost: 0 }),
            delayMs: [0, 50],
            loss: 0.05,
            random: seeded(p.seed),
            stepMs: 20,
          });
          const random = seeded(p.seed + 1);
          // Calls use up to their reservation; with `underestimate` some use more (a prompt estimate too low).
          const make = (pod: number) => {
            const tokens = 100 + Math.floor(random() * 900);
            const used = Math.floor(tokens * (p.underestimate ? 0.5 + random() : random()));
            return call(pod, tokens, 100 + Math.floor(random() * 1000), used);
          };
          const load = steady(p.perSecond, (now) => (now < 20_000 ? [0] : [...Array(p.pods).keys()]), make);
          sim.run(15_000, load);
          if (p.fault === "operator") sim.restartOperator();
          if (p.fault === "gateway") sim.restartGateway(0);
          if (p.fault === "gang") sim.restartGang();
          sim.run(120_000, load);
          // The bound: the budget, plus what calls used beyond their reservation (0 when every estimate holds).
          expect(sim.usedTokens).toBeLessThanOrEqual(p.budget + sim.overrun);
          if (!p.underestimate) expect(sim.overrun).toBe(0);
        },
      ),
      { numRuns: 40 },
    );
  }, 120_000);

  it("stops calls at the cost budget, at the endpoints' prices", () => {
    const budget = terms({ maxConcurrency: 16 }, { tokens: 0, cost: 0.5 });
    const prices = { promptPerMillionTokens: 10, completionPerMillionTokens: 30 };
    budget.roles = { "user-simulator": { ...budget.roles.judge, prices }, judge: { ...budget.roles.judge, prices } };
    const sim = new GovernanceSim({ pods: 4, terms: budget, delayMs: [1, 10], loss: 0, random: seeded(9) });
    // Each call reserves 50 + 50 tokens: 0.002 at these prices.
    sim.run(
      90_000,
      steady(10, (now) => [Math.floor(now / 10_000) % 4]),
    );
    expect(sim.refusedForBudget).toBeGreaterThan(0);
    const spent = (sim.used.promptTokens * 10 + sim.used.completionTokens * 30) / 1_000_000;
    expect(spent).toBeLessThanOrEqual(0.5 + 1e-9);
    expect(spent).toBeGreaterThan(0.5 - 4 * 0.002);
  });

  it("counts what the served roles' GPUs cost against the cost budget: the paid calls get the rest", () => {
    const budget = terms({ maxConcurrency: 16 }, { tokens: 0, cost: 0.5 });
    const prices = { promptPerMillionTokens: 10, completionPerMillionTokens: 30 };
    budget.roles = { "user-simulator": { ...budget.roles.judge, prices }, judge: { ...budget.roles.judge, prices } };
    const sim = new GovernanceSim({
      pods: 4,
      terms: budget,
      servedCost: 0.3,
      delayMs: [1, 10],
      loss: 0,
      random: seeded(9),
    });
    sim.run(
      90_000,
      steady(10, (now) => [Math.floor(now / 10_000) % 4]),
    );
    expect(sim.refusedForBudget).toBeGreaterThan(0);
    const spent = (sim.used.promptTokens * 10 + sim.used.completionTokens * 30) / 1_000_000;
    expect(spent).toBeLessThanOrEqual(0.2 + 1e-9);
    expect(spent).toBeGreaterThan(0.2 - 4 * 0.002);
  });

  it("refuses calls once the budget cannot cover them, and resumes by itself when the budget is raised", () => {
    const sim = new GovernanceSim({
      pods: 4,
      terms: terms({ maxConcurrency: 16 }, { tokens: 20_000, cost: 0 }),
      delayMs: [1, 10],
      loss: 0,
      random: seeded(1),
    });
    const load = steady(10, (now) => [Math.floor(now / 10_000) % 4]);
    sim.run(60_000, load);
    expect(sim.refusedForBudget).toBeGreaterThan(0);
    const spent = sim.usedTokens;
    expect(spent).toBeLessThanOrEqual(20_000);
    // Nearly all of it: a call reserves 100 tokens, so less than one call's worth per pod is left over.
    expect(spent).toBeGreaterThan(20_000 - 4 * 100);
    const before = sim.arrivals.length;
    sim.setTerms(terms({ maxConcurrency: 16 }, { tokens: 40_000, cost: 0 }));
    sim.run(60_000, load);
    expect(sim.arrivals.length).toBeGreaterThan(before);
    expect(sim.usedTokens).toBeLessThanOrEqual(40_000);
    expect(sim.usedTokens).toBeGreaterThan(40_000 - 4 * 100);
  });
});

describe("the books of every job", () => {
  it("forgets a job's book once that job is gone or replaced, asking about each book only", () => {
    const books = new AllowanceBooks();
    const kept = books.book("uid-a", "ns/a", 0);
    books.book("uid-b", "ns/b", 0);
    books.book("uid-c", "ns/c", 0);
    const asked: string[] = [];
    // b was deleted; c was deleted and made again under the same name (a new uid).
    const live = new Map([
      ["ns/a", "uid-a"],
      ["ns/c", "uid-c2"],
    ]);
    books.prune((uid, key) => {
      asked.push(key);
      return live.get(key) === uid;
    });
    expect(asked.sort()).toEqual(["ns/a", "ns/b", "ns/c"]);
    expect(books.find("uid-a")).toBe(kept);
    expect(books.find("uid-b")).toBeUndefined();
    expect(books.find("uid-c")).toBeUndefined();
  });
});
