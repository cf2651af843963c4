// Capacity policy: whether the stage's pods are placed, and, while the scheduler cannot place one, why the job waits:
// the scheduler's message, and the latest word of an autoscaler about it (Cluster Autoscaler's TriggeredScaleUp /
// NotTriggerScaleUp, Karpenter's Nominated / FailedScheduling: kubernetes/autoscaler's
// cluster-autoscaler/processors/status/eventing_scale_up_processor.go, kubernetes-sigs/karpenter's
// pkg/controllers/provisioning/scheduling/events.go). Pods gated by a queue are not waiting for capacity: they are
// not asking for any yet.
import type { V1Pod } from "@kubernetes/client-node";
import { CONDITION } from "../../api/conditions.ts";
import type { Condition } from "../../api/schema.ts";
import type { DesiredPod } from "../../children/pods.ts";
import type { ConditionChange } from "../../kube/conditions.ts";
import { unschedulable } from "../../kube/pods.ts";
import type { PodEvent, PodView } from "./observed.ts";

/** The autoscaler events read, and the WaitingForCapacity reason each one means. */
const AUTOSCALER_REASON: Record<string, (e: PodEvent) => string | undefined> = {
  TriggeredScaleUp: () => "ScaleUpTriggered",
  NotTriggerScaleUp: () => "NoScaleUp",
  FailedScaleUp: () => "ScaleUpFailed",
  Nominated: () => "NodeNominated",
  // The scheduler writes FailedScheduling too; its word is already the pod's PodScheduled message.
  FailedScheduling: (e) => (e.component === "karpenter" ? "NoScaleUp" : undefined),
};

/**
 * The scheduler's VolumeBinding plugin when a pod's claim has no volume yet (ErrReasonUnboundImmediatePVC in
 * kubernetes' pkg/scheduler/framework/plugins/volumebinding): a wait for the volume, on every node alike.
 */
const VOLUME_BINDING = /pod has unbound immediate PersistentVolumeClaims/;

/**
 * The Events the operator watches for this policy, by reason and, where the reason is shared, by the component that
 * wrote it: the scheduler writes FailedScheduling on every retry for every waiting pod, and only Karpenter's are read
 * (watching the scheduler's would wake each waiting job at each retry, to do nothing).
 */
export const CAPACITY_EVENTS: { reason: string; source?: string }[] = Object.keys(AUTOSCALER_REASON).map((reason) =>
  reason === "FailedScheduling" ? { reason, source: "karpenter" } : { reason },
);

export interface CapacityConditions {
  podsScheduled: ConditionChange;
  waitingForCapacity: ConditionChange;
}

export function capacityConditions(input: {
  desired: readonly DesiredPod[];
  pods: PodView;
  events: readonly PodEvent[];
  before: readonly Condition[];
}): CapacityConditions {
  const { desired, pods, events, before } = input;
  const existing = desired.map((d) => pods.byName.get(d.metadata.name)).filter((p): p is V1Pod => p !== undefined);
  const unplaced = existing.flatMap((p) => {
    const u = unschedulable(p);
    return u && u.reason !== "SchedulingGated" ? [{ pod: p.metadata?.name as string, ...u }] : [];
  });
  // A pod whose claim is not bound yet waits for its volume, not for capacity: the scheduler says so of every new
  // job's first pod while the claim binds, and StorageReady tells a claim that never does.
  const binding = unplaced.filter((u) => VOLUME_BINDING.test(u.message));
  const stuck = unplaced.filter((u) => !VOLUME_BINDING.test(u.message));
  // Says something only about this stage's pods: a verdict on the previous stage's would mislead.
  let podsScheduled: ConditionChange = existing.length < desired.length ? "remove" : "keep";
  const first = stuck[0] ?? binding[0];
  if (first) {
    const reason = stuck[0] ? first.reason : "WaitingForVolume";
    podsScheduled = { type: CONDITION.podsScheduled, status: "False", reason, message: first.message };
  } else if (existing.length === desired.length && existing.every((p) => p.spec?.nodeName)) {
    podsScheduled = {
      type: CONDITION.podsScheduled,
      status: "True",
      reason: "Scheduled",
      message: `${existing.length} pod(s) scheduled`,
    };
  }
  return { podsScheduled, waitingForCapacity: waiting(stuck, events, before) };
}

function waiting(
  stuck: { pod: string; reason: string; message: string }[],
  events: readonly PodEvent[],
  before: readonly Condition[],
): ConditionChange {
  const first = stuck[0];
  if (!first) {
    const had = before.some((c) => c.type === CONDITION.waitingForCapacity);
    return had
      ? {
          type: CONDITION.waitingForCapacity,
          status: "False",
          reason: "Scheduled",
          message: "no pod of the stage waits for capacity",
        }
      : "remove";
  }
  const names = new Set(stuck.map((s) => s.pod));
  const word = events
    .filter((e) => names.has(e.pod) && AUTOSCALER_REASON[e.reason]?.(e) !== undefined)
    .sort((a, b) => a.time.localeCompare(b.time))
    .at(-1);
  const more = stuck.length > 1 ? ` (and ${stuck.length - 1} more pod(s))` : "";
  const parts = [`pod ${first.pod}${more}: ${first.message || first.reason}`];
  if (word) parts.push(`${word.component || "autoscaler"} on pod ${word.pod}: ${word.message}`);
  return {
    type: CONDITION.waitingForCapacity,
    status: "True",
    reason: word ? (AUTOSCALER_REASON[word.reason]?.(word) as string) : "Unschedulable",
    message: parts.join("; "),
  };
}
