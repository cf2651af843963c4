// Reading what the kubelet and the scheduler say about a pod.
import type { V1Pod } from "@kubernetes/client-node";

export type PodPhase = "Pending" | "Running" | "Succeeded" | "Failed" | "Unknown";

export function podPhase(pod: V1Pod): PodPhase {
  return (pod.status?.phase as PodPhase | undefined) ?? "Pending";
}

/** The uid of the object that controls the pod (its job), if any. */
export function controllerUid(pod: V1Pod): string | undefined {
  return pod.metadata?.ownerReferences?.find((o) => o.controller)?.uid;
}

export function isFinished(pod: V1Pod): boolean {
  const phase = podPhase(pod);
  return phase === "Succeeded" || phase === "Failed";
}

/**
 * The condition Kubernetes (DisruptionTarget) or Kueue (TerminationTarget) put on a pod before ending it: preemption,
 * eviction, a taint, node loss, or Kueue stopping its workload.
 */
export function disruptionOf(pod: V1Pod) {
  return pod.status?.conditions?.find(
    (c) => (c.type === "DisruptionTarget" || c.type === "TerminationTarget") && c.status === "True",
  );
}

/** Why a pod failed, naming the container, its exit code and reason (OOMKilled, Error, ...). */
export function failureDetail(pod: V1Pod, preferredContainer: string): string {
  const statuses = [...(pod.status?.containerStatuses ?? []), ...(pod.status?.initContainerStatuses ?? [])];
  const failed = statuses
    .filter((s) => (s.state?.terminated?.exitCode ?? 0) !== 0)
    .sort((a, b) => Number(b.name === preferredContainer) - Number(a.name === preferredContainer))[0];
  const name = pod.metadata?.name ?? "?";
  const disruption = disruptionOf(pod);
  // A disruption is about the node (lost, drained, preempted on): name it.
  const node = pod.spec?.nodeName ? ` on node ${pod.spec.nodeName}` : "";
  const cause = disruption ? ` (${disruption.reason}: ${disruption.message ?? ""}${node})` : "";
  if (!failed?.state?.terminated) {
    const reason = pod.status?.reason ?? "Failed";
    return `pod ${name} failed: ${reason}${pod.status?.message ? `: ${pod.status.message}` : ""}${cause}`;
  }
  const t = failed.state.terminated;
  const message = t.message?.trim() ? `: ${lastWords(t.message)}` : "";
  return `pod ${name} container ${failed.name} exited with code ${t.exitCode} (${t.reason ?? "Error"})${message}${cause}`;
}

/** How much of a termination message a failure quotes: its end, where a traceback's error is. */
export const TERMINATION_QUOTE_CHARS = 400;

/**
 * The end of a container's termination message on one line. The trainer's is the tail of its log when it failed
 * without writing one (terminationMessagePolicy FallbackToLogsOnError): up to 80 lines, of which the last say why.
 */
function lastWords(message: string): string {
  const line = message
    .trim()
    .split("\n")
    .map((l) => l.trim())
    .filter(Boolean)
    .join(" | ");
  return line.length <= TERMINATION_QUOTE_CHARS ? line : `…${line.slice(-TERMINATION_QUOTE_CHARS)}`;
}

/** A pod that is going away, and why when Kubernetes said (eviction, preemption, taint, node loss). */
export function deletionDetail(pod: V1Pod): string {
  const disruption = disruptionOf(pod);
  const cause = disruption ? ` (${disruption.reason}${disruption.message ? `: ${disruption.message}` : ""})` : "";
  return `pod ${pod.metadata?.name ?? "?"} was deleted before it finished${cause}`;
}

/** The scheduler's verdict when it cannot place the pod (reason Unschedulable and its message), else undefined. */
export function unschedulable(pod: V1Pod): { reason: string; message: string } | undefined {
  if (pod.spec?.nodeName) return undefined;
  const scheduled = pod.status?.conditions?.find((c) => c.type === "PodScheduled");
  if (scheduled?.status !== "False") return undefined;
  return { reason: scheduled.reason ?? "Unschedulable", message: scheduled.message ?? "" };
}
