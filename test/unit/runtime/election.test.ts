import { KubeConfig } from "@kubernetes/client-node";
import fc from "fast-check";
import { pino } from "pino";
import { describe, expect, it } from "vitest";
import { decide, type LeaseView, mustStepDown, nextRecord, releasedRecord } from "../../../src/runtime/election.ts";
import { electionDefaults } from "../../../src/runtime/leader-elector.ts";

const held = (holder: string, rv = "1", seconds = 15): LeaseView => ({
  resourceVersion: rv,
  record: { holderIdentity: holder, leaseDurationSeconds: seconds, renewTime: 0, leaseTransitions: 2 },
});

describe("decide", () => {
  it("creates a missing lease", () => {
    expect(decide(undefined, undefined, 0, "me").decision).toEqual({ action: "create" });
  });

  it("renews its own lease and takes a released one", () => {
    expect(decide(held("me"), undefined, 0, "me").decision.action).toBe("renew");
    expect(decide(held(""), undefined, 0, "me").decision.action).toBe("take");
  });

  it("waits a full lease duration from when it first saw the current version, whatever renewTime says", () => {
    let { decision, observed } = decide(held("other", "7"), undefined, 1000, "me");
    expect(decision).toEqual({ action: "wait", holder: "other", expiresInMs: 15_000 });
    ({ decision, observed } = decide(held("other", "7"), observed, 15_999, "me"));
    expect(decision.action).toBe("wait");
    ({ decision } = decide(held("other", "7"), observed, 16_000, "me"));
    expect(decision.action).toBe("take");
  });

  it("restarts the wait whenever the holder renews (a new resourceVersion)", () => {
    const first = decide(held("other", "7"), undefined, 0, "me");
    const renewed = decide(held("other", "8"), first.observed, 14_000, "me");
    expect(renewed.decision).toEqual({ action: "wait", holder: "other", expiresInMs: 15_000 });
  });

  it("never takes a lease that another holder renewed within its duration (property)", () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: 14_999 }), { minLength: 1, maxLength: 30 }), (gaps) => {
        // The holder renews after each gap (< lease duration); the candidate polls right before each renewal.
        let observed: ReturnType<typeof decide>["observed"];
        let now = 0;
        gaps.forEach((gap, i) => {
          const lease = held("other", String(i));
          observed = decide(lease, observed, now, "me").observed;
          now += gap;
          expect(decide(lease, observed, now, "me").decision.action).toBe("wait");
        });
      }),
    );
  });
});

describe("records", () => {
  it("counts a transition only when the lease changes hands", () => {
    const taken = nextRecord(held("other").record, "take", "me", 5000, 15_000);
    expect(taken).toEqual({
      holderIdentity: "me",
      leaseDurationSeconds: 15,
      acquireTime: 5000,
      renewTime: 5000,
      leaseTransitions: 3,
    });
    expect(nextRecord(undefined, "create", "me", 0, 1500).leaseTransitions).toBe(0);
    const renewed = nextRecord(taken, "renew", "me", 9000, 15_000);
    expect(renewed).toMatchObject({ acquireTime: 5000, renewTime: 9000, leaseTransitions: 3 });
  });

  it("releases by clearing the holder", () => {
    expect(releasedRecord(held("me").record, 7)).toMatchObject({ holderIdentity: undefined, leaseDurationSeconds: 1 });
  });

  it("steps down once renewals failed for the renew deadline", () => {
    expect(mustStepDown(0, 9_999, 10_000)).toBe(false);
    expect(mustStepDown(0, 10_000, 10_000)).toBe(true);
  });
});

describe("elector options", () => {
  // The Manager passes its timings through as explicit undefined; a spread of defaults kept them undefined, every
  // round failed on AbortSignal.timeout(undefined) and the operator never led.
  it("falls back to controller-runtime's timings for options passed as undefined", () => {
    const o = electionDefaults({
      kc: new KubeConfig(),
      namespace: "ns",
      name: "lease",
      identity: "me",
      logger: pino({ level: "silent" }),
      onStartedLeading: () => {},
      onStoppedLeading: () => {},
      leaseDurationMs: undefined,
      renewDeadlineMs: undefined,
      retryPeriodMs: undefined,
    });
    expect([o.leaseDurationMs, o.renewDeadlineMs, o.retryPeriodMs]).toEqual([15_000, 10_000, 2_000]);
    expect(electionDefaults({ ...o, retryPeriodMs: 200 }).retryPeriodMs).toBe(200);
  });
});
