// The reconciler's decision, pure: from the job and what the cache shows of its world, what to create, what to delete
// and what the status (the part this writer owns) must say. Level-triggered: nothing here depends on which event
// woke the reconcile, and the same world always yields the same plan (so an idle job causes no writes).
import type { V1Pod } from "@kubernetes/client-node";
import type { CollabTrainingJob, Condition, Phase, Status } from "../api/schema.ts";
import { childName, jobName, LABEL, type PodRole } from "../children/meta.ts";
import { type OperatorContext, preparePod, sftPod, TRAINER_CONTAINER, trainingPods } from "../children/pods.ts";
import { claimName, configMap, rayService, volumeClaim } from "../children/support.ts";
import { type ConditionInput, isTrue, removeCondition, setCondition } from "../status/conditions.ts";
import { controllerUid, deletionDetail, failureDetail, isFinished, podPhase, unschedulable } from "../status/pods.ts";
import { BUDGET_CONDITION } from "../status/usage.ts";
import { checkOverrides } from "../verl/check.ts";
import { renderConfigFiles } from "../verl/files.ts";
import { outputs } from "../verl/layout.ts";

/** What the reconciler saw. Secrets are reduced to their key names: values never reach the planner. */
export interface Observed {
  job: CollabTrainingJob;
  /** Pods labelled with the job's name. */
  pods: V1Pod[];
  /** Key names of each Secret in the job's namespace that the spec references; undefined when it does not exist. */
  secretKeys: Record<string, readonly string[] | undefined>;
  configMapData: Record<string, string> | undefined;
  serviceExists: boolean;
  tokenSecretExists: boolean;
  volumeClaimExists: boolean;
  now: string;
}

export type JobStage = "Preparing" | "FineTuning" | "Training";

export const CONDITION = {
  secretsReady: "SecretsReady",
  podsScheduled: "PodsScheduled",
  datasetReady: "DatasetReady",
  fineTuned: "FineTuned",
  succeeded: "Succeeded",
  failed: "Failed",
  suspended: "Suspended",
  reconciling: "Reconciling",
  stalled: "Stalled",
} as const;

/** The status fields this writer owns (progress and usage belong to the report endpoint). */
export type OwnedStatus = Omit<Status, "progress" | "usage">;

export interface PlannedEvent {
  type: "Normal" | "Warning";
  reason: string;
  message: string;
}

export interface Plan {
  /** Create the internal token Secret (the shell makes the random value). */
  createTokenSecret: boolean;
  /** Objects to server-side apply, children before the pods that use them. */
  apply: { kind: string; name: string; object: object }[];
  /** Pods to delete: other attempts', and unfinished ones of a finished job. */
  deletePods: string[];
  status: OwnedStatus;
  events: PlannedEvent[];
}

export function plan(observed: Observed, ctx: OperatorContext): Plan {
  const { job, now } = observed;
  const generation = job.metadata.generation as number | undefined;
  const previous = job.status ?? {};
  // BudgetExceeded belongs to the report endpoint (one writer per field): the planner neither reads nor writes it.
  const before = ownConditions(previous.conditions);
  // A resumed job starts a new attempt: the suspended attempt's pods may still be terminating under the same names.
  const resumed = isTrue(before, CONDITION.suspended) && !job.spec.suspend;
  const attempt = (previous.attempt ?? 0) + (resumed ? 1 : 0);
  let conditions: Condition[] = [...before];
  const set = (c: ConditionInput) => {
    conditions = setCondition(conditions, c, now, generation);
  };
  const result: Plan = { createTokenSecret: false, apply: [], deletePods: [], status: {}, events: [] };
  // Only pods this job controls count. A job deleted and created again under the same name finds the previous
  // one's pods still terminating: they are neither its history nor free names, so it waits for them to go.
  const mine = observed.pods.filter((p) => controllerUid(p) === job.metadata.uid);
  const taken = new Set(observed.pods.filter((p) => !mine.includes(p)).map((p) => p.metadata?.name as string));
  const podsByName = new Map(mine.map((p) => [p.metadata?.name as string, p]));
  const ofAttempt = mine.filter((p) => p.metadata?.labels?.[LABEL.attempt] === String(attempt));
  result.deletePods = mine
    .filter((p) => p.metadata?.labels?.[LABEL.attempt] !== String(attempt) && !p.metadata?.deletionTimestamp)
    .map((p) => p.metadata?.name as string);

  const finished = isTrue(conditions, CONDITION.succeeded) || isTrue(conditions, CONDITION.failed);
  if (finished) {
    // A finished job keeps its pods' logs but frees their GPUs.
    result.deletePods.push(...unfinished(ofAttempt));
    result.status = ownedStatus(observed, conditions, phaseOf(conditions, previous.stage as JobStage), attempt);
    result.events = transitions(before, conditions);
    return result;
  }

  // Spec problems only the operator can see (extra overrides touching owned keys or looking like secrets) block
  // the job like a missing Secret: nothing starts that would fail on a GPU.
  const specProblems = checkOverrides(job.spec).map((p) => `${p.field}: ${p.message}`);
  const secretProblems = missingSecrets(observed);
  set(
    secretProblems.length === 0
      ? {
          type: CONDITION.secretsReady,
          status: "True",
          reason: "SecretsFound",
          message: "every referenced Secret key exists",
        }
      : { type: CONDITION.secretsReady, status: "False", reason: "SecretNotFound", message: secretProblems.join("; ") },
  );

  if (job.spec.suspend) {
    result.deletePods.push(...unfinished(ofAttempt));
    conditions = removeCondition(conditions, CONDITION.podsScheduled);
    set({ type: CONDITION.suspended, status: "True", reason: "Suspended", message: "spec.suspend is true" });
    set({ type: CONDITION.reconciling, status: "False", reason: "Suspended", message: "the job is suspended" });
    set({ type: CONDITION.stalled, status: "False", reason: "Suspended", message: "" });
    result.status = ownedStatus(observed, conditions, "Suspended", attempt);
    result.events = transitions(before, conditions);
    return result;
  }
  if (conditions.some((c) => c.type === CONDITION.suspended)) {
    set({ type: CONDITION.suspended, status: "False", reason: "Resumed", message: "spec.suspend is false" });
  }

  // Walk the stages: a stage whose completion pod succeeded is recorded as a condition, so it is never run twice
  // even after its pods are gone.
  let stage = currentStage(job, conditions);
  for (;;) {
    const done = completionPod(job, stage, attempt);
    const pod = podsByName.get(done);
    if (!pod || podPhase(pod) !== "Succeeded") break;
    if (stage === "Preparing") {
      set({
        type: CONDITION.datasetReady,
        status: "True",
        reason: "Prepared",
        message: `pod ${done} prepared the dataset`,
      });
    } else if (stage === "FineTuning") {
      set({
        type: CONDITION.fineTuned,
        status: "True",
        reason: "FineTuned",
        message: `pod ${done} fine-tuned the model`,
      });
    } else {
      set({
        type: CONDITION.succeeded,
        status: "True",
        reason: "TrainingSucceeded",
        message: `pod ${done} finished training`,
      });
      return finish(result, observed, conditions, stage, attempt, ofAttempt, before);
    }
    stage = currentStage(job, conditions);
  }

  const desired = stagePods(job, ctx, stage, attempt);
  const failedPod = desired.map((d) => podsByName.get(d.metadata.name)).find((p) => p && podPhase(p) === "Failed");
  if (failedPod) {
    set({
      type: CONDITION.failed,
      status: "True",
      reason: "PodFailed",
      message: failureDetail(failedPod, TRAINER_CONTAINER),
    });
    return finish(result, observed, conditions, stage, attempt, ofAttempt, before);
  }
  // The operator deletes pods only of other attempts, of a suspended job or of a finished one: a running stage's pod
  // on its way out was deleted or evicted by someone else, and the stage cannot go on without it.
  const deleted = desired.map((d) => podsByName.get(d.metadata.name)).find((p) => p?.metadata?.deletionTimestamp);
  if (deleted) {
    set({
      type: CONDITION.failed,
      status: "True",
      reason: "PodDeleted",
      message: `${deletionDetail(deleted)}; the stage ${stage} cannot go on without it`,
    });
    return finish(result, observed, conditions, stage, attempt, ofAttempt, before);
  }
  const lostPod = lost(desired, podsByName, previous, stage, attempt);
  if (lostPod) {
    set({
      type: CONDITION.failed,
      status: "True",
      reason: "PodLost",
      message: `pod ${lostPod} disappeared without finishing (force-deleted, e.g. by the pod garbage collector after its node was removed); the stage ${stage} cannot go on without it`,
    });
    return finish(result, observed, conditions, stage, attempt, ofAttempt, before);
  }

  // Children every stage needs; the pods come last so what they mount exists first.
  if (!observed.tokenSecretExists) {
    result.createTokenSecret = true;
    // A new token cannot be the old one: pods already running keep the old value and their reports will be refused.
    const running = ofAttempt.filter((p) => !isFinished(p)).map((p) => p.metadata?.name);
    if (running.length > 0) {
      result.events.push({
        type: "Warning",
        reason: "TokenReplaced",
        message: `Secret ${childName.token(jobName(job))} was deleted and is made again with a new token; the gateways of ${running.join(", ")} keep the old one, so their usage and progress reports are refused until those pods restart`,
      });
    }
  }
  const files = renderConfigFiles(job.spec, { jobName: jobName(job) });
  if (!sameData(observed.configMapData, files)) {
    result.apply.push({ kind: "ConfigMap", name: childName.config(jobName(job)), object: configMap(job, files) });
  }
  if (!observed.serviceExists) {
    result.apply.push({ kind: "Service", name: childName.rayService(jobName(job)), object: rayService(job) });
  }
  const claim = volumeClaim(job);
  if (claim && !observed.volumeClaimExists) {
    result.apply.push({ kind: "PersistentVolumeClaim", name: claim.metadata.name, object: claim });
  }
  // No pod is requested while a referenced Secret is missing: it could not start, and GPUs would sit idle.
  const stalledBy = specProblems.length > 0 ? "InvalidSpec" : secretProblems.length > 0 ? "SecretNotFound" : undefined;
  const missing = stalledBy
    ? []
    : desired.filter((d) => !podsByName.has(d.metadata.name) && !taken.has(d.metadata.name));
  for (const pod of missing) result.apply.push({ kind: "Pod", name: pod.metadata.name, object: pod });

  const existing = desired.map((d) => podsByName.get(d.metadata.name)).filter((p): p is V1Pod => p !== undefined);
  // Says something only about this stage's pods: a verdict on the previous stage's would mislead.
  if (existing.length < desired.length) conditions = removeCondition(conditions, CONDITION.podsScheduled);
  const stuck = existing.map(unschedulable).find((u) => u !== undefined);
  if (stuck) {
    set({ type: CONDITION.podsScheduled, status: "False", reason: stuck.reason, message: stuck.message });
  } else if (existing.length === desired.length && existing.every((p) => p.spec?.nodeName)) {
    set({
      type: CONDITION.podsScheduled,
      status: "True",
      reason: "Scheduled",
      message: `${existing.length} pod(s) scheduled`,
    });
  }

  set({
    type: CONDITION.reconciling,
    status: "True",
    reason: stalledBy ? "Blocked" : stage,
    message: stalledBy ? "waiting for the spec or its Secrets to be fixed" : `stage ${stage}`,
  });
  set({
    type: CONDITION.stalled,
    status: stalledBy ? "True" : "False",
    reason: stalledBy ?? "Progressing",
    message: [...specProblems, ...secretProblems].join("; "),
  });
  const started = existing.length > 0 || previous.startTime !== undefined;
  result.status = ownedStatus(observed, conditions, started ? stage : "Pending", attempt, stage);
  result.events.push(...transitions(before, conditions));
  return result;
}

function finish(
  result: Plan,
  observed: Observed,
  conditions: Condition[],
  stage: JobStage,
  attempt: number,
  ofAttempt: V1Pod[],
  before: readonly Condition[],
): Plan {
  const generation = observed.job.metadata.generation as number | undefined;
  const failed = isTrue(conditions, CONDITION.failed);
  let next = setCondition(
    removeCondition(conditions, CONDITION.podsScheduled),
    {
      type: CONDITION.reconciling,
      status: "False",
      reason: failed ? "Failed" : "Succeeded",
      message: "the job finished",
    },
    observed.now,
    generation,
  );
  const failedCondition = next.find((c) => c.type === CONDITION.failed);
  next = setCondition(
    next,
    failed
      ? { type: CONDITION.stalled, status: "True", reason: "Failed", message: failedCondition?.message ?? "" }
      : { type: CONDITION.stalled, status: "False", reason: "Succeeded", message: "" },
    observed.now,
    generation,
  );
  result.deletePods.push(...unfinished(ofAttempt));
  result.apply = [];
  result.createTokenSecret = false;
  result.status = ownedStatus(observed, next, failed ? "Failed" : "Succeeded", attempt, stage);
  result.events = transitions(before, next);
  return result;
}

export function ownConditions(conditions: readonly Condition[] | undefined): Condition[] {
  return (conditions ?? []).filter((c) => c.type !== BUDGET_CONDITION);
}

function currentStage(job: CollabTrainingJob, conditions: Condition[]): JobStage {
  if (!isTrue(conditions, CONDITION.datasetReady)) return "Preparing";
  if (job.spec.sft.enabled && !isTrue(conditions, CONDITION.fineTuned)) return "FineTuning";
  return "Training";
}

const ROLE_OF_STAGE: Record<JobStage, PodRole> = { Preparing: "prepare", FineTuning: "sft", Training: "head" };

/** The pod whose success completes a stage: the prepare pod, the SFT pod, or the head (it runs veRL's driver). */
function completionPod(job: CollabTrainingJob, stage: JobStage, attempt: number): string {
  return childName.pod(jobName(job), ROLE_OF_STAGE[stage], attempt);
}

function stagePods(job: CollabTrainingJob, ctx: OperatorContext, stage: JobStage, attempt: number) {
  if (stage === "Preparing") return [preparePod(job, ctx, attempt)];
  if (stage === "FineTuning") return [sftPod(job, ctx, attempt)];
  return trainingPods(job, ctx, attempt);
}

/**
 * A pod of the running stage that the last status counted but the cache no longer holds: it was deleted without a
 * terminal phase we could read (PodGC force-deletes the pods of a deleted node; so does `kubectl delete --force`).
 * Re-creating it alone would hand a Ray gang a stranger, so it fails the job (a gang restart is the failure policy's
 * business). Counts, not names: a pod the status never counted is one not made yet, and is simply created.
 */
function lost(
  desired: { metadata: { name: string; labels: Record<string, string | undefined> } }[],
  podsByName: Map<string, V1Pod>,
  previous: Status,
  stage: JobStage,
  attempt: number,
): string | undefined {
  if (previous.phase !== stage || (previous.attempt ?? 0) !== attempt) return undefined;
  const ofRole = (role: string) => desired.filter((d) => d.metadata.labels[LABEL.role] === role);
  return desired
    .filter((d) => !podsByName.has(d.metadata.name))
    .find((d) => {
      const role = d.metadata.labels[LABEL.role] as string;
      const seen = previous.roles?.find((r) => r.name === role);
      const counted = seen ? seen.pending + seen.running + seen.succeeded + seen.failed : 0;
      return counted > ofRole(role).filter((o) => podsByName.has(o.metadata.name)).length;
    })?.metadata.name;
}

function unfinished(pods: V1Pod[]): string[] {
  return pods.filter((p) => !isFinished(p) && !p.metadata?.deletionTimestamp).map((p) => p.metadata?.name as string);
}

function phaseOf(conditions: Condition[], stage: JobStage | undefined): Phase {
  if (isTrue(conditions, CONDITION.failed)) return "Failed";
  if (isTrue(conditions, CONDITION.succeeded)) return "Succeeded";
  return stage ?? "Pending";
}

/** Secrets and keys the spec references that are not there, as messages naming the field, Secret and key. */
function missingSecrets(observed: Observed): string[] {
  return secretReferences(observed.job).flatMap(({ field, ref }) => {
    const keys = observed.secretKeys[ref.name];
    if (keys === undefined) return [`${field}: Secret ${ref.name} not found`];
    if (!keys.includes(ref.key)) return [`${field}: Secret ${ref.name} has no key ${ref.key}`];
    return [];
  });
}

export function secretReferences(job: CollabTrainingJob): { field: string; ref: { name: string; key: string } }[] {
  const { spec } = job;
  const refs: { field: string; ref: { name: string; key: string } | undefined }[] = [
    { field: "spec.userSimulator.apiKeySecretRef", ref: spec.userSimulator.apiKeySecretRef },
    { field: "spec.judge.apiKeySecretRef", ref: spec.judge.apiKeySecretRef },
    { field: "spec.integrations.wandb.apiKeySecretRef", ref: spec.integrations.wandb?.apiKeySecretRef },
    { field: "spec.integrations.huggingFaceTokenSecretRef", ref: spec.integrations.huggingFaceTokenSecretRef },
  ];
  return refs.filter((r): r is { field: string; ref: { name: string; key: string } } => r.ref !== undefined);
}

function sameData(a: Record<string, string> | undefined, b: Record<string, string>): boolean {
  if (!a) return false;
  const keys = Object.keys(b);
  return keys.length === Object.keys(a).length && keys.every((k) => a[k] === b[k]);
}

function ownedStatus(
  observed: Observed,
  conditions: Condition[],
  phase: Phase,
  attempt: number,
  stage?: JobStage,
): OwnedStatus {
  const { job, now } = observed;
  const previous = job.status ?? {};
  const terminal = phase === "Succeeded" || phase === "Failed";
  const started = previous.startTime ?? (phase === "Pending" || phase === "Suspended" ? undefined : now);
  const claim = claimName(job);
  return {
    phase,
    observedGeneration: job.metadata.generation as number | undefined,
    conditions,
    ...((stage ?? previous.stage) ? { stage: stage ?? previous.stage } : {}),
    ...(started ? { startTime: started } : {}),
    ...(terminal ? { completionTime: previous.completionTime ?? now } : {}),
    restarts: previous.restarts ?? 0,
    attempt,
    roles: roleCounts(job, observed.pods, attempt),
    outputs: { ...outputs(job.spec), volumeClaim: claim },
    message: messageOf(phase, conditions),
  };
}

function roleCounts(job: CollabTrainingJob, pods: V1Pod[], attempt: number): NonNullable<Status["roles"]> {
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

function messageOf(phase: Phase, conditions: Condition[]): string {
  const bad = conditions.find(
    (c) =>
      (c.type === CONDITION.failed && c.status === "True") ||
      (c.type === CONDITION.secretsReady && c.status === "False") ||
      (c.type === CONDITION.stalled && c.reason === "InvalidSpec") ||
      (c.type === CONDITION.podsScheduled && c.status === "False"),
  );
  return bad ? bad.message : phase;
}

/** Events for conditions that changed status or reason: each transition is told once, in `kubectl describe`. */
function transitions(before: readonly Condition[], after: readonly Condition[]): PlannedEvent[] {
  const WARN: Record<string, string> = {
    [CONDITION.secretsReady]: "False",
    [CONDITION.podsScheduled]: "False",
    [CONDITION.failed]: "True",
  };
  const QUIET = new Set<string>([CONDITION.reconciling, CONDITION.stalled]);
  return after
    .filter((c) => !QUIET.has(c.type) || (c.type === CONDITION.stalled && c.reason === "InvalidSpec"))
    .filter((c) => {
      const old = before.find((b) => b.type === c.type);
      return !old || old.status !== c.status || old.reason !== c.reason;
    })
    .filter((c) => c.status === "True" || WARN[c.type] === c.status || before.some((b) => b.type === c.type))
    .map((c) => ({
      type: WARN[c.type] === c.status || c.reason === "InvalidSpec" ? "Warning" : "Normal",
      reason: c.reason,
      message: c.message,
    }));
}
