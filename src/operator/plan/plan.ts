// The reconciler's decision, pure: from the job and what the cache shows of its world, what to create, what to delete
// and what the status (the part this writer owns) must say. Level-triggered: nothing here depends on which event
// woke the reconcile, and the same world always yields the same plan (so an idle job causes no writes).
//
// plan() only runs the policies, each in its own file beside its table test, in a fixed order:
//   finished (ttl.ts) -> suspend.ts -> readiness.ts, gang.ts -> stages.ts -> serving.ts
//   -> (suspended) -> deadline.ts -> restart.ts (gate) -> pod-failure.ts, startup.ts -> restart.ts (decision)
//   -> preflight.ts -> children.ts (+ rejection.ts) -> capacity.ts, kueue.ts -> status.ts
// and returns one plan, with the delay after which time alone would change it (a deadline, a TTL, a backoff).
// The shell calls it again with the apiserver's refusal when an apply is refused, so the status it writes (once)
// says so: the first call's status assumes every apply goes through.
//
// Each part below ends the plan in its own way, or hands on: finished() a job that ended before; stopped() one whose
// last stage just succeeded, or that is suspended; overDeadline(); attemptEnded() restarts or fails on a failure;
// running() is everything else.
import type { V1Pod } from "@kubernetes/client-node";
import { CONDITION } from "../../api/conditions.ts";
import type { CollabTrainingJob, Condition, Phase, Status } from "../../api/schema.ts";
import { gangGroup, stageGang } from "../../children/gang.ts";
import { childName, jobName } from "../../children/meta.ts";
import type { DesiredPod, OperatorContext } from "../../children/pods.ts";
import { withServedEndpoints } from "../../children/serving.ts";
import { isFinished, podPhase } from "../../kube/pods.ts";
import { budgetState } from "./budget.ts";
import { capacityConditions } from "./capacity.ts";
import { missingChildren } from "./children.ts";
import { type TrainingEnd, trainingEnd } from "./completion.ts";
import { deadlineCheck, esiEnv, esiMarginSeconds } from "./deadline.ts";
import { Draft, type Plan } from "./draft.ts";
import { type GangPolicy, gangPolicy, gangStatus } from "./gang.ts";
import { kueueConditions } from "./kueue.ts";
import { type Observed, type PodView, podView } from "./observed.ts";
import { findFailure, judge } from "./pod-failure.ts";
import { type PreflightDecision, preflightPolicy } from "./preflight.ts";
import { type Readiness, readiness } from "./readiness.ts";
import { CHILDREN_ACCEPTED, type Rejection, rejectionCondition, retryAfterMs } from "./rejection.ts";
import { decideRestart, type RestartGate, restartGate } from "./restart.ts";
import { type ServingDecision, servingPolicy } from "./serving.ts";
import { advanceStages, GPU_STAGES, type JobStage, stagePods } from "./stages.ts";
import { firstScheduled, startupCheck } from "./startup.ts";
import { isFinishedJob } from "./status.ts";
import { suspension } from "./suspend.ts";
import { ttlCheck } from "./ttl.ts";

export type { Plan } from "./draft.ts";
export type { Observed, PlannedEvent } from "./observed.ts";
export type { OwnedStatus } from "./status.ts";

/** What happened when the shell carried out a plan: the child the apiserver refused, if any. */
export interface Outcome {
  rejection?: Rejection;
}

export function plan(observed: Observed, ctx: OperatorContext, outcome: Outcome = {}): Plan {
  const draft = new Draft(observed);
  if (isFinishedJob(draft.before)) return finished(draft);
  const run = current(draft, ctx);
  return (
    stopped(draft, run) ??
    overDeadline(draft, run) ??
    budgetSpent(draft, run) ??
    attemptEnded(draft, run) ??
    running(draft, run, ctx, outcome)
  );
}

/** A finished job keeps its pods' logs but frees their GPUs, and goes when its TTL runs out. */
function finished(draft: Draft): Plan {
  const { job, now } = draft.observed;
  const previous = job.status ?? {};
  const attempt = previous.attempt ?? 0;
  const pods = podView(draft.observed, attempt);
  draft.deleteAll(pods.ofOtherAttempts);
  draft.deleteOtherPodGroups(attempt);
  draft.deleteAll(unfinished(pods.ofAttempt));
  draft.deleteAll(unfinished(pods.preflight));
  serve(draft, servingPolicy({ observed: draft.observed, running: false, blocked: false, before: draft.before }));
  const ttl = ttlCheck(job.spec.ttlSecondsAfterFinished, previous.completionTime, now);
  if (ttl && "requeueAfterMs" in ttl) draft.requeue(ttl.requeueAfterMs);
  const failed = draft.conditions.some((c) => c.type === CONDITION.failed && c.status === "True");
  return draft.finish(
    {
      phase: failed ? "Failed" : "Succeeded",
      attempt,
      stage: previous.stage as JobStage | undefined,
      startTime: previous.startTime,
      gang: previous.gang,
    },
    { deleteJob: ttl !== undefined && "deleteJob" in ttl },
  );
}

/** The attempt this reconcile works on, and what the policies that cannot end the plan said of it. */
interface Current {
  attempt: number;
  pods: PodView;
  suspended: boolean;
  /** The stage of the last status, before this reconcile moved it on. */
  stageBefore: JobStage | undefined;
  stage: JobStage;
  /** The training stage's head succeeded having trained every step: the job is done. */
  succeeded: boolean;
  /** How the training head that succeeded ended, as far as the steps veRL announced tell (completion.ts). */
  end: TrainingEnd;
  startTime: string | undefined;
  /** The stage's pods, in one gang when there are several. */
  desired: DesiredPod[];
  podGroup: { metadata: { name: string } } | undefined;
  readiness: Readiness;
  gang: GangPolicy;
  /** Why no pod may be created (readiness or gang), the most fundamental cause first. */
  blockedBy: string | undefined;
  /** Whether the attempt may create pods yet (restart.ts). */
  gate: RestartGate;
  /** The served roles' servers, as they would be while the job runs (scaled to zero while suspended). */
  serving: ServingDecision;
  /** The job as its gateways and preflight see it: a served role's baseURL is its server's. */
  served: CollabTrainingJob;
}

function current(draft: Draft, ctx: OperatorContext): Current {
  const { observed } = draft;
  const { job, now } = observed;
  const previous = job.status ?? {};
  const suspended = suspension(job.spec.suspend, draft.before);
  for (const c of suspended.conditions) draft.set(c);
  const resumed = suspended.state === "running" && suspended.resumed;
  const attempt = (previous.attempt ?? 0) + (resumed ? 1 : 0);
  const pods = podView(observed, attempt);
  draft.deleteAll(pods.ofOtherAttempts);
  draft.deleteOtherPodGroups(attempt);
  const ready = readiness(observed);
  for (const c of ready.conditions) draft.set(c);
  const gang = gangPolicy(job.spec.scheduling, observed.served, draft.before);
  if (gang.condition) draft.set(gang.condition);
  // A stage seen done is recorded before a suspension or the deadline is applied: neither undoes finished work (a
  // head that succeeded as the job was suspended, or just before the deadline, is a job that succeeded).
  const ended: { end: TrainingEnd } = { end: { kind: "complete" } };
  const progress = advanceStages(job, draft.conditions, pods, attempt, (head) => {
    ended.end = trainingEnd({ head, progress: previous.progress, lastRestart: draft.lastRestart, attempt, now });
    return ended.end.kind === "complete";
  });
  for (const c of progress.completed) draft.set(c);
  // The deadline counts from the first bind since the job was created or resumed (queued pods hold nothing).
  const startTime = (resumed ? undefined : previous.startTime) ?? firstScheduled(pods.ofAttempt)?.at;
  const margin = esiMarginSeconds({
    checkpointSeconds: previous.progress?.checkpointSeconds,
    meanStepSeconds: previous.pace?.perStep.seconds,
    longestStepSeconds: previous.pace?.perStep.longestSeconds,
  });
  const trainerEnv = esiEnv(job.spec.activeDeadlineSeconds, startTime, now, margin);
  const running = suspended.state === "running" && !progress.succeeded;
  const serving = servingPolicy({ observed, running, blocked: ready.blockedBy !== undefined, before: draft.before });
  const served = withServedEndpoints(job, serving.urls);
  const staged = stageGang(job, attempt, stagePods(served, ctx, progress.stage, attempt, trainerEnv), gang.mechanism);
  const gate = restartGate({
    attempt,
    lastRestart: draft.lastRestart,
    counters: draft.counters,
    backoffSeconds: job.spec.failurePolicy.backoffSeconds,
    olderPods: pods.ofOtherAttempts,
    now,
  });
  return {
    attempt,
    pods,
    suspended: suspended.state === "suspended",
    stageBefore: previous.stage as JobStage | undefined,
    stage: progress.stage,
    succeeded: progress.succeeded,
    end: ended.end,
    startTime,
    desired: staged.pods,
    podGroup: staged.podGroup,
    readiness: ready,
    gang,
    blockedBy: ready.blockedBy ?? (gang.problems.length > 0 ? "SchedulingNotServed" : undefined),
    gate,
    serving,
    served,
  };
}

/** Records what the serving policy decided: its condition, status, and the server objects to apply or delete. */
function serve(draft: Draft, decision: ServingDecision): void {
  if (decision.condition === "remove") draft.remove(CONDITION.servingReady);
  else draft.set(decision.condition);
  draft.served.serving = decision.status;
  draft.applies.push(...decision.apply);
}

/** The servers scaled to zero: the job is done or suspended (computed again only when it was running). */
function serveStopped(draft: Draft, run: Current): void {
  const { observed, before } = draft;
  const stopped = run.suspended || run.succeeded;
  serve(draft, stopped ? run.serving : servingPolicy({ observed, running: false, blocked: false, before }));
}

/** status.gang: the mechanism, and `attempt`'s group while its stage is a gang. */
function gangOf(draft: Draft, run: Current, attempt: number): Status["gang"] {
  const { job } = draft.observed;
  const { mechanism } = run.gang;
  return gangStatus(mechanism, gangGroup(job, attempt, run.desired.length, mechanism));
}

/** The last stage succeeded, or the job is suspended: its unfinished pods go. */
function stopped(draft: Draft, run: Current): Plan | undefined {
  const { attempt, pods, stage, startTime } = run;
  if (run.succeeded) {
    serveStopped(draft, run);
    draft.clearPlacement();
    draft.set({ type: CONDITION.reconciling, status: "False", reason: "Succeeded", message: "the job finished" });
    draft.set({ type: CONDITION.stalled, status: "False", reason: "Succeeded", message: "" });
    draft.deleteAll(unfinished(pods.ofAttempt));
    return draft.finish({ phase: "Succeeded", attempt, stage, startTime, gang: gangOf(draft, run, attempt) });
  }
  if (!run.suspended) return undefined;
  serveStopped(draft, run);
  draft.deleteAll(unfinished(pods.ofAttempt));
  draft.deleteAll(unfinished(pods.preflight));
  draft.clearPlacement();
  // A job suspended before it started has no stage yet.
  return draft.finish({
    phase: "Suspended",
    attempt,
    stage: run.stageBefore && stage,
    startTime: undefined,
    gang: gangOf(draft, run, attempt),
  });
}

function overDeadline(draft: Draft, run: Current): Plan | undefined {
  const deadline = deadlineCheck(draft.observed.job.spec.activeDeadlineSeconds, run.startTime, draft.observed.now);
  if (deadline && "exceeded" in deadline) {
    const step = draft.observed.job.status?.progress?.checkpointStep;
    const checkpoint =
      run.stage !== "Training"
        ? ""
        : step === undefined
          ? "; no checkpoint was completed"
          : `; the latest checkpoint is step ${step} (status.outputs.lastCheckpoint)`;
    return fail(draft, run, "DeadlineExceeded", `${deadline.exceeded}${checkpoint}`);
  }
  draft.requeue(deadline?.requeueAfterMs);
  return undefined;
}

/**
 * The job's API budget is spent (budget.ts): the training stage stops (onExhausted Stop) or lets its pods go and waits
 * for a raise (Wait), before any failure the refusals caused is judged, so none counts against maxRestarts.
 */
function budgetSpent(draft: Draft, run: Current): Plan | undefined {
  const { job, now } = draft.observed;
  const { attempt, pods, stage } = run;
  if (stage !== "Training") return undefined;
  const budget = budgetState(job);
  if (!budget.spent) return undefined;
  const why = `the job's API budget is spent (BudgetExceeded, ${budget.reason}: ${budget.message})`;
  if (job.spec.budget.onExhausted === "Stop") {
    return fail(draft, run, "BudgetExceeded", `${why}; spec.budget.onExhausted is Stop; ${budget.checkpoint}`);
  }
  const ofAttempt = pods.ofAttempt;
  // Wait keeps a running attempt, the gateways refusing its calls; one that failed meanwhile goes, uncounted.
  const failed = ofAttempt.some((p) => podPhase(p) === "Failed" || p.metadata?.deletionTimestamp);
  if (job.spec.budget.onExhausted === "Wait" && ofAttempt.length > 0 && !failed) return undefined;
  const waiting = `waiting for spec.budget to be raised (spec.budget.onExhausted: ${job.spec.budget.onExhausted}); ${budget.checkpoint}`;
  draft.clearPlacement();
  draft.set({ type: CONDITION.reconciling, status: "True", reason: "BudgetExceeded", message: waiting });
  draft.set({ type: CONDITION.stalled, status: "False", reason: "Progressing", message: "" });
  if (ofAttempt.length === 0) {
    return draft.finish({
      phase: "Restarting",
      attempt,
      stage,
      startTime: run.startTime,
      gang: gangOf(draft, run, attempt),
      waiting: `Budget: ${budget.reason}`,
    });
  }
  // The attempt's pods go now (their GPUs freed); the next attempt is created once the budget allows.
  draft.deleteAll(ofAttempt);
  draft.lastRestart = {
    attempt,
    reason: "BudgetExceeded",
    message: why,
    counted: false,
    time: now,
    backoffSeconds: 0,
  };
  draft.events.push({
    type: "Warning",
    reason: "BudgetExceeded",
    message: `attempt ${attempt} ended: ${why}; its pods are deleted, charged to neither failurePolicy.maxRestarts nor maxDisruptions; attempt ${attempt + 1} starts once spec.budget is raised; ${budget.checkpoint}`,
  });
  return draft.finish({
    phase: "Restarting",
    attempt: attempt + 1,
    stage,
    startTime: run.startTime,
    gang: gangOf(draft, run, attempt + 1),
    waiting: `Budget: ${budget.reason}`,
  });
}

/** A pod of the attempt failed, went or did not start in time: the next attempt, or the job fails. */
function attemptEnded(draft: Draft, run: Current): Plan | undefined {
  const { job, now } = draft.observed;
  const { attempt, pods, stage, desired, gate } = run;
  if (!gate.open) {
    draft.requeue(gate.requeueAfterMs);
    return undefined;
  }
  const policy = job.spec.failurePolicy;
  const previous = job.status ?? {};
  // A head that succeeded short of the total waits for its last step lines; its workers ending meanwhile are not news.
  if (run.end.kind === "settling") {
    draft.requeue(run.end.requeueAfterMs);
    return undefined;
  }
  const end = run.end;
  if (end.kind === "short" && end.repeated) {
    return fail(
      draft,
      run,
      "TrainingIncomplete",
      `${end.message}; attempt ${attempt - 1} stopped at this very step too, so a restart from the same checkpoint would again (resume from an earlier checkpoint, or start a new job with more epochs)`,
    );
  }
  // The head's silent exit is the cause when its workers fail after it (their Ray head is gone).
  const head = childName.pod(jobName(job), "head", attempt);
  let failure =
    end.kind === "short"
      ? judge("StoppedShort", end.message, pods.byName.get(head), policy.rules, {
          pod: head,
          exitCode: 0,
          step: end.step,
        })
      : findFailure({ desired, pods, previous, stage, attempt, rules: policy.rules });
  if (!failure) {
    const timeoutSeconds = job.spec.scheduling.startupTimeoutSeconds;
    const startup = startupCheck({ desired, pods, attempt, timeoutSeconds, now });
    draft.requeue(startup.requeueAfterMs);
    failure = startup.failure;
  }
  if (!failure) return undefined;
  const decision = decideRestart(failure, policy, draft.counters, attempt, now);
  if (decision.kind === "fail") return fail(draft, run, decision.reason, decision.message);
  // The servers stay up through a restart: the next attempt's gateways call them again.
  serve(draft, run.serving);
  // Every pod of the ended attempt goes, finished ones too: the next attempt starts only once they are gone.
  draft.deleteAll(pods.ofAttempt);
  draft.counters = decision.counters;
  draft.lastRestart = decision.lastRestart;
  draft.events.push(decision.event);
  draft.clearPlacement();
  draft.set({
    type: CONDITION.reconciling,
    status: "True",
    reason: "Restarting",
    message: `attempt ${decision.attempt} starts once the pods of attempt ${attempt} are gone`,
  });
  draft.set({ type: CONDITION.stalled, status: "False", reason: "Progressing", message: "" });
  return draft.finish({
    phase: "Restarting",
    attempt: decision.attempt,
    stage,
    startTime: run.startTime,
    gang: gangOf(draft, run, decision.attempt),
  });
}

/** The job fails: its unfinished pods go (their GPUs are freed), finished ones stay for their logs. */
function fail(draft: Draft, run: Current, reason: string, message: string): Plan {
  serveStopped(draft, run);
  draft.deleteAll(unfinished(run.pods.ofAttempt));
  draft.clearPlacement();
  draft.set({ type: CONDITION.failed, status: "True", reason, message });
  draft.set({ type: CONDITION.reconciling, status: "False", reason: "Failed", message: "the job finished" });
  draft.set({ type: CONDITION.stalled, status: "True", reason: "Failed", message });
  const { attempt, stage, startTime } = run;
  return draft.finish({ phase: "Failed", attempt, stage, startTime, gang: gangOf(draft, run, attempt) });
}

/** The stage runs, or waits: the endpoint preflight, the children it needs, where its pods stand, and why it waits. */
function running(draft: Draft, run: Current, ctx: OperatorContext, outcome: Outcome): Plan {
  const { observed } = draft;
  const { job } = observed;
  const { attempt, pods, stage, desired, gate, blockedBy, serving } = run;
  serve(draft, serving);
  const endpoints = preflightPolicy({
    observed,
    job: run.served,
    ctx,
    pods,
    stage,
    desired,
    blockedBy: run.readiness.blockedBy,
    serversReady: serving.ready,
  });
  draft.set(endpoints.condition);
  draft.deletePods.push(...endpoints.deletePods);
  // The training gang waits for its servers, never the other way round.
  const waitsForServers =
    !serving.ready && GPU_STAGES.has(stage) && desired.some((d) => !pods.byName.has(d.metadata.name));
  const children = missingChildren({
    observed,
    ctx,
    attempt,
    pods,
    desiredPods: gate.open && !blockedBy && !endpoints.holdsBack && !waitsForServers ? desired : [],
    ...(run.podGroup ? { podGroup: run.podGroup } : {}),
  });
  draft.events.push(...children.events);
  const placement = placed(draft, run);
  const refusal = refused(draft, run, outcome.rejection);
  const stalled = stalledBy(
    blockedBy,
    [...run.readiness.problems, ...run.gang.problems],
    refusal,
    endpoints.stalled,
    placement.inadmissible,
  );
  const servers = waitsForServers ? draft.conditions.find((c) => c.type === CONDITION.servingReady) : undefined;
  setProgressing(draft, run, stalled, endpoints, servers);
  const previous = job.status ?? {};
  const started =
    desired.some((d) => pods.byName.has(d.metadata.name)) ||
    (previous.phase !== undefined && previous.phase !== "Pending");
  const phase: Phase = !gate.open ? "Restarting" : started ? stage : "Pending";
  return draft.finish(
    {
      phase,
      attempt,
      stage,
      startTime: run.startTime,
      gang: gangOf(draft, run, attempt),
      waiting: waitingFor(stalled, gate, placement, endpoints, servers),
    },
    { apply: [...children.apply, ...endpoints.apply], createTokenSecret: children.createTokenSecret },
  );
}

/** Where the stage's pods stand: PodsScheduled, WaitingForCapacity, and Kueue's Queued and Admitted. */
function placed(draft: Draft, run: Current): { inadmissible: string | undefined; waitingOn: string | undefined } {
  const { observed } = draft;
  const { desired, pods } = run;
  const capacity = capacityConditions({ desired, pods, events: observed.podEvents, before: draft.before });
  const kueue = kueueConditions({
    queueName: observed.job.spec.scheduling.queueName,
    desired,
    pods,
    workloads: observed.kueueWorkloads,
  });
  for (const [type, change] of [
    [CONDITION.podsScheduled, capacity.podsScheduled],
    [CONDITION.waitingForCapacity, capacity.waitingForCapacity],
    [CONDITION.queued, kueue.queued],
    [CONDITION.admitted, kueue.admitted],
  ] as const) {
    if (change === "remove") draft.remove(type);
    else if (change !== "keep") draft.set(change);
  }
  const holding = (type: string) => draft.conditions.find((c) => c.type === type && c.status === "True");
  const queued = holding(CONDITION.queued);
  const capacityWait = holding(CONDITION.waitingForCapacity);
  return {
    inadmissible: kueue.inadmissible,
    waitingOn: queued ? `Queued: ${queued.reason}` : capacityWait ? `Capacity: ${capacityWait.reason}` : undefined,
  };
}

/** ChildrenCreated: False with the apiserver's refusal (retried with a backoff), True again once children go through. */
function refused(draft: Draft, run: Current, rejection: Rejection | undefined): string | undefined {
  const time = draft.observed.now;
  if (rejection) {
    const condition = rejectionCondition(rejection);
    draft.set(condition);
    const since = draft.conditions.find((c) => c.type === CONDITION.childrenCreated)?.lastTransitionTime ?? time;
    draft.requeue(retryAfterMs(since, time));
    return condition.message;
  }
  if (!run.blockedBy && draft.before.some((c) => c.type === CONDITION.childrenCreated && c.status === "False")) {
    draft.set(CHILDREN_ACCEPTED);
  }
  return undefined;
}

/** Reconciling and Stalled, as kstatus reads them. */
function setProgressing(
  draft: Draft,
  run: Current,
  stalled: Stalled | undefined,
  endpoints: PreflightDecision,
  servers: Condition | undefined,
): void {
  if (stalled) {
    // kstatus reads Reconciling before Stalled: a job that waits for a human is Failed to it, not InProgress.
    draft.set({ type: CONDITION.reconciling, status: "False", reason: "Blocked", message: stalled.waitingFor });
  } else if (!run.gate.open) {
    draft.set({ type: CONDITION.reconciling, status: "True", reason: "Restarting", message: run.gate.message });
  } else {
    const waits = servers
      ? " waits for the served roles' servers (ServingReady)"
      : endpoints.holdsBack
        ? " waits for the endpoint preflight (EndpointsReady)"
        : "";
    draft.set({
      type: CONDITION.reconciling,
      status: "True",
      reason: run.stage,
      message: `stage ${run.stage}${waits}`,
    });
  }
  draft.set({
    type: CONDITION.stalled,
    status: stalled ? "True" : "False",
    reason: stalled?.reason ?? "Progressing",
    message: stalled?.message ?? "",
  });
}

interface Stalled {
  reason: string;
  message: string;
  /** What Reconciling says the job waits for. */
  waitingFor: string;
}

/** Why the job waits for a human, the most fundamental cause first. */
function stalledBy(
  blockedBy: string | undefined,
  problems: string[],
  refusal: string | undefined,
  endpoints: { reason: string; message: string } | undefined,
  inadmissible: string | undefined,
): Stalled | undefined {
  if (blockedBy) {
    return {
      reason: blockedBy,
      message: problems.join("; "),
      waitingFor:
        blockedBy === "SchedulingNotServed"
          ? "waiting for the cluster to serve what spec.scheduling asks for"
          : "waiting for the spec, its Secrets or its volume claim to be fixed",
    };
  }
  if (refusal) {
    return {
      reason: "ChildRejected",
      message: refusal,
      waitingFor: "waiting for the apiserver to accept the job's children",
    };
  }
  if (endpoints) {
    return { ...endpoints, waitingFor: "waiting for the endpoints to pass the preflight (EndpointsReady)" };
  }
  if (inadmissible) {
    return {
      reason: "Inadmissible",
      message: inadmissible,
      waitingFor: "waiting for Kueue's LocalQueue and ClusterQueue to admit the job",
    };
  }
  return undefined;
}

/**
 * status.waiting, the one word `kubectl get` shows of why a running job does not progress: blocked until a human acts
 * (Stalled's reason), the restart gate, Kueue's queue, capacity, the served roles' servers or the endpoint preflight
 * holding its GPU pods back.
 */
function waitingFor(
  stalled: Stalled | undefined,
  gate: RestartGate,
  placement: { waitingOn: string | undefined },
  endpoints: PreflightDecision,
  servers: Condition | undefined,
): string | undefined {
  if (stalled) return `Blocked: ${stalled.reason}`;
  if (!gate.open) return `Restart: ${gate.reason}`;
  if (placement.waitingOn) return placement.waitingOn;
  if (servers) return `Serving: ${servers.reason}`;
  return endpoints.holdsBack ? "Preflight" : undefined;
}

function unfinished(pods: readonly V1Pod[]): V1Pod[] {
  return pods.filter((p) => !isFinished(p));
}
