// Restart policy: a failure restarts the whole stage as the next attempt, after every pod of the ended attempt is gone
// and a doubling backoff; counted failures are bounded by maxRestarts, disruptions by maxDisruptions.
import type { V1Pod } from "@kubernetes/client-node";
import { describe, expect, it } from "vitest";
import type { Spec } from "../../../../src/api/schema.ts";
import type { AttemptFailure } from "../../../../src/operator/plan/pod-failure.ts";
import {
  backoffSeconds,
  type Counters,
  decideRestart,
  type LastRestart,
  MAX_BACKOFF_SECONDS,
  type RestartDecision,
  restartGate,
} from "../../../../src/operator/plan/restart.ts";
import { at, NOW, pod } from "./world.ts";

describe("backoffSeconds", () => {
  it.each<{ base: number; nth: number; seconds: number }>([
    { base: 10, nth: 1, seconds: 10 },
    { base: 10, nth: 2, seconds: 20 },
    { base: 10, nth: 3, seconds: 40 },
    { base: 10, nth: 6, seconds: 320 },
    { base: 10, nth: 7, seconds: MAX_BACKOFF_SECONDS },
    { base: 10, nth: 50, seconds: MAX_BACKOFF_SECONDS },
    { base: 10, nth: 5000, seconds: MAX_BACKOFF_SECONDS },
    { base: 10, nth: 0, seconds: 10 },
    { base: 1, nth: 9, seconds: 256 },
    { base: 1, nth: 10, seconds: MAX_BACKOFF_SECONDS },
    { base: 0, nth: 1, seconds: 0 },
    { base: 0, nth: 8, seconds: 0 },
    { base: 0, nth: 5000, seconds: 0 },
    { base: 360, nth: 3, seconds: 360 },
    { base: 600, nth: 1, seconds: 600 },
    { base: 600, nth: 4, seconds: 600 },
  ])("base $base s, restart $nth: $seconds s", ({ base, nth, seconds }) => {
    expect(backoffSeconds(base, nth)).toBe(seconds);
  });
});

const POLICY: Spec["failurePolicy"] = { maxRestarts: 3, maxDisruptions: 20, backoffSeconds: 10 };
const counted: AttemptFailure = {
  kind: "PodFailed",
  message: "pod job-a2-worker-1 container trainer exited with code 1 (Error)",
  action: "Count",
  decidedBy: "the default for PodFailed",
  pod: "job-a2-worker-1",
  container: "trainer",
  exitCode: 1,
};
const disruption: AttemptFailure = {
  kind: "PodLost",
  message: "pod job-a2-worker-1 disappeared",
  action: "Ignore",
  decidedBy: "the default for PodLost",
  pod: "job-a2-worker-1",
};
const fatal: AttemptFailure = { ...counted, action: "FailJob", decidedBy: "failurePolicy.rules[0]", exitCode: 42 };

describe("decideRestart", () => {
  it.each<{
    name: string;
    failure: AttemptFailure;
    policy?: Partial<Spec["failurePolicy"]>;
    counters: Counters;
    decision: Partial<RestartDecision>;
  }>([
    {
      name: "FailJob fails at once, whatever is left",
      failure: fatal,
      counters: { restarts: 0, disruptions: 0 },
      decision: {
        kind: "fail",
        reason: "PodFailurePolicy",
        message: `${fatal.message}; failurePolicy.rules[0]: FailJob, so no restart`,
      },
    },
    {
      name: "a counted failure with restarts left",
      failure: counted,
      counters: { restarts: 0, disruptions: 5 },
      decision: { kind: "restart", attempt: 3, counters: { restarts: 1, disruptions: 5 } },
    },
    {
      name: "the last counted restart (one below the bound)",
      failure: counted,
      counters: { restarts: 2, disruptions: 0 },
      decision: { kind: "restart", attempt: 3, counters: { restarts: 3, disruptions: 0 } },
    },
    {
      name: "a counted failure with maxRestarts spent",
      failure: counted,
      counters: { restarts: 3, disruptions: 0 },
      decision: {
        kind: "fail",
        reason: "MaxRestartsExceeded",
        message: `${counted.message}; no further restart: failurePolicy.maxRestarts (3) is spent (the default for PodFailed: Count)`,
      },
    },
    {
      name: "past the bound (maxRestarts lowered while running)",
      failure: counted,
      policy: { maxRestarts: 1 },
      counters: { restarts: 3, disruptions: 0 },
      decision: { kind: "fail", reason: "MaxRestartsExceeded" },
    },
    {
      name: "maxRestarts 0: the first counted failure fails the job",
      failure: counted,
      policy: { maxRestarts: 0 },
      counters: { restarts: 0, disruptions: 0 },
      decision: { kind: "fail", reason: "MaxRestartsExceeded" },
    },
    {
      name: "a disruption with maxRestarts spent still restarts",
      failure: disruption,
      counters: { restarts: 3, disruptions: 0 },
      decision: { kind: "restart", attempt: 3, counters: { restarts: 3, disruptions: 1 } },
    },
    {
      name: "the last disruption allowed",
      failure: disruption,
      counters: { restarts: 0, disruptions: 19 },
      decision: { kind: "restart", counters: { restarts: 0, disruptions: 20 } },
    },
    {
      name: "a disruption with maxDisruptions spent",
      failure: disruption,
      counters: { restarts: 0, disruptions: 20 },
      decision: {
        kind: "fail",
        reason: "MaxDisruptionsExceeded",
        message: `${disruption.message}; no further restart: failurePolicy.maxDisruptions (20) is spent (the default for PodLost: Ignore)`,
      },
    },
    {
      name: "a counted failure with disruptions spent still restarts",
      failure: counted,
      counters: { restarts: 0, disruptions: 20 },
      decision: { kind: "restart", counters: { restarts: 1, disruptions: 20 } },
    },
  ])("$name", ({ failure, policy = {}, counters, decision }) => {
    expect(decideRestart(failure, { ...POLICY, ...policy }, counters, 2, NOW)).toMatchObject(decision);
  });

  it("records the ended attempt, the cause, its pod, container and exit code, and the time", () => {
    const d = decideRestart(counted, POLICY, { restarts: 0, disruptions: 0 }, 2, NOW);
    expect(d.kind === "restart" && d.lastRestart).toEqual({
      attempt: 2,
      reason: "PodFailed",
      message: counted.message,
      counted: true,
      pod: "job-a2-worker-1",
      container: "trainer",
      exitCode: 1,
      time: NOW,
      backoffSeconds: 10,
    });
  });

  it("charges a wait for capacity to neither limit, however many times it recurs", () => {
    const waited: AttemptFailure = {
      kind: "StartupTimeout",
      message: "m",
      action: "Ignore",
      decidedBy: "d",
      forCapacity: true,
    };
    const spent = { restarts: POLICY.maxRestarts, disruptions: POLICY.maxDisruptions };
    const d = decideRestart(waited, POLICY, spent, 41, NOW);
    expect(d.kind).toBe("restart");
    if (d.kind !== "restart") return;
    expect(d.counters).toEqual(spent);
    expect(d.lastRestart).toMatchObject({ counted: false, reason: "StartupTimeout" });
    expect(d.event.message).toContain("charged to neither failurePolicy.maxRestarts nor maxDisruptions");
    // A disruption with the same counters is refused: the difference is the capacity wait, not the counts.
    expect(decideRestart({ ...waited, forCapacity: undefined }, POLICY, spent, 41, NOW).kind).toBe("fail");
  });

  it("leaves out what the failure does not know", () => {
    const timeout: AttemptFailure = { kind: "StartupTimeout", message: "m", action: "Ignore", decidedBy: "d" };
    const d = decideRestart(timeout, POLICY, { restarts: 0, disruptions: 0 }, 0, NOW);
    expect(d.kind === "restart" && d.lastRestart).toEqual({
      attempt: 0,
      reason: "StartupTimeout",
      message: "m",
      counted: false,
      time: NOW,
      backoffSeconds: 10,
    });
  });

  it.each<{ name: string; failure: AttemptFailure; counters: Counters; type: string; says: string[] }>([
    {
      name: "a counted restart is a Warning naming the bound",
      failure: counted,
      counters: { restarts: 0, disruptions: 0 },
      type: "Warning",
      says: [
        `attempt 2 ended: ${counted.message} (the default for PodFailed: Count)`,
        "restart 1 of 3 (failurePolicy.maxRestarts)",
        "attempt 3 starts once the pods of attempt 2 are gone and 10 s after now (backoff)",
      ],
    },
    {
      name: "a disruption is Normal and says it does not count",
      failure: disruption,
      counters: { restarts: 1, disruptions: 0 },
      type: "Normal",
      says: ["not counted against failurePolicy.maxRestarts (disruption 1 of 20)", "20 s after now (backoff)"],
    },
    {
      name: "the backoff doubles with every restart of the job, counted or not",
      failure: counted,
      counters: { restarts: 2, disruptions: 1 },
      type: "Warning",
      says: ["restart 3 of 3", "80 s after now (backoff)"],
    },
    {
      name: "no backoff after Kueue evicted the attempt: Kueue queues the next one",
      failure: { ...disruption, kind: "PodDeleted", queueEviction: "WorkloadEvictedDueToPreempted" },
      counters: { restarts: 1, disruptions: 4 },
      type: "Normal",
      says: ["disruption 5 of 20", "0 s after now (backoff: none, Kueue queues it)"],
    },
  ])("$name", ({ failure, counters, type, says }) => {
    const d = decideRestart(failure, POLICY, counters, 2, NOW);
    expect(d.kind).toBe("restart");
    if (d.kind !== "restart") return;
    expect(d.event).toMatchObject({ type, reason: "Restarting" });
    for (const s of says) expect(d.event.message).toContain(s);
    const said = /and (\d+) s after now/.exec(d.event.message)?.[1];
    expect(d.lastRestart.backoffSeconds).toBe(Number(said));
  });
});

describe("restartGate", () => {
  const restartedAt = (time: string, attempt = 1): LastRestart => ({
    attempt,
    reason: "PodFailed",
    message: "",
    counted: true,
    time,
  });
  it.each<{
    name: string;
    attempt?: number;
    lastRestart?: LastRestart;
    counters?: Counters;
    base?: number;
    olderPods?: V1Pod[];
    now?: string;
    gate: { open: boolean; reason?: string; message?: string; requeueAfterMs?: number };
  }>([
    { name: "a first attempt, nothing older", attempt: 0, gate: { open: true } },
    {
      name: "a pod of an older attempt still running",
      olderPods: [pod("job-a1-head")],
      gate: {
        open: false,
        reason: "PodsTerminating",
        message: "attempt 2 waits for the pods of earlier attempts to be gone: job-a1-head",
      },
    },
    {
      name: "older pods on their way out, and finished ones, hold the gate too",
      olderPods: [pod("job-a1-head", { deletedAt: at(-3) }), pod("job-a1-prepare", { phase: "Succeeded" })],
      gate: {
        open: false,
        reason: "PodsTerminating",
        message: `attempt 2 waits for the pods of earlier attempts to be gone: job-a1-head (terminating since ${at(-3)}), job-a1-prepare`,
      },
    },
    {
      name: "older pods hold the gate even past the backoff, and wait for their deletion without a timer",
      lastRestart: restartedAt(at(-3600)),
      olderPods: [pod("job-a1-worker-1", { deletedAt: at(-3500) })],
      gate: { open: false },
    },
    {
      name: "older pods gone, within the backoff: wakes when it ends, a second after",
      lastRestart: restartedAt(at(-4)),
      counters: { restarts: 1, disruptions: 0 },
      gate: {
        open: false,
        reason: "Backoff",
        message: `attempt 2 starts at ${at(6)} (restart backoff)`,
        requeueAfterMs: 7000,
      },
    },
    {
      name: "one second before the backoff ends",
      lastRestart: restartedAt(at(-9)),
      counters: { restarts: 1, disruptions: 0 },
      gate: { open: false, requeueAfterMs: 2000 },
    },
    {
      name: "exactly when the backoff ends",
      lastRestart: restartedAt(at(-10)),
      counters: { restarts: 1, disruptions: 0 },
      gate: { open: true },
    },
    {
      name: "the backoff of the nth restart, counted and uncounted alike",
      lastRestart: restartedAt(at(-30)),
      counters: { restarts: 1, disruptions: 2 },
      gate: {
        open: false,
        reason: "Backoff",
        message: `attempt 2 starts at ${at(10)} (restart backoff)`,
        requeueAfterMs: 11_000,
      },
    },
    {
      name: "backoffSeconds 0 starts at once",
      lastRestart: restartedAt(NOW),
      counters: { restarts: 1, disruptions: 0 },
      base: 0,
      gate: { open: true },
    },
    {
      name: "backoffSeconds 0 starts at once after a thousand disruptions too",
      lastRestart: restartedAt(NOW),
      counters: { restarts: 0, disruptions: 1500 },
      base: 0,
      gate: { open: true },
    },
    {
      name: "capped at six minutes",
      lastRestart: restartedAt(at(-359)),
      counters: { restarts: 3, disruptions: 17 },
      gate: { open: false, requeueAfterMs: 2000 },
    },
    {
      name: "the backoff the restart recorded, not one computed again (none after a Kueue eviction)",
      lastRestart: { ...restartedAt(NOW), backoffSeconds: 0 },
      counters: { restarts: 1, disruptions: 5 },
      gate: { open: true },
    },
    {
      name: "a recorded backoff is waited for as computed",
      lastRestart: { ...restartedAt(at(-5)), backoffSeconds: 7 },
      counters: { restarts: 3, disruptions: 5 },
      gate: {
        open: false,
        reason: "Backoff",
        message: `attempt 2 starts at ${at(2)} (restart backoff)`,
        requeueAfterMs: 3000,
      },
    },
    {
      name: "no backoff for an attempt another restart did not start (a resume)",
      attempt: 3,
      lastRestart: restartedAt(NOW),
      counters: { restarts: 1, disruptions: 0 },
      gate: { open: true },
    },
  ])(
    "$name",
    ({
      attempt = 2,
      lastRestart,
      counters = { restarts: 0, disruptions: 0 },
      base = 10,
      olderPods = [],
      now = NOW,
      gate,
    }) => {
      const g = restartGate({ attempt, lastRestart, counters, backoffSeconds: base, olderPods, now });
      expect(g).toMatchObject(gate);
      if (gate.requeueAfterMs === undefined) expect(g).not.toHaveProperty("requeueAfterMs", expect.anything());
    },
  );
});
