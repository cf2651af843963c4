// The report endpoint's budget conditions and their Events (src/operator/report/ledger.ts): a Warning once as the budget is
// spent or the projection stops fitting it, a Normal once as either ends, nothing for an unchanged or Unknown state.
import { describe, expect, it } from "vitest";
import type { Condition } from "../../../../src/api/schema.ts";
import { budgetConditions, reportedTransitions } from "../../../../src/operator/report/ledger.ts";

const c = (type: string, status: Condition["status"], reason: string): Condition => ({
  type,
  status,
  reason,
  message: `${reason} words`,
  lastTransitionTime: "2026-12-01T10:00:00Z",
});
const exceeded = c("BudgetExceeded", "True", "TokenBudgetSpent");
const within = c("BudgetExceeded", "False", "WithinBudget");
const over = c("BudgetSufficient", "False", "ProjectedOverBudget");
const fits = c("BudgetSufficient", "True", "ProjectionFits");
const estimating = c("BudgetSufficient", "Unknown", "Estimating");

describe("reportedTransitions", () => {
  it.each([
    ["the projection stops fitting", [fits], [over], [["Warning", "ProjectedOverBudget"]]],
    ["a first forecast over the budget", [estimating], [over], [["Warning", "ProjectedOverBudget"]]],
    ["the projection over the budget again (no change)", [over], [over], []],
    ["the projection back within a raised budget", [over], [fits], [["Normal", "ProjectionFits"]]],
    ["a first forecast that fits", [estimating], [fits], []],
    ["estimating", [], [estimating], []],
    ["the budget spent", [within], [exceeded], [["Warning", "TokenBudgetSpent"]]],
    ["the budget spent, told before", [exceeded], [exceeded], []],
    ["a raised budget", [exceeded], [within], [["Normal", "WithinBudget"]]],
    ["within budget from the start", [], [within], []],
  ])("%s", (_, before, after, events) => {
    expect(reportedTransitions(before, after).map((e) => [e.type, e.reason])).toEqual(events);
  });
});

describe("budgetConditions", () => {
  it.each([
    ["Release", "; the job's pods are let go until then (spec.budget.onExhausted: Release)"],
    ["Wait", ""],
    ["Stop", "; the job stops (spec.budget.onExhausted: Stop)"],
  ] as const)("says what %s does once the budget is spent", (onExhausted, then) => {
    const [spentCondition] = budgetConditions(
      [],
      { totalTokens: 1000 },
      { maxTokens: 1000, onExhausted },
      undefined,
      undefined,
      "2026-12-01T10:00:00Z",
      1,
    );
    expect(spentCondition).toMatchObject({ type: "BudgetExceeded", status: "True", reason: "TokenBudgetSpent" });
    expect(spentCondition?.message).toBe(
      `1000 of 1000 tokens used; the gateways refuse further calls (raise spec.budget.maxTokens to continue: they resume by themselves)${then}`,
    );
  });
});
