// Status policy: the part of the job's status this writer owns (progress, usage and BudgetExceeded belong to the
// report endpoint), and the Events its changes call for. A condition's lastTransitionTime moves only when its status
// does, so the same world always yields byte-identical status and an idle job causes no write and no Event.
import type { V1Pod } from "@kubernetes/client-node";
import { CONDITION, REPORTED_CONDITIONS } from "../../api/conditions.ts";
import type { CollabTrainingJob, Condition, Phase, Status } from "../../api/schema.ts";
import { LABEL, type PodRole } from "../../children/meta.ts";
import { claimName } from "../../children/support.ts";
import { isTrue } from "../../kube/conditions.ts";
import { podPhase } from "../../kube/pods.ts";
import { outputs, rlCheckpoint } from "../../verl/layout.ts";
import type { PlannedEvent } from "./observed.ts";
import type { Counters, LastRestart } from "./restart.ts";
import type { JobStage } from "./stages.ts";

/** The status fields this writer owns (progress and usage belong to the report endpoint). */
export type OwnedStatus = Omit<Status, "progress" | "usage">;

/** The conditions this writer owns: all but BudgetExceeded and BudgetSufficient, which the report endpoint writes. */
export function ownConditions(conditions: readonly Condition[] | undefined): Condition[] {
  return (conditions ?? []).filter((c) => !REPORTED_CONDITIONS.includes(c.type));
}

export function isFinishedJob(conditions: readonly Condition[]): boolean {
  return isTrue(conditions, CONDITION.succeeded) || isTrue(conditions, CONDITION.failed);
}

export function ownedStatus(input: {
  job: CollabTrainingJob;
  pods: readonly V1Pod[];
  conditions: Condition[];
  phase: Phase;
  attempt: number;
  stage: JobStage | undefined;
  counters: Counters;
  lastRestart: LastRestart | undefined;
  startTime: string | undefined;
  completionTime: string | undefined;
  gang?: Status["gang"];
  waiting?: string | undefined;
  serving?: Status["serving"];
}): OwnedStatus {
  const { job, conditions, phase, attempt, stage, counters, lastRestart, startTime, completionTime, gang, waiting } =
    input;
  const { serving } = input;
  return {
    phase,
    observedGeneration: job.metadata.generation as number | undefined,
    conditions,
    ...(stage ? { stage } : {}),
    ...(startTime ? { startTime } : {}),
    ...(completionTime ? { completionTime } : {}),
    restarts: counters.restarts,
    disruptions: counters.disruptions,
    attempt,
    ...(lastRestart ? { lastRestart } : {}),
    ...(gang ? { gang } : {}),
    roles: roleCounts(job, input.pods, attempt),
    outputs: outputsOf(job),
    message: messageOf(phase, conditions),
    ...(waiting ? { waiting } : {}),
    ...(serving ? { serving } : {}),
  };
}

/** status.outputs: where the job's results are, and the latest checkpoint veRL completed as the gateway read it. */
function outputsOf(job: CollabTrainingJob): NonNullable<Status["outputs"]> {
  const step = job.status?.progress?.checkpointStep;
  return {
    ...outputs(job.spec),
    ...(step !== undefined ? { lastCheckpointStep: step, lastCheckpoint: rlCheckpoint(step) } : {}),
    volumeClaim: claimName(job),
  };
}

function roleCounts(job: CollabTrainingJob, pods: readonly V1Pod[], attempt: number): NonNullable<Status["roles"]> {
  const desired: Record<PodRole, number> = {
    prepare: 1,
    sft: job.spec.sft.enabled ? 1 : 0,
    head: 1,
    worker: job.spec.resources.nodes - 1,
  };
  return (Object.keys(desired) as PodRole[])
    .filter((role) => desired[role] > 0)
    .map((role) => {
      // Pods on their way out do not count: a pod counted here and later missing is taken for lost.
      const of = pods.filter(
        (p) =>
          p.metadata?.labels?.[LABEL.role] === role &&
          p.metadata?.labels?.[LABEL.attempt] === String(attempt) &&
          !p.metadata?.deletionTimestamp,
      );
      const count = (phase: string) => of.filter((p) => podPhase(p) === phase).length;
      return {
        name: role,
        desired: desired[role],
        pending: count("Pending"),
        running: count("Running"),
        succeeded: count("Succeeded"),
        failed: count("Failed"),
      };
    });
}

/** The conditions whose message status.message shows, most important first (but for a few of their reasons). */
const TOLD: [type: string, status: Condition["status"], unless?: string][] = [
  [CONDITION.failed, "True"],
  [CONDITION.childrenCreated, "False"],
  [CONDITION.secretsReady, "False"],
  [CONDITION.storageReady, "False"],
  [CONDITION.endpointsReady, "False"],
  [CONDITION.schedulingReady, "False"],
  // A server scaled to zero with its job says nothing the phase does not.
  [CONDITION.servingReady, "False", "ScaledToZero"],
  [CONDITION.queued, "True"],
  [CONDITION.waitingForCapacity, "True"],
  [CONDITION.podsScheduled, "False"],
];

function messageOf(phase: Phase, conditions: Condition[]): string {
  for (const [type, status, unless] of TOLD) {
    const c = conditions.find((x) => x.type === type && x.status === status && x.reason !== unless);
    if (c) return c.message;
  }
  const invalid = conditions.find((c) => c.type === CONDITION.stalled && c.reason === "InvalidSpec");
  if (invalid) return invalid.message;
  const reconciling = conditions.find((c) => c.type === CONDITION.reconciling && c.reason === "Restarting");
  return reconciling ? reconciling.message : phase;
}

/** Conditions whose bad state is a Warning; the rest of the transitions are Normal. */
const WARN: Record<string, Condition["status"]> = {
  [CONDITION.secretsReady]: "False",
  [CONDITION.storageReady]: "False",
  [CONDITION.endpointsReady]: "False",
  [CONDITION.childrenCreated]: "False",
  [CONDITION.schedulingReady]: "False",
  [CONDITION.waitingForCapacity]: "True",
  [CONDITION.failed]: "True",
};
/**
 * Reasons that are a Warning whatever their condition: Kueue cannot admit the job, or does not manage its pods; a
 * server whose replicas all went.
 */
const WARN_REASONS = new Set(["Inadmissible", "NotManaged", "ServerUnavailable"]);
/**
 * kstatus bookkeeping, whose changes are told by the conditions that cause them; Admitted, which says what Queued
 * says (for `kubectl wait --for=condition=Admitted`); PodsScheduled, whose waits WaitingForCapacity tells (one Event
 * when a wait for capacity starts, one when it ends; none for a pod that waits a moment for its volume).
 */
const QUIET = new Set<string>([CONDITION.reconciling, CONDITION.stalled, CONDITION.admitted, CONDITION.podsScheduled]);

/** A wait for capacity that an autoscaler is answering is news, not a warning. */
const ANSWERED_WAIT = new Set(["ScaleUpTriggered", "NodeNominated"]);

const isWarning = (c: Condition) =>
  (WARN[c.type] === c.status && !(c.type === CONDITION.waitingForCapacity && ANSWERED_WAIT.has(c.reason))) ||
  WARN_REASONS.has(c.reason);

/** Events for conditions that changed status or reason: each transition is told once, in `kubectl describe`. */
export function transitions(before: readonly Condition[], after: readonly Condition[]): PlannedEvent[] {
  return after
    .filter((c) => !QUIET.has(c.type) || (c.type === CONDITION.stalled && c.reason === "InvalidSpec"))
    .filter((c) => {
      const old = before.find((b) => b.type === c.type);
      return !old || old.status !== c.status || old.reason !== c.reason;
    })
    .filter((c) => c.status === "True" || isWarning(c) || before.some((b) => b.type === c.type))
    .map((c) => ({
      type: isWarning(c) || c.reason === "InvalidSpec" ? "Warning" : "Normal",
      reason: c.reason,
      message: c.message,
    }));
}
