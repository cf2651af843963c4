import type { KubernetesObject } from "@kubernetes/client-node";
import { describe, expect, it } from "vitest";
import { slimPod, stripBookkeeping } from "../../../src/runtime/transform.ts";

const LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration";

describe("stripBookkeeping", () => {
  it("drops managedFields and kubectl's last-applied annotation, and nothing else", () => {
    const obj = {
      apiVersion: "v1",
      kind: "ConfigMap",
      metadata: {
        name: "c",
        namespace: "ns",
        managedFields: [{ manager: "kubectl" }],
        annotations: { [LAST_APPLIED]: "{...}", keep: "me" },
        labels: { a: "b" },
      },
      data: { k: "v" },
    };
    expect(stripBookkeeping(obj)).toEqual({
      apiVersion: "v1",
      kind: "ConfigMap",
      metadata: { name: "c", namespace: "ns", annotations: { keep: "me" }, labels: { a: "b" } },
      data: { k: "v" },
    });
    expect(obj.metadata.managedFields).toHaveLength(1); // the input is not modified
  });

  it("returns the object itself when there is nothing to drop", () => {
    const obj = { metadata: { name: "c", annotations: { keep: "me" } } };
    expect(stripBookkeeping(obj)).toBe(obj);
  });
});

/** A pod as the apiserver returns it, with everything the planner reads and much that it does not. */
function fullPod(): KubernetesObject {
  const terminated = {
    terminated: { exitCode: 137, reason: "OOMKilled", message: "oom", startedAt: "t0", finishedAt: "t1" },
  };
  return {
    apiVersion: "v1",
    kind: "Pod",
    metadata: {
      name: "job-a0-head",
      namespace: "ns",
      uid: "u1",
      resourceVersion: "42",
      generation: 1,
      creationTimestamp: new Date("2026-01-01T00:00:00Z"),
      deletionTimestamp: new Date("2026-01-01T01:00:00Z"),
      deletionGracePeriodSeconds: 30,
      labels: { "collabllm.io/job-name": "job" },
      annotations: { "karpenter.sh/do-not-disrupt": "true", [LAST_APPLIED]: "{...}" },
      ownerReferences: [
        { apiVersion: "collabllm.io/v1alpha1", kind: "CollabTrainingJob", name: "job", uid: "j1", controller: true },
      ],
      finalizers: ["batch.kubernetes.io/job-tracking"],
      managedFields: [{ manager: "collab-operator", fieldsV1: { big: true } }],
    },
    spec: {
      nodeName: "gpu-0",
      schedulingGates: [{ name: "kueue.x-k8s.io/admission" }],
      priority: 1000,
      priorityClassName: "high",
      containers: [{ name: "trainer", image: "img", env: [{ name: "A", value: "x".repeat(1000) }] }],
      volumes: [{ name: "data" }],
      tolerations: [{ key: "nvidia.com/gpu" }],
    },
    status: {
      phase: "Failed",
      reason: "Evicted",
      message: "node lost",
      startTime: "t0",
      podIP: "10.0.0.1",
      hostIP: "10.0.0.2",
      qosClass: "Burstable",
      conditions: [
        { type: "PodScheduled", status: "True" },
        { type: "DisruptionTarget", status: "True", reason: "DeletionByTaintManager" },
        { type: "TerminationTarget", status: "True", reason: "Preempted" },
        { type: "Ready", status: "False" },
      ],
      containerStatuses: [
        {
          name: "trainer",
          image: "img",
          imageID: "sha",
          containerID: "c1",
          started: false,
          ready: false,
          restartCount: 2,
          state: terminated,
          lastState: { terminated: { exitCode: 1 } },
        },
      ],
      initContainerStatuses: [
        {
          name: "user-simulator",
          image: "op",
          imageID: "sha",
          ready: true,
          restartCount: 0,
          state: { running: { startedAt: "t0" } },
        },
      ],
    },
  } as KubernetesObject;
}

describe("slimPod", () => {
  it("keeps exactly the fields a planner reads", () => {
    expect(slimPod(fullPod())).toEqual({
      apiVersion: "v1",
      kind: "Pod",
      metadata: {
        name: "job-a0-head",
        namespace: "ns",
        uid: "u1",
        resourceVersion: "42",
        generation: 1,
        creationTimestamp: new Date("2026-01-01T00:00:00Z"),
        deletionTimestamp: new Date("2026-01-01T01:00:00Z"),
        deletionGracePeriodSeconds: 30,
        labels: { "collabllm.io/job-name": "job" },
        annotations: { "karpenter.sh/do-not-disrupt": "true" },
        ownerReferences: [
          { apiVersion: "collabllm.io/v1alpha1", kind: "CollabTrainingJob", name: "job", uid: "j1", controller: true },
        ],
        finalizers: ["batch.kubernetes.io/job-tracking"],
      },
      spec: {
        nodeName: "gpu-0",
        schedulingGates: [{ name: "kueue.x-k8s.io/admission" }],
        priority: 1000,
        priorityClassName: "high",
      },
      status: {
        phase: "Failed",
        reason: "Evicted",
        message: "node lost",
        startTime: "t0",
        conditions: [
          { type: "PodScheduled", status: "True" },
          { type: "DisruptionTarget", status: "True", reason: "DeletionByTaintManager" },
          { type: "TerminationTarget", status: "True", reason: "Preempted" },
          { type: "Ready", status: "False" },
        ],
        containerStatuses: [
          {
            name: "trainer",
            ready: false,
            restartCount: 2,
            state: {
              terminated: { exitCode: 137, reason: "OOMKilled", message: "oom", startedAt: "t0", finishedAt: "t1" },
            },
            lastState: { terminated: { exitCode: 1 } },
          },
        ],
        initContainerStatuses: [
          {
            name: "user-simulator",
            ready: true,
            restartCount: 0,
            state: { running: { startedAt: "t0" } },
            lastState: undefined,
          },
        ],
      },
    });
  });

  it("adds nothing a pod does not have: a new pod stays small and without a status", () => {
    const slim = slimPod({
      apiVersion: "v1",
      kind: "Pod",
      metadata: { name: "p", namespace: "ns" },
      spec: { containers: [] },
    } as KubernetesObject);
    expect(slim).toEqual({ apiVersion: "v1", kind: "Pod", metadata: { name: "p", namespace: "ns" }, spec: {} });
    expect(JSON.stringify(slim)).not.toContain("undefined");
  });

  it("is a fixed point: slimming a slim pod changes nothing", () => {
    const once = slimPod(fullPod());
    expect(slimPod(once)).toEqual(once);
  });
});
