// Restart policy: a Ray gang does not survive a lost member, so a failure of any pod of the running stage restarts the
// whole stage as the next attempt: every pod of the attempt is deleted, the next attempt's pods are created only once
// they are all gone (never two attempts at once, never a new pod joining an old gang) and after a backoff, and veRL
// resumes from the latest checkpoint on the job's volume. Counted failures are bounded by maxRestarts, disruptions by
// maxDisruptions, and a wait for capacity by neither. Everything here is read from the status and the cache, so a
// restarted operator decides the same.
import type { V1Pod } from "@kubernetes/client-node";
import type { Spec, Status } from "../../api/schema.ts";
import { addSeconds, secondsBetween, timeText } from "../../api/time.ts";
import { type PlannedEvent, podName } from "./observed.ts";
import type { AttemptFailure } from "./pod-failure.ts";

/** As batch/v1 Jobs back off pod failures: doubling from failurePolicy.backoffSeconds, capped at six minutes. */
export const MAX_BACKOFF_SECONDS = 360;

/** The delay before the nth restart of the job (1-based, counted and uncounted alike). */
export function backoffSeconds(baseSeconds: number, nth: number): number {
  // Past 1024 restarts 2 ** n is Infinity, and 0 × Infinity is NaN (maxDisruptions allows 10000).
  if (baseSeconds === 0) return 0;
  return Math.min(baseSeconds * 2 ** Math.max(0, nth - 1), Math.max(baseSeconds, MAX_BACKOFF_SECONDS));
}

export type LastRestart = NonNullable<Status["lastRestart"]>;

export interface Counters {
  restarts: number;
  disruptions: number;
}

export type RestartDecision =
  | { kind: "restart"; attempt: number; counters: Counters; lastRestart: LastRestart; event: PlannedEvent }
  | { kind: "fail"; reason: "PodFailurePolicy" | "MaxRestartsExceeded" | "MaxDisruptionsExceeded"; message: string };

export function decideRestart(
  failure: AttemptFailure,
  policy: Spec["failurePolicy"],
  counters: Counters,
  attempt: number,
  now: string,
): RestartDecision {
  const because = `${failure.decidedBy}: ${failure.action}`;
  if (failure.action === "FailJob") {
    return { kind: "fail", reason: "PodFailurePolicy", message: `${failure.message}; ${because}, so no restart` };
  }
  const counted = failure.action === "Count";
  if (counted && counters.restarts >= policy.maxRestarts) {
    return {
      kind: "fail",
      reason: "MaxRestartsExceeded",
      message: `${failure.message}; no further restart: failurePolicy.maxRestarts (${policy.maxRestarts}) is spent (${because})`,
    };
  }
  if (!counted && !failure.forCapacity && counters.disruptions >= policy.maxDisruptions) {
    return {
      kind: "fail",
      reason: "MaxDisruptionsExceeded",
      message: `${failure.message}; no further restart: failurePolicy.maxDisruptions (${policy.maxDisruptions}) is spent (${because})`,
    };
  }
  const next: Counters = counted
    ? { restarts: counters.restarts + 1, disruptions: counters.disruptions }
    : failure.forCapacity
      ? counters
      : { restarts: counters.restarts, disruptions: counters.disruptions + 1 };
  // Kueue queues the next attempt's pods itself (they wait gated, holding nothing): no backoff of ours on top.
  const backoff = failure.queueEviction ? 0 : backoffSeconds(policy.backoffSeconds, next.restarts + next.disruptions);
  const tally = counted
    ? `restart ${next.restarts} of ${policy.maxRestarts} (failurePolicy.maxRestarts)`
    : failure.forCapacity
      ? "charged to neither failurePolicy.maxRestarts nor maxDisruptions: the job waits for capacity as long as it takes, letting its placed pods go once per spec.scheduling.startupTimeoutSeconds so their GPUs are free meanwhile"
      : `not counted against failurePolicy.maxRestarts (disruption ${next.disruptions} of ${policy.maxDisruptions})`;
  const lastRestart: LastRestart = {
    attempt,
    reason: failure.kind,
    message: failure.message,
    counted,
    ...(failure.pod !== undefined ? { pod: failure.pod } : {}),
    ...(failure.container !== undefined ? { container: failure.container } : {}),
    ...(failure.exitCode !== undefined ? { exitCode: failure.exitCode } : {}),
    time: now,
    backoffSeconds: backoff,
  };
  return {
    kind: "restart",
    attempt: attempt + 1,
    counters: next,
    lastRestart,
    event: {
      type: counted ? "Warning" : "Normal",
      reason: "Restarting",
      message: `attempt ${attempt} ended: ${failure.message} (${because}); ${tally}; attempt ${attempt + 1} starts once the pods of attempt ${attempt} are gone and ${backoff} s after now (backoff${failure.queueEviction ? ": none, Kueue queues it" : ""}), and resumes from the latest checkpoint`,
    },
  };
}

export type RestartGate =
  | { open: true }
  /** reason: PodsTerminating (an earlier attempt's pods are not gone yet) or Backoff. */
  | { open: false; reason: "PodsTerminating" | "Backoff"; message: string; requeueAfterMs?: number };

/**
 * Whether the current attempt may create pods: only once every pod of other attempts is gone (deleting them is not
 * enough: a terminating Ray worker still holds its GPUs and its place in the old gang), and the backoff after the
 * restart that started this attempt has passed.
 */
export function restartGate(input: {
  attempt: number;
  lastRestart: LastRestart | undefined;
  counters: Counters;
  backoffSeconds: number;
  olderPods: readonly V1Pod[];
  now: string;
}): RestartGate {
  const { attempt, lastRestart, counters, olderPods, now } = input;
  if (olderPods.length > 0) {
    const names = olderPods.map((p) => {
      const since = timeText(p.metadata?.deletionTimestamp);
      return `${podName(p)}${since === undefined ? "" : ` (terminating since ${since})`}`;
    });
    return {
      open: false,
      reason: "PodsTerminating",
      message: `attempt ${attempt} waits for the pods of earlier attempts to be gone: ${names.join(", ")}`,
    };
  }
  if (lastRestart === undefined || lastRestart.attempt + 1 !== attempt) return { open: true };
  const due = addSeconds(
    lastRestart.time,
    lastRestart.backoffSeconds ?? backoffSeconds(input.backoffSeconds, counters.restarts + counters.disruptions),
  );
  const left = secondsBetween(now, due);
  if (left <= 0) return { open: true };
  return {
    open: false,
    reason: "Backoff",
    message: `attempt ${attempt} starts at ${due} (restart backoff)`,
    requeueAfterMs: left * 1000 + 1000,
  };
}
