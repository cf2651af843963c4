// Token sums and spend, the one place both the gateway and the operator compute them.
import { describe, expect, it } from "vitest";
import { costOf, emptyUsage, totalTokens, UsageCountersSchema } from "../../../src/contract/usage.ts";

describe("usage", () => {
  it("sums prompt and completion tokens, of a call or of a process's counters", () => {
    expect(totalTokens({ promptTokens: 300, completionTokens: 50 })).toBe(350);
    expect(totalTokens({ ...emptyUsage(), promptTokens: 7, completionTokens: 3 })).toBe(10);
  });

  it("prices prompt and completion tokens each at their own rate per million, and nothing without prices", () => {
    const prices = { promptPerMillionTokens: 0.15, completionPerMillionTokens: 0.6 };
    expect(costOf({ promptTokens: 2_000_000, completionTokens: 1_000_000 }, prices)).toBeCloseTo(0.9, 12);
    expect(costOf({ promptTokens: 2_000_000, completionTokens: 1_000_000 }, undefined)).toBe(0);
  });

  it("starts a process at zero in every counter the report schema knows", () => {
    expect(UsageCountersSchema.parse(emptyUsage())).toEqual(emptyUsage());
    expect(Object.keys(emptyUsage()).sort()).toEqual(Object.keys(UsageCountersSchema.shape).sort());
    expect(Object.values(emptyUsage()).every((v) => v === 0)).toBe(true);
  });
});
