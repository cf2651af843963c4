// Cost and pace (src/operator/report/pace.ts): the step marks, the means over the recent steps, the projection and
// the BudgetSufficient condition, with its hysteresis.
import { describe, expect, it } from "vitest";
import type { Condition, Pace, Progress } from "../../../../src/api/schema.ts";
import {
  type ByEndpoint,
  forecastCondition,
  type Mark,
  nextMarks,
  paceOf,
  paceWindow,
  projectedNeed,
} from "../../../../src/operator/report/pace.ts";

const T0 = Date.parse("2026-12-01T10:00:00Z");
const at = (seconds: number) => new Date(T0 + seconds * 1000).toISOString().replace(/\.\d{3}Z$/, "Z");
const usage = (simTokens: number, judgeTokens: number, simCost = 0, judgeCost = 0): ByEndpoint => ({
  "user-simulator": { tokens: simTokens, cost: simCost },
  judge: { tokens: judgeTokens, cost: judgeCost },
});
/** Step n read at 100·n s, each step 1,000 simulator and 2,000 judge tokens, 0.01 and 0.03. */
const mark = (step: number): Mark => ({
  step,
  time: at(100 * step),
  usage: usage(1000 * step, 2000 * step, 0.01 * step, 0.03 * step),
});
const progress = (step: number, seconds: number): Progress => ({ step, lastUpdateTime: at(seconds) });

describe("paceWindow", () => {
  it.each([
    [10, 10],
    [-1, 10],
    [0, 10],
    [4, 12],
    [3, 12],
    [25, 25],
    [49, 49],
    [50, 10],
    [100, 10],
  ])("validateEvery %i: %i steps", (validateEvery, window) => {
    expect(paceWindow(validateEvery)).toBe(window);
  });
});

describe("nextMarks", () => {
  const marks = [mark(1), mark(2)];
  const now = usage(3000, 6000, 0.03, 0.09);

  it("adds a mark for a new step line, with the usage as it stands", () => {
    expect(nextMarks(marks, progress(3, 300), now, 10)).toEqual([
      mark(1),
      mark(2),
      { step: 3, time: at(300), usage: now },
    ]);
  });

  it.each([
    ["no progress", undefined],
    ["progress without a step", { lastUpdateTime: at(300) }],
    ["the same step line reported again", progress(2, 200)],
  ])("keeps the marks as they are for %s", (_, p) => {
    expect(nextMarks(marks, p as Progress | undefined, now, 10)).toBe(marks);
  });

  it.each([
    ["the same step done again after a restart", progress(2, 900)],
    ["an earlier step: the trainer resumed from a checkpoint", progress(1, 900)],
  ])("starts anew for %s", (_, p) => {
    expect(nextMarks(marks, p, now, 10)).toEqual([{ step: p.step, time: p.lastUpdateTime, usage: now }]);
  });

  it("keeps the window's steps and one mark before them", () => {
    const many = Array.from({ length: 11 }, (_, i) => mark(i + 1));
    const next = nextMarks(many, progress(12, 1200), usage(12000, 24000), 10);
    expect(next.map((m) => m.step)).toEqual([2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]);
  });
});

describe("paceOf", () => {
  it("is none before two marks", () => {
    expect(paceOf([], 10, true)).toBeUndefined();
    expect(paceOf([mark(1)], 10, true)).toBeUndefined();
  });

  it("means per step by endpoint, the latest step, the projection and when the run ends", () => {
    const pace = paceOf([mark(1), mark(2), mark(4)], 10, true) as Pace;
    expect(pace.perStep).toMatchObject({ steps: 3, seconds: 100, longestSeconds: 100, tokens: 3000 });
    expect(pace.perStep.cost).toBeCloseTo(0.04);
    expect(pace.perStep.userSimulator).toEqual({ tokens: 1000, cost: expect.closeTo(0.01) });
    expect(pace.perStep.judge).toEqual({ tokens: 2000, cost: expect.closeTo(0.03) });
    // The last two marks are two steps apart (a step line not seen): the latest figures are their mean.
    expect(pace.lastStep).toMatchObject({ step: 4, steps: 2, seconds: 100, tokens: 3000 });
    expect(pace.stepsLeft).toBe(6);
    expect(pace.projectedTokens).toBe(30000);
    expect(pace.projectedCost).toBeCloseTo(0.4);
    expect(pace.estimatedCompletionTime).toBe(at(1000));
  });

  it("takes the longest time between two step lines, and the mean over all of them", () => {
    const slow = { ...mark(3), time: at(500) };
    const pace = paceOf([mark(1), mark(2), slow], 3, false) as Pace;
    expect(pace.perStep).toMatchObject({ steps: 2, seconds: 200, longestSeconds: 300 });
    expect(pace.lastStep).toMatchObject({ step: 3, seconds: 300 });
  });

  it("has no spend without pricing and no projection without a total", () => {
    const unpriced = paceOf([mark(1), mark(2)], 10, false) as Pace;
    expect(unpriced.perStep.cost).toBeUndefined();
    expect(unpriced.perStep.judge).toEqual({ tokens: 2000 });
    expect(unpriced.projectedCost).toBeUndefined();
    expect(unpriced.projectedTokens).toBe(30000);
    const untotalled = paceOf([mark(1), mark(2)], undefined, true) as Pace;
    expect(untotalled).not.toHaveProperty("stepsLeft");
    expect(untotalled).not.toHaveProperty("projectedTokens");
    expect(untotalled).not.toHaveProperty("estimatedCompletionTime");
  });

  it("counts no negative use when a mark saw a gateway's counters that the next one has not yet", () => {
    const behind = { ...mark(3), usage: usage(1500, 6000, 0.015, 0.09) };
    expect((paceOf([mark(2), behind], 10, true) as Pace).lastStep.userSimulator.tokens).toBe(0);
  });
});

describe("forecastCondition", () => {
  const NOW = at(5000);
  const pace = (steps: number, projectedCost: number, projectedTokens = 1000): Pace => ({
    lastStep: {
      step: 40,
      steps: 1,
      seconds: 60,
      tokens: 100,
      cost: 1,
      userSimulator: { tokens: 40 },
      judge: { tokens: 60 },
    },
    perStep: {
      steps,
      seconds: 60,
      longestSeconds: 70,
      tokens: 100,
      cost: 1,
      userSimulator: { tokens: 40, cost: 0.4 },
      judge: { tokens: 60, cost: 0.6 },
    },
    stepsLeft: 60,
    projectedTokens,
    projectedCost,
    estimatedCompletionTime: at(8600),
  });
  const decide = (before: Condition[], p: Pace | undefined, budget = { tokens: 0, cost: 80 }) =>
    forecastCondition(before, p, budget, NOW, 3);

  it("says nothing without a budget", () => {
    expect(decide([], pace(10, 100), { tokens: 0, cost: 0 })).toEqual([]);
  });

  it("is Unknown until the means rest on three steps", () => {
    expect(decide([], pace(2, 100))).toEqual([
      expect.objectContaining({ type: "BudgetSufficient", status: "Unknown", reason: "Estimating" }),
    ]);
    expect(decide([], undefined)[0]?.message).toContain("(0 so far)");
  });

  it("keeps a decided forecast while a restarted trainer's marks are too few", () => {
    const over = decide([], pace(10, 100));
    expect(decide(over, pace(1, 100))).toEqual(over);
    expect(decide(over, undefined)).toEqual(over);
  });

  it("is True while the projection fits, False once it passes the budget, naming the step it runs out at", () => {
    expect(decide([], pace(10, 70))[0]).toMatchObject({ status: "True", reason: "ProjectionFits" });
    const over = decide([], pace(10, 100))[0]!;
    expect(over).toMatchObject({ status: "False", reason: "ProjectedOverBudget", observedGeneration: 3 });
    // 40 steps spent 40; 40 more fit in 80; the run has 100.
    expect(over.message).toBe(
      "at the recent pace (over the last 10 steps, 1.00 and 100 tokens a step) the run needs 100.00 of the budget's 80.00 (spec.budget.maxCost): it runs out around step 81 of 100; raise spec.budget, or expect the gateways to refuse calls from then on",
    );
  });

  it("checks a token budget the same way", () => {
    const over = decide([], pace(10, 0, 12_000), { tokens: 10_000, cost: 0 })[0]!;
    expect(over.message).toContain("12000 of the budget's 10000 tokens (spec.budget.maxTokens)");
  });

  it("goes back to True only under 95% of the budget, so a projection at the line does not flap", () => {
    const wasOver = decide([], pace(10, 100));
    expect(decide(wasOver, pace(10, 78))[0]).toMatchObject({ status: "False" });
    const back = decide(wasOver, pace(10, 75))[0]!;
    expect(back).toMatchObject({ status: "True", reason: "ProjectionFits", lastTransitionTime: NOW });
    // Unchanged status keeps its transition time.
    expect(decide(wasOver, pace(10, 110))[0]!.lastTransitionTime).toBe(wasOver[0]!.lastTransitionTime);
  });

  it("says how much more than the budget the steps left need", () => {
    expect(projectedNeed(pace(10, 100), { tokens: 0, cost: 80 })).toBe(
      "at the recent pace (over the last 10 steps) its 60 steps left need about 20.00 more than the budget",
    );
    expect(projectedNeed(pace(10, 70), { tokens: 0, cost: 80 })).toBeUndefined();
    expect(projectedNeed(pace(2, 100), { tokens: 0, cost: 80 })).toBeUndefined();
  });
});
