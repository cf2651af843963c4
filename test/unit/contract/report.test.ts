// The report a gateway sends: its progress is status.progress's own shape, and a report of an older gateway (the
// image of the operator that made its pod) is still taken.
import { describe, expect, it } from "vitest";
import { GatewayReportSchema } from "../../../src/contract/report.ts";
import { emptyUsage } from "../../../src/contract/usage.ts";

const report = {
  pod: "job-a0-head",
  role: "user-simulator",
  startId: "0b5a3c4e-1d2f-4a6b-8c9d-0e1f2a3b4c5d",
  usage: { "user-simulator": { ...emptyUsage(), requests: 3 } },
};

describe("GatewayReportSchema", () => {
  it("takes the progress as the status shows it, reward components included", () => {
    const progress = {
      step: 3,
      totalSteps: 120,
      stepOfTotal: "3/120",
      reward: 0.45,
      rewardMetrics: { accuracy: { training: 0.33, validation: 0.25 } },
      lastUpdateTime: "2026-11-22T10:00:01Z",
    };
    expect(GatewayReportSchema.parse({ ...report, progress }).progress).toEqual(progress);
  });

  it("takes an older gateway's report, dropping the fields it no longer knows", () => {
    const older = {
      ...report,
      startedAt: "2026-11-22T09:00:00Z",
      sentAt: "2026-11-22T10:00:02Z",
      budgetTokens: 0,
      budgetExceeded: false,
      progress: { step: 3, totalSteps: 120, reward: 0.45, throughput: 1523.7, updatedAt: "2026-11-22T10:00:01.123Z" },
    };
    expect(GatewayReportSchema.parse(older)).toEqual({
      ...report,
      progress: { step: 3, totalSteps: 120, reward: 0.45, throughput: 1523.7 },
    });
  });

  it.each([
    { name: "a time the apiserver would refuse", progress: { step: 1, lastUpdateTime: "yesterday" } },
    { name: "a metric name no metric file could have", progress: { rewardMetrics: { "a b": { training: 1 } } } },
    { name: "a component that is not a number", progress: { rewardMetrics: { accuracy: { training: "high" } } } },
    {
      name: "more reward metrics than the status keeps",
      progress: { rewardMetrics: Object.fromEntries(Array.from({ length: 17 }, (_, i) => [`m${i}`, {}])) },
    },
  ])("refuses $name", ({ progress }) => {
    expect(GatewayReportSchema.safeParse({ ...report, progress }).success).toBe(false);
  });
});
