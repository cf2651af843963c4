// Startup policy: once the first pod of an attempt's stage is bound to a node, GPUs are held, so every pod of the
// stage must be running within scheduling.startupTimeoutSeconds; otherwise the attempt ends with StartupTimeout and
// the failure policy restarts or fails the job. Pods that wait for capacity or sit in a queue start no clock (they
// hold nothing), and a timeout while a pod waits for capacity is charged to neither limit: the placed pods are let go
// (their GPUs freed for others, once per timeout at most) and the job waits on, as long as it takes.
import type { V1Pod } from "@kubernetes/client-node";
import { addSeconds, secondsBetween, timeText } from "../../api/time.ts";
import type { DesiredPod } from "../../children/pods.ts";
import { podPhase, unschedulable } from "../../kube/pods.ts";
import type { PodView } from "./observed.ts";
import type { AttemptFailure } from "./pod-failure.ts";

export interface StartupCheck {
  failure?: AttemptFailure;
  /** When the clock runs and has not run out: how long until it does. */
  requeueAfterMs?: number;
}

export function startupCheck(input: {
  desired: readonly DesiredPod[];
  pods: PodView;
  attempt: number;
  timeoutSeconds: number;
  now: string;
}): StartupCheck {
  const { desired, pods, attempt, timeoutSeconds, now } = input;
  const existing = desired.map((d) => pods.byName.get(d.metadata.name)).filter((p): p is V1Pod => p !== undefined);
  const waiting = desired.filter((d) => !isUnderway(pods.byName.get(d.metadata.name)));
  if (waiting.length === 0) return {};
  const clock = firstScheduled(existing);
  if (!clock) return {};
  const due = addSeconds(clock.at, timeoutSeconds);
  const left = secondsBetween(now, due);
  if (left > 0) return { requeueAfterMs: left * 1000 + 1000 };
  const why = waiting.map((d) => `${d.metadata.name} (${notRunningDetail(pods.byName.get(d.metadata.name))})`);
  // Not the job's fault: a pod waiting for capacity, or one not created at all (the apiserver refused it: a quota, a
  // missing PriorityClass; ChildrenCreated says so, and fixing it lets the job go on).
  const forCapacity = waiting.some((d) => {
    const pod = pods.byName.get(d.metadata.name);
    return pod === undefined || unschedulable(pod)?.reason === "Unschedulable";
  });
  return {
    failure: {
      kind: "StartupTimeout",
      message: `attempt ${attempt}: ${why.join(", ")} not running ${timeoutSeconds} s after pod ${clock.pod} was scheduled (spec.scheduling.startupTimeoutSeconds)`,
      action: forCapacity ? "Ignore" : "Count",
      decidedBy: forCapacity
        ? "a pod waiting for capacity or not created, which is not the job's fault"
        : "the default for StartupTimeout (the pods were placed but did not start)",
      ...(forCapacity ? { forCapacity: true as const } : {}),
    },
  };
}

/** Running or done: past startup. */
function isUnderway(pod: V1Pod | undefined): boolean {
  const phase = pod ? podPhase(pod) : undefined;
  return phase === "Running" || phase === "Succeeded" || phase === "Failed";
}

/** The first bind of the attempt's stage: PodScheduled=True's transition time of the earliest pod. */
export function firstScheduled(pods: readonly V1Pod[]): { pod: string; at: string } | undefined {
  const times = pods.flatMap((p) => {
    const c = p.status?.conditions?.find((x) => x.type === "PodScheduled" && x.status === "True");
    const at = timeText(c?.lastTransitionTime);
    return at === undefined ? [] : [{ pod: p.metadata?.name as string, at }];
  });
  return times.sort((a, b) => a.at.localeCompare(b.at))[0];
}

function notRunningDetail(pod: V1Pod | undefined): string {
  if (!pod) return "not created";
  const stuck = unschedulable(pod);
  if (stuck) return `${stuck.reason}: ${stuck.message}`;
  const statuses = [...(pod.status?.initContainerStatuses ?? []), ...(pod.status?.containerStatuses ?? [])];
  const waiting = statuses.find((s) => s.state?.waiting?.reason);
  if (waiting?.state?.waiting)
    return `container ${waiting.name} ${waiting.state.waiting.reason}${waiting.state.waiting.message ? `: ${waiting.state.waiting.message}` : ""}`;
  return podPhase(pod);
}
