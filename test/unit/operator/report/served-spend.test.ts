// A served role's spend: its server's GPU-hours (status.serving) brought up to the minute at pricing.perGpuHour, in
// status.usage beside the token spend of the paid role, and in the spend the cost budget is measured against.
import { describe, expect, it } from "vitest";
import type { Spec, Status } from "../../../../src/api/schema.ts";
import { emptyUsage } from "../../../../src/contract/usage.ts";
import { usageTotals } from "../../../../src/operator/report/ledger.ts";
import { servedSpend } from "../../../../src/operator/report/served-spend.ts";

type Server = NonNullable<Status["serving"]>[number];
const server = (more: Partial<Server>): Server => ({
  name: "job-judge-server",
  roles: ["judge"],
  model: "Qwen/Qwen2.5-7B-Instruct",
  replicas: 1,
  readyReplicas: 1,
  url: "http://job-judge-server.ns.svc:8000/v1",
  gpus: 2,
  gpuHours: 1,
  accountedAt: "2026-11-22T10:00:00Z",
  ...more,
});
const spec = (judgePricing?: object, simulatorPricing?: object) =>
  ({
    judge: { pricing: judgePricing },
    userSimulator: { pricing: simulatorPricing },
  }) as unknown as Pick<Spec, "judge" | "userSimulator">;

describe("servedSpend", () => {
  it("adds the GPUs held since the last accounting, to the minute, at the role's price per GPU-hour", () => {
    // 30 min 40 s later: counted to the minute (30 min) with 2 GPUs, on top of the hour accounted.
    const spend = servedSpend(spec({ perGpuHour: 3 }), [server({})], new Date("2026-11-22T10:30:40Z"));
    expect(spend.judge?.gpuHours).toBeCloseTo(2);
    expect(spend.judge?.cost).toBeCloseTo(6);
    expect(spend["user-simulator"]).toBeUndefined();
  });

  it("bills a server shared by both roles on the judge, and keeps the hours of an unpriced one", () => {
    const shared = server({ roles: ["judge", "userSimulator"], gpus: 0 });
    expect(servedSpend(spec(undefined, { perGpuHour: 9 }), [shared], new Date("2026-11-22T11:00:00Z"))).toEqual({
      judge: { gpuHours: 1 },
    });
  });

  it("puts the served cost in status.usage beside a paid role's token cost", () => {
    const prices = { promptPerMillionTokens: 1, completionPerMillionTokens: 2 };
    const usage = { ...emptyUsage(), requests: 1, promptTokens: 1_000_000, completionTokens: 1_000_000 };
    const entries = new Map([
      ["p.user-simulator.s", { role: "user-simulator" as const, usage }],
      ["p.judge.s", { role: "judge" as const, usage }],
    ]);
    const totals = usageTotals(spec({ perGpuHour: 3 }, prices), entries, { judge: { gpuHours: 2, cost: 6 } });
    expect(totals.judge).toMatchObject({ gpuHours: 2, cost: 6, promptTokens: 1_000_000 });
    expect(totals.userSimulator).toMatchObject({ cost: 3 });
    expect(totals.totalCost).toBeCloseTo(9);
  });
});
