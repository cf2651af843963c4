// Two candidates on one real Lease with short durations: exactly one leads; a leader that dies without releasing is
// replaced once the lease expires; a leader that releases is replaced at once.
import { randomBytes } from "node:crypto";
import { afterEach, describe, expect, it } from "vitest";
import { LeaderElector } from "../../../src/runtime/index.ts";
import { kc, testNamespace } from "../kube.ts";
import { logger, waitFor } from "./helpers.ts";

const electors: LeaderElector[] = [];
afterEach(async () => {
  for (const e of electors.splice(0)) await e.stop({ release: false });
});

/** Two electors sharing one lease, and a check that they never lead at the same time. */
function pair(namespace: string, leaseDurationMs: number) {
  const name = `lease-${randomBytes(3).toString("hex")}`;
  let leaders = 0;
  let overlap = false;
  const make = (identity: string) =>
    new LeaderElector({
      kc,
      namespace,
      name,
      identity,
      leaseDurationMs,
      renewDeadlineMs: leaseDurationMs * 0.66,
      retryPeriodMs: 200,
      logger,
      onStartedLeading: () => {
        leaders++;
        if (leaders > 1) overlap = true;
      },
      onStoppedLeading: () => {
        leaders--;
      },
    });
  const all = [make("a"), make("b")];
  electors.push(...all);
  for (const e of all) e.start();
  return { all, overlapped: () => overlap };
}

const leaderOf = (all: LeaderElector[]) => {
  const leading = all.filter((e) => e.isLeader());
  return leading.length === 1 ? leading[0] : undefined;
};

describe("LeaderElector", () => {
  it("elects exactly one leader, and a standby takes over after the leader dies without releasing", async () => {
    const ns = await testNamespace("le");
    const { all, overlapped } = pair(ns, 3000);
    const first = await waitFor("a leader", () => leaderOf(all));
    const standby = all.find((e) => e !== first)!;
    expect(standby.isLeader()).toBe(false);

    await first.stop({ release: false }); // a crash: the lease is left to expire
    await waitFor("takeover after expiry", () => standby.isLeader(), 30_000);
    expect(overlapped()).toBe(false);
  });

  it("hands over at once when the leader releases the lease", async () => {
    const ns = await testNamespace("le");
    // A lease far longer than the wait below: only a release can explain the takeover.
    const { all, overlapped } = pair(ns, 60_000);
    const first = await waitFor("a leader", () => leaderOf(all));
    const standby = all.find((e) => e !== first)!;
    await first.stop();
    await waitFor("takeover after release", () => standby.isLeader(), 20_000);
    expect(overlapped()).toBe(false);
  });
});
