// Capacity policy: whether the stage's pods are placed and, while one cannot be, why the job waits: the scheduler's
// message and the latest word of an autoscaler about a waiting pod. Pods gated by a queue ask for no capacity yet.
import type { V1Pod } from "@kubernetes/client-node";
import { describe, expect, it } from "vitest";
import type { Condition } from "../../../../src/api/schema.ts";
import { DEFAULT_OPERATOR_CONTEXT } from "../../../../src/children/pods.ts";
import {
  CAPACITY_EVENTS,
  type CapacityConditions,
  capacityConditions,
} from "../../../../src/operator/plan/capacity.ts";
import type { PodEvent } from "../../../../src/operator/plan/observed.ts";
import { stagePods } from "../../../../src/operator/plan/stages.ts";
import { at, gated, job, NO_GPU, pod, podEvent, TWO_NODES, unplaced, view } from "./world.ts";

const j = job(TWO_NODES);
/** The scheduler's word while a new job's claim binds (seen on every real start). */
const BINDING = "0/9 nodes are available: pod has unbound immediate PersistentVolumeClaims. not found";
const desired = stagePods(j, DEFAULT_OPERATOR_CONTEXT, "Training", 0);
const created = (name: string) => pod(name, { phase: "Pending", node: null });
/** What the policy says while `first` (and maybe others, in `more`) cannot be placed. */
const stuck = (first: string, more = ""): CapacityConditions => ({
  podsScheduled: { type: "PodsScheduled", status: "False", reason: "Unschedulable", message: NO_GPU },
  waitingForCapacity: {
    type: "WaitingForCapacity",
    status: "True",
    reason: "Unschedulable",
    message: `pod ${first}${more}: ${NO_GPU}`,
  },
});
const WAITING_BEFORE: Condition = {
  type: "WaitingForCapacity",
  status: "True",
  reason: "Unschedulable",
  message: "",
  lastTransitionTime: at(-60),
};

function conditions(pods: V1Pod[], events: PodEvent[] = [], before: Condition[] = []): CapacityConditions {
  return capacityConditions({ desired, pods: view(j, pods), events, before });
}

describe("capacityConditions", () => {
  it.each<{ name: string; pods: V1Pod[]; before?: Condition[]; result: CapacityConditions }>([
    { name: "no pod made yet", pods: [], result: { podsScheduled: "remove", waitingForCapacity: "remove" } },
    {
      name: "one of two made and placed: nothing said of the stage yet",
      pods: [pod("job-a0-head")],
      result: { podsScheduled: "remove", waitingForCapacity: "remove" },
    },
    {
      name: "all placed",
      pods: [pod("job-a0-head"), pod("job-a0-worker-1")],
      result: {
        podsScheduled: { type: "PodsScheduled", status: "True", reason: "Scheduled", message: "2 pod(s) scheduled" },
        waitingForCapacity: "remove",
      },
    },
    {
      name: "all placed after waiting for capacity: WaitingForCapacity turns False",
      pods: [pod("job-a0-head"), pod("job-a0-worker-1")],
      before: [WAITING_BEFORE],
      result: {
        podsScheduled: { type: "PodsScheduled", status: "True", reason: "Scheduled", message: "2 pod(s) scheduled" },
        waitingForCapacity: {
          type: "WaitingForCapacity",
          status: "False",
          reason: "Scheduled",
          message: "no pod of the stage waits for capacity",
        },
      },
    },
    {
      name: "all made, one not yet seen by the scheduler: PodsScheduled kept as it was",
      pods: [pod("job-a0-head"), created("job-a0-worker-1")],
      result: { podsScheduled: "keep", waitingForCapacity: "remove" },
    },
    {
      name: "a pod gated by a queue does not wait for capacity",
      pods: [pod("job-a0-head"), gated("job-a0-worker-1")],
      result: { podsScheduled: "keep", waitingForCapacity: "remove" },
    },
    {
      name: "a pod the scheduler cannot place",
      pods: [pod("job-a0-head"), unplaced("job-a0-worker-1")],
      result: stuck("job-a0-worker-1"),
    },
    {
      name: "an unplaceable pod is reported even while its peer is not made",
      pods: [unplaced("job-a0-head")],
      result: stuck("job-a0-head"),
    },
    {
      name: "gated and unplaceable: only the unplaceable one waits",
      pods: [gated("job-a0-head"), unplaced("job-a0-worker-1")],
      result: stuck("job-a0-worker-1"),
    },
    {
      name: "a pod waiting for its claim to bind: its volume, not capacity",
      pods: [unplaced("job-a0-head", BINDING), pod("job-a0-worker-1")],
      result: {
        podsScheduled: { type: "PodsScheduled", status: "False", reason: "WaitingForVolume", message: BINDING },
        waitingForCapacity: "remove",
      },
    },
    {
      name: "one waiting for its volume, one for capacity: the capacity is told",
      pods: [unplaced("job-a0-head", BINDING), unplaced("job-a0-worker-1")],
      result: stuck("job-a0-worker-1"),
    },
    {
      name: "several waiting: the first is named, the others counted",
      pods: [unplaced("job-a0-head"), unplaced("job-a0-worker-1", "other")],
      result: stuck("job-a0-head", " (and 1 more pod(s))"),
    },
    {
      name: "a scheduler message left empty: the reason stands in",
      pods: [pod("job-a0-head"), unplaced("job-a0-worker-1", "")],
      result: {
        podsScheduled: { type: "PodsScheduled", status: "False", reason: "Unschedulable", message: "" },
        waitingForCapacity: {
          type: "WaitingForCapacity",
          status: "True",
          reason: "Unschedulable",
          message: "pod job-a0-worker-1: Unschedulable",
        },
      },
    },
  ])("$name", ({ pods, before = [], result }) => {
    expect(conditions(pods, [], before)).toEqual(result);
  });

  const waitingPods = [pod("job-a0-head"), unplaced("job-a0-worker-1")];
  const triggered = podEvent("TriggeredScaleUp", "cluster-autoscaler", -5);
  const notTriggered = podEvent("NotTriggerScaleUp", "cluster-autoscaler", -30);
  const failedScaleUp = podEvent("FailedScaleUp", "cluster-autoscaler", -10);
  const nominated = podEvent("Nominated", "karpenter", -10);
  const karpenterCannot = podEvent("FailedScheduling", "karpenter", -10);
  const schedulerCannot = podEvent("FailedScheduling", "default-scheduler", -1);
  const anonymous = { ...podEvent("TriggeredScaleUp", "", -10), message: "pod triggered scale-up" };
  it.each<{ name: string; events: PodEvent[]; reason: string; word?: string }>([
    {
      name: "Cluster Autoscaler triggered a scale-up",
      events: [triggered],
      reason: "ScaleUpTriggered",
      word: `cluster-autoscaler on pod job-a0-worker-1: ${triggered.message}`,
    },
    {
      name: "Cluster Autoscaler will not scale up",
      events: [notTriggered],
      reason: "NoScaleUp",
      word: `cluster-autoscaler on pod job-a0-worker-1: ${notTriggered.message}`,
    },
    {
      name: "a scale-up failed",
      events: [failedScaleUp],
      reason: "ScaleUpFailed",
      word: `cluster-autoscaler on pod job-a0-worker-1: ${failedScaleUp.message}`,
    },
    {
      name: "Karpenter nominated a node",
      events: [nominated],
      reason: "NodeNominated",
      word: `karpenter on pod job-a0-worker-1: ${nominated.message}`,
    },
    {
      name: "Karpenter's FailedScheduling: it cannot provision",
      events: [karpenterCannot],
      reason: "NoScaleUp",
      word: `karpenter on pod job-a0-worker-1: ${karpenterCannot.message}`,
    },
    {
      name: "the scheduler's own FailedScheduling is ignored: its word is already the pod's condition",
      events: [schedulerCannot],
      reason: "Unschedulable",
    },
    {
      name: "the latest word wins",
      events: [triggered, notTriggered, schedulerCannot],
      reason: "ScaleUpTriggered",
      word: `cluster-autoscaler on pod job-a0-worker-1: ${triggered.message}`,
    },
    {
      name: "a word about a pod that is placed says nothing of the wait",
      events: [{ ...notTriggered, pod: "job-a0-head" }],
      reason: "Unschedulable",
    },
    {
      name: "a reason the policy does not read",
      events: [podEvent("Scheduled", "default-scheduler", -1), podEvent("Preempted", "default-scheduler", -1)],
      reason: "Unschedulable",
    },
    {
      name: "an event without a component is an autoscaler's",
      events: [anonymous],
      reason: "ScaleUpTriggered",
      word: "autoscaler on pod job-a0-worker-1: pod triggered scale-up",
    },
  ])("$name", ({ events, reason, word }) => {
    const waiting = conditions(waitingPods, events).waitingForCapacity;
    expect(waiting).toEqual({
      type: "WaitingForCapacity",
      status: "True",
      reason,
      message: [`pod job-a0-worker-1: ${NO_GPU}`, ...(word ? [word] : [])].join("; "),
    });
  });

  it("watches exactly the events it reads: of FailedScheduling, Karpenter's only (the scheduler writes one per retry)", () => {
    expect([...CAPACITY_EVENTS].sort((a, b) => a.reason.localeCompare(b.reason))).toEqual([
      { reason: "FailedScaleUp" },
      { reason: "FailedScheduling", source: "karpenter" },
      { reason: "Nominated" },
      { reason: "NotTriggerScaleUp" },
      { reason: "TriggeredScaleUp" },
    ]);
  });
});
