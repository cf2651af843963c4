// Pod failure policy: finds what ended the current attempt (a pod of the running stage that Failed, was deleted by
// someone else, or vanished) and decides, in batch/v1 podFailurePolicy vocabulary, what it means: FailJob, Ignore
// (restart, not counted against maxRestarts) or Count (restart, counted). The user's rules run first, then the
// defaults; a failure no rule matches is counted, except pods deleted by others or lost, which are disruptions.
import type { V1Pod } from "@kubernetes/client-node";
import type { Spec, Status } from "../../api/schema.ts";
import { timeText } from "../../api/time.ts";
import { LABEL } from "../../children/meta.ts";
import { type DesiredPod, TRAINER_CONTAINER } from "../../children/pods.ts";
import { deletionDetail, failureDetail, podPhase } from "../../kube/pods.ts";
import type { PodView } from "./observed.ts";
import type { JobStage } from "./stages.ts";

export type FailureAction = "FailJob" | "Ignore" | "Count";
export type FailureKind = "PodFailed" | "PodDeleted" | "PodLost" | "StartupTimeout";
export type FailureRule = NonNullable<Spec["failurePolicy"]["rules"]>[number];

/** What ended an attempt, and what the failure policy makes of it. */
export interface AttemptFailure {
  kind: FailureKind;
  message: string;
  action: FailureAction;
  /** What decided the action: `failurePolicy.rules[i]`, a default rule, or the default for the kind. */
  decidedBy: string;
  pod?: string;
  container?: string;
  exitCode?: number;
  /** Kueue stopped the pod (its TerminationTarget reason, e.g. WorkloadEvictedDueToPreempted): Kueue queues again. */
  queueEviction?: string;
  /**
   * The attempt ended because a pod waited for capacity past the startup timeout: the placed pods are let go so
   * their GPUs are free for others, and neither limit is charged (waiting for capacity never fails a job).
   */
  forCapacity?: true;
}

/**
 * Disruptions Kubernetes and Kueue announce on the pod before they end it: DisruptionTarget (k8s.io/api core/v1
 * types.go) and Kueue's TerminationTarget (kubernetes-sigs/kueue's pkg/controller/jobs/pod/pod_controller.go, Stop).
 */
export const DEFAULT_RULES: readonly FailureRule[] = [
  {
    action: "Ignore",
    onPodConditions: [
      { type: "DisruptionTarget", status: "True" },
      { type: "TerminationTarget", status: "True" },
    ],
  },
];

/**
 * Kueue deactivated the job's workload (an administrator set its spec.active to false, or a limit of Kueue's ran out):
 * it wants the job stopped, and a new attempt would be a new workload that Kueue admits again, so the job fails.
 */
const KUEUE_DEACTIVATED = "WorkloadEvictedDueToDeactivated";

/** The default for a failure no rule matched: a pod that failed on its own counts; one taken away does not. */
const KIND_DEFAULT: Record<FailureKind, FailureAction> = {
  PodFailed: "Count",
  PodDeleted: "Ignore",
  PodLost: "Ignore",
  StartupTimeout: "Count",
};

interface Candidate {
  failure: AttemptFailure;
  /** When it happened, to tell the first failure (the cause) from the ones it set off; undefined = unknown. */
  at: string | undefined;
}

/**
 * The failure that ended `attempt` of `stage`, if any. Several pods of a gang usually fail together (one cause, the
 * others lose their peer): a FailJob verdict wins, otherwise the earliest failure is the one reported and judged.
 */
export function findFailure(input: {
  desired: readonly DesiredPod[];
  pods: PodView;
  previous: Status;
  stage: JobStage;
  attempt: number;
  rules: readonly FailureRule[] | undefined;
}): AttemptFailure | undefined {
  const { desired, pods, rules } = input;
  const candidates: Candidate[] = [];
  for (const d of desired) {
    const pod = pods.byName.get(d.metadata.name);
    if (!pod) continue;
    if (podPhase(pod) === "Failed") candidates.push(failedCandidate(pod, rules));
    else if (pod.metadata?.deletionTimestamp && podPhase(pod) !== "Succeeded")
      candidates.push(deletedCandidate(pod, rules));
  }
  const lostPod = lost(input);
  if (lostPod) {
    const message = `pod ${lostPod} disappeared without finishing (force-deleted, e.g. by the pod garbage collector after its node was removed)`;
    candidates.push({ failure: judge("PodLost", message, undefined, rules, { pod: lostPod }), at: undefined });
  }
  const failJob = candidates.find((c) => c.failure.action === "FailJob");
  if (failJob) return failJob.failure;
  // Unknown times first: a vanished pod's node went away, which is what the others then failed of.
  return candidates.sort((a, b) => (a.at ?? "").localeCompare(b.at ?? ""))[0]?.failure;
}

function failedCandidate(pod: V1Pod, rules: readonly FailureRule[] | undefined): Candidate {
  const exit = trainerExit(pod);
  const failure = judge("PodFailed", failureDetail(pod, TRAINER_CONTAINER), pod, rules, {
    pod: pod.metadata?.name as string,
    ...exit,
    ...queueEviction(pod),
  });
  const finished = [...(pod.status?.containerStatuses ?? []), ...(pod.status?.initContainerStatuses ?? [])]
    .map((s) => timeText(s.state?.terminated?.finishedAt))
    .filter((t): t is string => t !== undefined)
    .sort();
  const disrupted = pod.status?.conditions?.find((c) => c.type === "DisruptionTarget" && c.status === "True");
  return { failure, at: timeText(disrupted?.lastTransitionTime) ?? finished[0] };
}

function deletedCandidate(pod: V1Pod, rules: readonly FailureRule[] | undefined): Candidate {
  const failure = judge("PodDeleted", deletionDetail(pod), pod, rules, {
    pod: pod.metadata?.name as string,
    ...queueEviction(pod),
  });
  return { failure, at: timeText(pod.metadata?.deletionTimestamp) };
}

function queueEviction(pod: V1Pod): { queueEviction?: string } {
  const stopped = pod.status?.conditions?.find((c) => c.type === "TerminationTarget" && c.status === "True");
  return stopped ? { queueEviction: stopped.reason ?? "TerminationTarget" } : {};
}

function trainerExit(pod: V1Pod): { container?: string; exitCode?: number } {
  const status = pod.status?.containerStatuses?.find((s) => s.name === TRAINER_CONTAINER);
  const exitCode = status?.state?.terminated?.exitCode;
  return exitCode === undefined ? {} : { container: TRAINER_CONTAINER, exitCode };
}

/** Applies the user's rules, then the defaults, then the kind's default. */
export function judge(
  kind: FailureKind,
  message: string,
  pod: V1Pod | undefined,
  rules: readonly FailureRule[] | undefined,
  detail: { pod?: string; container?: string; exitCode?: number; queueEviction?: string },
): AttemptFailure {
  const decide = (list: readonly FailureRule[], name: (i: number) => string) => {
    for (const [i, rule] of list.entries()) {
      const hit = pod ? matches(rule, pod) : undefined;
      if (hit) return { action: rule.action, decidedBy: name(i), ...hit };
    }
    return undefined;
  };
  const deactivated = detail.queueEviction?.startsWith(KUEUE_DEACTIVATED)
    ? {
        action: "FailJob" as const,
        decidedBy: `Kueue deactivating the job's workload (${detail.queueEviction}), which stops it rather than queueing it again`,
      }
    : undefined;
  const verdict = decide(rules ?? [], (i) => `failurePolicy.rules[${i}]`) ??
    deactivated ??
    decide(DEFAULT_RULES, () => "the default rule for disruptions (DisruptionTarget or TerminationTarget)") ?? {
      action: KIND_DEFAULT[kind],
      decidedBy: `the default for ${kind}`,
    };
  return { kind, message, ...detail, ...verdict };
}

/**
 * Whether `rule` matches `pod`, and the container and exit code it matched on. Without containerName, onExitCodes
 * reads the trainer: the sidecars are stopped by the kubelet when the trainer ends, so their codes say nothing.
 */
export function matches(rule: FailureRule, pod: V1Pod): { container?: string; exitCode?: number } | undefined {
  if (rule.onPodConditions) {
    const conditions = pod.status?.conditions ?? [];
    const hit = rule.onPodConditions.some((want) =>
      conditions.some((c) => c.type === want.type && c.status === want.status),
    );
    return hit ? {} : undefined;
  }
  const codes = rule.onExitCodes;
  if (!codes) return undefined;
  const name = codes.containerName ?? TRAINER_CONTAINER;
  const status = [...(pod.status?.containerStatuses ?? []), ...(pod.status?.initContainerStatuses ?? [])].find(
    (s) => s.name === name,
  );
  const exitCode = status?.state?.terminated?.exitCode;
  if (exitCode === undefined || exitCode === 0) return undefined;
  const listed = codes.values.includes(exitCode);
  return listed === (codes.operator === "In") ? { container: name, exitCode } : undefined;
}

/**
 * A pod of the running stage that the last status counted but the cache no longer holds: it was deleted without a
 * terminal phase we could read (PodGC force-deletes the pods of a deleted node; so does `kubectl delete --force`).
 * Counts, not names: a pod the status never counted is one not made yet, and is simply created.
 */
function lost(input: {
  desired: readonly DesiredPod[];
  pods: PodView;
  previous: Status;
  stage: JobStage;
  attempt: number;
}): string | undefined {
  const { desired, pods, previous, stage, attempt } = input;
  if (previous.phase !== stage || (previous.attempt ?? 0) !== attempt) return undefined;
  const ofRole = (role: string) => desired.filter((d) => d.metadata.labels[LABEL.role] === role);
  return desired
    .filter((d) => !pods.byName.has(d.metadata.name))
    .find((d) => {
      const role = d.metadata.labels[LABEL.role] as string;
      const seen = previous.roles?.find((r) => r.name === role);
      const counted = seen ? seen.pending + seen.running + seen.succeeded + seen.failed : 0;
      return counted > ofRole(role).filter((o) => pods.byName.has(o.metadata.name)).length;
    })?.metadata.name;
}
