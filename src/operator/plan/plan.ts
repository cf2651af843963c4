// The reconciler's decision, pure: from the job and what the cache shows of its world, what to create, what to delete
// and what the status (the part this writer owns) must say. Level-triggered: nothing here depends on which event
// woke the reconcile, and the same world always yields the same plan (so an idle job causes no writes).
//
// plan() only runs the policies, each in its own file beside its table test, in a fixed order:
//   finished (ttl.ts) -> suspend.ts -> readiness.ts, gang.ts -> stages.ts -> (suspended) -> deadline.ts
//   -> restart.ts (gate) -> pod-failure.ts, startup.ts -> restart.ts (decision) -> preflight.ts -> children.ts
//   (+ rejection.ts) -> capacity.ts, kueue.ts -> status.ts
// and returns one plan, with the delay after which time alone would change it (a deadline, a TTL, a backoff).
// The shell calls it again with the apiserver's refusal when an apply is refused, so the status it writes (once)
// says so: the first call's status assumes every apply goes through.
import type { V1Pod } from "@kubernetes/client-node";
import { CONDITION } from "../../api/conditions.ts";
import type { Condition, Phase, Status } from "../../api/schema.ts";
import { gangGroup, stageGang } from "../../children/gang.ts";
import type { OperatorContext } from "../../children/pods.ts";
import { type ConditionInput, removeCondition, setCondition } from "../../kube/conditions.ts";
import { isFinished } from "../../kube/pods.ts";
import { capacityConditions } from "./capacity.ts";
import { type ChildApply, childrenPlan } from "./children.ts";
import { deadlineCheck } from "./deadline.ts";
import { gangPolicy, gangStatus } from "./gang.ts";
import { kueueConditions } from "./kueue.ts";
import { type Observed, type PlannedEvent, type PodView, podName, podView } from "./observed.ts";
import { findFailure } from "./pod-failure.ts";
import { preflightPlan } from "./preflight.ts";
import { readiness } from "./readiness.ts";
import { CHILDREN_ACCEPTED, type Rejection, rejectionCondition, retryAfterMs } from "./rejection.ts";
import { type Counters, decideRestart, type LastRestart, restartGate } from "./restart.ts";
import { advanceStages, type JobStage, stagePods } from "./stages.ts";
import { firstScheduled, startupCheck } from "./startup.ts";
import { isFinishedJob, type OwnedStatus, ownConditions, ownedStatus, transitions } from "./status.ts";
import { suspension } from "./suspend.ts";
import { ttlCheck } from "./ttl.ts";

export type { Observed, PlannedEvent } from "./observed.ts";
export type { OwnedStatus } from "./status.ts";

export interface Plan {
  /** Create the internal token Secret (the shell makes the random value). */
  createTokenSecret: boolean;
  /** Objects to server-side apply, children before the pods that use them. */
  apply: ChildApply[];
  /** Pods to delete: other attempts', and unfinished ones of a finished or suspended job. */
  deletePods: string[];
  /** Native PodGroups of other attempts to delete (each goes once its pods are gone). */
  deletePodGroups: string[];
  /** Delete the job itself: its ttlSecondsAfterFinished ran out. */
  deleteJob: boolean;
  status: OwnedStatus;
  events: PlannedEvent[];
  /** Reconcile again after this long even if nothing changes: the earliest deadline, TTL, backoff or timeout. */
  requeueAfterMs: number | undefined;
}

/** The plan under construction; policies contribute to it in order. */
class Draft {
  conditions: Condition[];
  readonly deletePods: string[] = [];
  readonly deletePodGroups: string[] = [];
  readonly events: PlannedEvent[] = [];
  readonly requeues: number[] = [];
  counters: Counters;
  lastRestart: LastRestart | undefined;

  readonly observed: Observed;
  readonly before: readonly Condition[];

  constructor(observed: Observed, before: readonly Condition[]) {
    this.observed = observed;
    this.before = before;
    const previous = observed.job.status ?? {};
    this.conditions = [...before];
    this.counters = { restarts: previous.restarts ?? 0, disruptions: previous.disruptions ?? 0 };
    this.lastRestart = previous.lastRestart;
  }

  set(c: ConditionInput): void {
    const generation = this.observed.job.metadata.generation as number | undefined;
    this.conditions = setCondition(this.conditions, c, this.observed.now, generation);
  }

  remove(type: string): void {
    this.conditions = removeCondition(this.conditions, type);
  }

  requeue(ms: number | undefined): void {
    if (ms !== undefined) this.requeues.push(ms);
  }

  /** Removes what is said about placing the stage's pods: a verdict on another stage's or attempt's would mislead. */
  clearPlacement(): void {
    for (const type of [CONDITION.podsScheduled, CONDITION.waitingForCapacity, CONDITION.queued, CONDITION.admitted])
      this.remove(type);
  }

  /** Deletes the native PodGroups of attempts other than `attempt`. */
  deleteOtherPodGroups(attempt: number): void {
    for (const g of this.observed.podGroups)
      if (!g.deleting && g.attempt !== String(attempt)) this.deletePodGroups.push(g.name);
  }

  /** Deletes pods not already on their way out. */
  deleteAll(pods: readonly V1Pod[]): void {
    for (const p of pods) if (!p.metadata?.deletionTimestamp) this.deletePods.push(podName(p));
  }

  plan(
    fields: {
      phase: Phase;
      attempt: number;
      stage: JobStage | undefined;
      startTime: string | undefined;
      gang: Status["gang"];
    },
    extra: Partial<Pick<Plan, "apply" | "createTokenSecret" | "deleteJob">> = {},
  ): Plan {
    const { job, now, pods } = this.observed;
    const terminal = fields.phase === "Succeeded" || fields.phase === "Failed";
    const previous = job.status ?? {};
    return {
      createTokenSecret: extra.createTokenSecret ?? false,
      apply: extra.apply ?? [],
      deletePods: this.deletePods,
      deletePodGroups: this.deletePodGroups,
      deleteJob: extra.deleteJob ?? false,
      status: ownedStatus({
        job,
        pods,
        conditions: this.conditions,
        ...fields,
        counters: this.counters,
        lastRestart: this.lastRestart,
        completionTime: terminal ? (previous.completionTime ?? now) : undefined,
      }),
      events: [...transitions(this.before, this.conditions), ...this.events],
      requeueAfterMs: this.requeues.length > 0 ? Math.min(...this.requeues) : undefined,
    };
  }
}

/** What happened when the shell carried out a plan: the child the apiserver refused, if any. */
export interface Outcome {
  rejection?: Rejection;
}

export function plan(observed: Observed, ctx: OperatorContext, outcome: Outcome = {}): Plan {
  const { job, now } = observed;
  const previous = job.status ?? {};
  // BudgetExceeded belongs to the report endpoint (one writer per field): the planner neither reads nor writes it.
  const draft = new Draft(observed, ownConditions(previous.conditions));
  const stageBefore = previous.stage as JobStage | undefined;

  if (isFinishedJob(draft.before)) {
    // A finished job keeps its pods' logs but frees their GPUs, and goes when its TTL runs out.
    const attempt = previous.attempt ?? 0;
    const pods = podView(observed, attempt);
    draft.deleteAll(pods.ofOtherAttempts);
    draft.deleteOtherPodGroups(attempt);
    draft.deleteAll(unfinished(pods.ofAttempt));
    draft.deleteAll(unfinished(pods.preflight));
    const ttl = ttlCheck(job.spec.ttlSecondsAfterFinished, previous.completionTime, now);
    if (ttl && "requeueAfterMs" in ttl) draft.requeue(ttl.requeueAfterMs);
    const phase: Phase = draft.conditions.some((c) => c.type === CONDITION.failed && c.status === "True")
      ? "Failed"
      : "Succeeded";
    return draft.plan(
      { phase, attempt, stage: stageBefore, startTime: previous.startTime, gang: previous.gang },
      { deleteJob: ttl !== undefined && "deleteJob" in ttl },
    );
  }

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
  const blockedBy = ready.blockedBy ?? (gang.problems.length > 0 ? "SchedulingNotServed" : undefined);

  // The deadline counts from the first bind since the job was created or resumed (queued pods hold nothing).
  const startTime = (resumed ? undefined : previous.startTime) ?? firstScheduled(pods.ofAttempt)?.at;

  // A stage seen done is recorded before a suspension or the deadline is applied: neither undoes finished work (a
  // head that succeeded as the job was suspended, or just before the deadline, is a job that succeeded).
  const progress = advanceStages(job, draft.conditions, pods, attempt);
  for (const c of progress.completed) draft.set(c);
  const stage = progress.stage;
  // The stage's pods, in one gang when there are several; status.gang names the current attempt's group.
  const staged = stageGang(job, attempt, stagePods(job, ctx, stage, attempt), gang.mechanism);
  const gangOf = (a: number) => gangStatus(gang.mechanism, gangGroup(job, a, staged.pods.length, gang.mechanism));
  if (progress.succeeded) {
    draft.clearPlacement();
    draft.set({ type: CONDITION.reconciling, status: "False", reason: "Succeeded", message: "the job finished" });
    draft.set({ type: CONDITION.stalled, status: "False", reason: "Succeeded", message: "" });
    draft.deleteAll(unfinished(pods.ofAttempt));
    return draft.plan({ phase: "Succeeded", attempt, stage, startTime, gang: gangOf(attempt) });
  }

  if (suspended.state === "suspended") {
    draft.deleteAll(unfinished(pods.ofAttempt));
    draft.deleteAll(unfinished(pods.preflight));
    draft.clearPlacement();
    // A job suspended before it started has no stage yet.
    return draft.plan({
      phase: "Suspended",
      attempt,
      stage: stageBefore && stage,
      startTime: undefined,
      gang: gangOf(attempt),
    });
  }

  const deadline = deadlineCheck(job.spec.activeDeadlineSeconds, startTime, now);
  if (deadline && "exceeded" in deadline) {
    return fail(
      draft,
      pods,
      { attempt, stage, startTime, gang: gangOf(attempt) },
      "DeadlineExceeded",
      deadline.exceeded,
    );
  }
  draft.requeue(deadline?.requeueAfterMs);

  const desired = staged.pods;
  const gate = restartGate({
    attempt,
    lastRestart: draft.lastRestart,
    counters: draft.counters,
    backoffSeconds: job.spec.failurePolicy.backoffSeconds,
    olderPods: pods.ofOtherAttempts,
    now,
  });
  if (!gate.open) draft.requeue(gate.requeueAfterMs);

  let failure = gate.open
    ? findFailure({ desired, pods, previous, stage, attempt, rules: job.spec.failurePolicy.rules })
    : undefined;
  if (gate.open && !failure) {
    const startup = startupCheck({
      desired,
      pods,
      attempt,
      timeoutSeconds: job.spec.scheduling.startupTimeoutSeconds,
      now,
    });
    failure = startup.failure;
    draft.requeue(startup.requeueAfterMs);
  }
  if (failure) {
    const decision = decideRestart(failure, job.spec.failurePolicy, draft.counters, attempt, now);
    if (decision.kind === "fail")
      return fail(draft, pods, { attempt, stage, startTime, gang: gangOf(attempt) }, decision.reason, decision.message);
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
    return draft.plan({
      phase: "Restarting",
      attempt: decision.attempt,
      stage,
      startTime,
      gang: gangOf(decision.attempt),
    });
  }

  const endpoints = preflightPlan({ observed, ctx, pods, stage, desired, blockedBy: ready.blockedBy });
  draft.set(endpoints.condition);
  draft.deletePods.push(...endpoints.deletePods);
  const children = childrenPlan({
    observed,
    ctx,
    attempt,
    pods,
    desiredPods: gate.open && !blockedBy && !endpoints.holdsBack ? desired : [],
    ...(staged.podGroup ? { podGroup: staged.podGroup } : {}),
  });
  draft.events.push(...children.events);
  const capacity = capacityConditions({ desired, pods, events: observed.podEvents, before: draft.before });
  const kueue = kueueConditions({
    queueName: job.spec.scheduling.queueName,
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
  const refused = outcome.rejection;
  if (refused) {
    draft.set(rejectionCondition(refused));
    const since = draft.conditions.find((c) => c.type === CONDITION.childrenCreated)?.lastTransitionTime ?? now;
    draft.requeue(retryAfterMs(since, now));
  } else if (!blockedBy && draft.before.some((c) => c.type === CONDITION.childrenCreated && c.status === "False")) {
    draft.set(CHILDREN_ACCEPTED);
  }
  const stalled = stalledBy(
    blockedBy,
    [...ready.problems, ...gang.problems],
    refused && (rejectionCondition(refused).message as string),
    endpoints.stalled,
    kueue.inadmissible,
  );
  if (stalled) {
    // kstatus reads Reconciling before Stalled: a job that waits for a human is Failed to it, not InProgress.
    draft.set({ type: CONDITION.reconciling, status: "False", reason: "Blocked", message: stalled.waitingFor });
  } else if (!gate.open) {
    draft.set({ type: CONDITION.reconciling, status: "True", reason: "Restarting", message: gate.message });
  } else {
    const waits = endpoints.holdsBack ? " waits for the endpoint preflight (EndpointsReady)" : "";
    draft.set({ type: CONDITION.reconciling, status: "True", reason: stage, message: `stage ${stage}${waits}` });
  }
  draft.set({
    type: CONDITION.stalled,
    status: stalled ? "True" : "False",
    reason: stalled?.reason ?? "Progressing",
    message: stalled?.message ?? "",
  });
  const started =
    desired.some((d) => pods.byName.has(d.metadata.name)) ||
    (previous.phase !== undefined && previous.phase !== "Pending");
  const phase: Phase = !gate.open ? "Restarting" : started ? stage : "Pending";
  return draft.plan(
    { phase, attempt, stage, startTime, gang: gangOf(attempt) },
    { apply: [...children.apply, ...endpoints.apply], createTokenSecret: children.createTokenSecret },
  );
}

/** Why the job waits for a human, the most fundamental cause first, and what Reconciling says it waits for. */
function stalledBy(
  blockedBy: string | undefined,
  problems: string[],
  refusal: string | false | undefined,
  endpoints: { reason: string; message: string } | undefined,
  inadmissible: string | undefined,
): { reason: string; message: string; waitingFor: string } | undefined {
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

/** The job fails: its unfinished pods go (their GPUs are freed), finished ones stay for their logs. */
function fail(
  draft: Draft,
  pods: PodView,
  fields: { attempt: number; stage: JobStage | undefined; startTime: string | undefined; gang: Status["gang"] },
  reason: string,
  message: string,
): Plan {
  draft.deleteAll(unfinished(pods.ofAttempt));
  draft.clearPlacement();
  draft.set({ type: CONDITION.failed, status: "True", reason, message });
  draft.set({ type: CONDITION.reconciling, status: "False", reason: "Failed", message: "the job finished" });
  draft.set({ type: CONDITION.stalled, status: "True", reason: "Failed", message });
  return draft.plan({ phase: "Failed", ...fields });
}

function unfinished(pods: readonly V1Pod[]): V1Pod[] {
  return pods.filter((p) => !isFinished(p));
}
