// Preflight policy: before the job's first GPU pod (SFT or training), a small CPU pod checks each endpoint whose
// `preflight` is on: reachable, key accepted, model served, one completion of max_tokens 1 answered. Its verdicts,
// read only from the containers' termination messages (never the key), become the EndpointsReady condition; while it
// is not True the job requests no GPU pod, and a False verdict that holds one back stalls the job (kstatus), as a
// missing Secret does. Preparing, on CPU, goes on meanwhile. The pod's name hashes each endpoint's settings and its
// Secret's uid and resourceVersion: a change makes a new pod, and the old ones are deleted. A failed check runs again
// by itself (the pod's restartPolicy OnFailure), so an endpoint that comes up lets the job go on.
import type { V1ContainerStatus, V1Pod } from "@kubernetes/client-node";
import { CONDITION } from "../../api/conditions.ts";
import type { CollabTrainingJob } from "../../api/schema.ts";
import type { DesiredPod, OperatorContext } from "../../children/pods.ts";
import { type CheckedEndpoint, checkedEndpoints, preflightPod } from "../../children/preflight.ts";
import { serverOf } from "../../children/serving.ts";
import { type PreflightVerdict, PreflightVerdictSchema } from "../../contract/preflight-verdict.ts";
import type { ConditionInput } from "../../kube/conditions.ts";
import { podPhase } from "../../kube/pods.ts";
import type { ChildApply } from "./children.ts";
import { isTerminating, type Observed, type PodView, podName } from "./observed.ts";
import type { BlockedBy } from "./readiness.ts";
import { GPU_STAGES, type JobStage } from "./stages.ts";

export interface PreflightDecision {
  /** The preflight pod, when it is missing. */
  apply: ChildApply[];
  /** Preflight pods of settings or Secrets that changed, and a pod that failed as a whole (evicted, node lost). */
  deletePods: string[];
  condition: ConditionInput;
  /** Pods of the stage may not be created: it needs GPUs and the endpoints did not pass. */
  holdsBack: boolean;
  /** Set when a False verdict holds a GPU pod back: the job cannot go on until the endpoint is fixed. */
  stalled: { reason: string; message: string } | undefined;
}

export function preflightPolicy(input: {
  observed: Observed;
  /** The job as its gateways see it: a served role's baseURL is its server's (children/serving.ts). */
  job: CollabTrainingJob;
  ctx: OperatorContext;
  pods: PodView;
  stage: JobStage;
  /** The stage's pods: the preflight holds back only those that are missing. */
  desired: readonly DesiredPod[];
  /** Why readiness blocks pods, if it does: with a Secret missing, the preflight pod could not start either. */
  blockedBy: BlockedBy | undefined;
  /** Every served role's server has a ready replica: until then a served role's check would only meet no server. */
  serversReady: boolean;
}): PreflightDecision {
  const { observed, job, ctx, pods, stage, desired, blockedBy, serversReady } = input;
  const endpoints = checkedEndpoints(job.spec);
  const wanted = preflightPod(job, ctx, observed.secretVersions);
  const current = wanted ? pods.preflight.find((p) => podName(p) === wanted.metadata.name) : undefined;
  const deletePods = pods.preflight.filter((p) => p !== current && !isTerminating(p)).map(podName);
  const apply: ChildApply[] = [];
  let condition: ConditionInput;
  if (!wanted) {
    condition = {
      type: CONDITION.endpointsReady,
      status: "True",
      reason: "PreflightDisabled",
      message: "not checked: spec.userSimulator.preflight and spec.judge.preflight are false",
    };
  } else if (current && podPhase(current) === "Failed" && !isTerminating(current)) {
    // Evicted or its node lost before it could say: it goes, and is made again once gone.
    deletePods.push(podName(current));
    condition = running(wanted.metadata.name, "it failed as a whole (evicted, or its node lost) and is made again");
  } else if (current) {
    condition = verdictCondition(endpoints, current, job);
  } else {
    const taken = pods.taken.has(wanted.metadata.name);
    const waitsForServers = !serversReady && endpoints.some((e) => serverOf(job, e.role) !== undefined);
    if (blockedBy !== "SecretNotFound" && !taken && !waitsForServers) {
      apply.push({ kind: "Pod", name: wanted.metadata.name, object: wanted });
    }
    condition = running(
      wanted.metadata.name,
      blockedBy === "SecretNotFound"
        ? "it starts once the Secrets exist (SecretsReady)"
        : taken
          ? "it starts once a pod of that name, left by an earlier job of the same name, is gone"
          : waitsForServers
            ? "it starts once the served roles' servers have a ready replica (ServingReady)"
            : "created",
    );
  }
  const missing = desired.some((d) => !pods.byName.has(d.metadata.name));
  const holdsBack = GPU_STAGES.has(stage) && condition.status !== "True" && missing;
  return {
    apply,
    deletePods,
    condition,
    holdsBack,
    stalled:
      holdsBack && condition.status === "False" ? { reason: condition.reason, message: condition.message } : undefined,
  };
}

function running(pod: string, state: string): ConditionInput {
  return {
    type: CONDITION.endpointsReady,
    status: "Unknown",
    reason: "PreflightRunning",
    message: `pod ${pod} checks the endpoints: ${state}`,
  };
}

/** Each checked endpoint's verdict, from its container's latest termination message. */
function verdictCondition(endpoints: readonly CheckedEndpoint[], pod: V1Pod, job: CollabTrainingJob): ConditionInput {
  const name = podName(pod);
  const results = endpoints.map((e) => ({ e, result: containerVerdict(pod, e) }));
  const failed = results.filter((r) => r.result.kind === "failed");
  const pending = results.filter((r) => r.result.kind === "pending");
  const disabled = disabledNote(job);
  if (failed.length > 0) {
    const first = failed[0]?.result as Failed;
    const messages = failed.map(({ e, result }) => describe(e, result as Failed));
    return {
      type: CONDITION.endpointsReady,
      status: "False",
      reason: first.reason,
      message: `${messages.join("; ")} (pod ${name}; it checks again by itself with a backoff, and at once when the endpoint or its Secret changes)`,
    };
  }
  if (pending.length > 0) {
    const states = pending.map(({ e, result }) => `${e.role} ${(result as Pending).state}`);
    return running(name, states.join(", "));
  }
  const passed = results.map(({ e, result }) => describe(e, result as Passed));
  return {
    type: CONDITION.endpointsReady,
    status: "True",
    reason: "PreflightPassed",
    message: `${[...passed, ...disabled].join("; ")} (pod ${name})`,
  };
}

interface Passed {
  kind: "passed";
  verdict: PreflightVerdict;
}
interface Failed {
  kind: "failed";
  reason: string;
  message: string;
  verdict: PreflightVerdict | undefined;
}
interface Pending {
  kind: "pending";
  state: string;
}

function containerVerdict(pod: V1Pod, e: CheckedEndpoint): Passed | Failed | Pending {
  const status = pod.status?.containerStatuses?.find((s) => s.name === e.role);
  // The latest run: the current one if it ended, else the one before (crash-looping: waiting to run again).
  const ended = status?.state?.terminated ?? status?.lastState?.terminated;
  if (!status || !ended) return { kind: "pending", state: waitingState(pod, status) };
  const parsed = parseVerdict(ended.message);
  if (parsed?.endpoint === e.role) {
    return parsed.ready
      ? { kind: "passed", verdict: parsed }
      : { kind: "failed", reason: parsed.reason, message: parsed.message, verdict: parsed };
  }
  const said = ended.message?.trim() ? `: ${ended.message.trim().slice(0, 500)}` : "";
  return {
    kind: "failed",
    reason: "PreflightFailed",
    message: `container ${e.role} exited with code ${ended.exitCode} (${ended.reason ?? "Error"}) without a verdict${said}; see kubectl logs ${podName(pod)} -c ${e.role}`,
    verdict: undefined,
  };
}

function parseVerdict(message: string | undefined): PreflightVerdict | undefined {
  if (!message) return undefined;
  try {
    const parsed = PreflightVerdictSchema.safeParse(JSON.parse(message));
    return parsed.success ? parsed.data : undefined;
  } catch {
    return undefined;
  }
}

function waitingState(pod: V1Pod, status: V1ContainerStatus | undefined): string {
  const waiting = status?.state?.waiting;
  if (waiting?.reason) return `is waiting (${waiting.reason}${waiting.message ? `: ${waiting.message}` : ""})`;
  if (status?.state?.running) return "is running";
  return podPhase(pod) === "Pending" ? "is pending" : "has not ended yet";
}

function describe(e: CheckedEndpoint, result: Passed | Failed): string {
  const at = result.verdict ? ` (${result.verdict.model} at ${result.verdict.baseURL})` : "";
  const ref = e.endpoint.apiKeySecretRef;
  const key =
    result.kind === "failed" && result.reason === "KeyRefused" && ref
      ? ` [${e.field}.apiKeySecretRef: Secret ${ref.name}, key ${ref.key}]`
      : "";
  const seconds =
    result.kind === "passed" && result.verdict.seconds !== undefined ? ` in ${result.verdict.seconds} s` : "";
  return `${e.field}${at}: ${result.kind === "passed" ? result.verdict.message : result.message}${seconds}${key}`;
}

function disabledNote(job: CollabTrainingJob): string[] {
  const { spec } = job;
  return [
    ...(spec.userSimulator.preflight ? [] : ["spec.userSimulator: not checked (preflight: false)"]),
    ...(spec.judge.preflight ? [] : ["spec.judge: not checked (preflight: false)"]),
  ];
}
