// A pod of the running stage that disappears without a terminal phase (PodGC force-deletes the pods of a deleted
// node) fails the job instead of being silently re-created; a pod not counted yet is simply created.
import type { V1Pod } from "@kubernetes/client-node";
import { describe, expect, it } from "vitest";
import type { CollabTrainingJob, Status } from "../../../src/api/schema.ts";
import { validateJob } from "../../../src/api/validate.ts";
import type { Plan } from "../../../src/operator/plan.ts";
import { failureDetail } from "../../../src/status/pods.ts";
import { validJob } from "../../fixtures/invalid-jobs.ts";
import { planWorld } from "./world.ts";

function twoNodeJob(status?: Status): CollabTrainingJob {
  const base = validJob("job");
  const result = validateJob({
    ...base,
    metadata: { name: "job", namespace: "ns", uid: "u-1", generation: 1 },
    spec: { ...base.spec, rl: { batchSize: 16, miniBatchSize: 8 }, resources: { nodes: 2 } },
  });
  if (!result.ok) throw new Error(JSON.stringify(result.errors));
  return { ...result.job, ...(status ? { status } : {}) };
}

const OWNER = {
  apiVersion: "collabllm.io/v1alpha1",
  kind: "CollabTrainingJob",
  name: "job",
  uid: "u-1",
  controller: true,
};
const labels = (role: string) => ({
  "collabllm.io/job-name": "job",
  "collabllm.io/role": role,
  "collabllm.io/attempt": "0",
});
const pod = (name: string, role: string, phase: string, meta: Partial<NonNullable<V1Pod["metadata"]>> = {}): V1Pod => ({
  metadata: { name, labels: labels(role), ownerReferences: [OWNER], ...meta },
  spec: { containers: [], nodeName: `node-of-${name}` },
  status: { phase },
});

const prepared = pod("job-a0-prepare", "prepare", "Succeeded");
const head = pod("job-a0-head", "head", "Running");
const worker = pod("job-a0-worker-1", "worker", "Running");

const run = (j: CollabTrainingJob, pods: V1Pod[]): Plan => planWorld(j, pods);
/** The job after the plan's status was written, as the next reconcile reads it. */
const written = (j: CollabTrainingJob, p: Plan) => ({ ...j, status: p.status });
const failed = (p: Plan) => p.status.conditions?.find((c) => c.type === "Failed");
const podsApplied = (p: Plan) => p.apply.filter((a) => a.kind === "Pod").map((a) => a.name);

describe("a pod lost without a terminal phase", () => {
  it("fails the job naming the pod, frees the other GPUs and re-creates nothing", () => {
    const running = run(twoNodeJob(), [prepared, head, worker]);
    expect(running.status.phase).toBe("Training");
    const p = run(written(twoNodeJob(), running), [prepared, head]);
    expect(p.status.phase).toBe("Failed");
    expect(failed(p)).toMatchObject({ status: "True", reason: "PodLost" });
    expect(failed(p)?.message).toContain("pod job-a0-worker-1 disappeared");
    expect(podsApplied(p)).toEqual([]);
    expect(p.deletePods).toEqual(["job-a0-head"]);
    expect(p.events).toContainEqual(expect.objectContaining({ type: "Warning", reason: "PodLost" }));
  });

  it("creates a pod the status never counted: not made yet (say, the operator died while creating the gang)", () => {
    const creating = run(twoNodeJob(), [prepared]); // plans head and worker; the cache shows neither yet
    expect(podsApplied(creating)).toEqual(["job-a0-head", "job-a0-worker-1"]);
    const p = run(written(twoNodeJob(), creating), [prepared, head]);
    expect(failed(p)).toBeUndefined();
    expect(podsApplied(p)).toEqual(["job-a0-worker-1"]);
  });

  it("starts a new attempt on resume, whatever the suspended attempt's pods are still doing", () => {
    const suspendedCondition = {
      type: "Suspended",
      status: "True" as const,
      reason: "Suspended",
      message: "",
      lastTransitionTime: "2026-11-22T09:00:00Z",
    };
    const terminating = pod("job-a0-worker-1", "worker", "Failed", { deletionTimestamp: new Date() });
    const datasetReady = { ...suspendedCondition, type: "DatasetReady", reason: "Prepared" };
    const p = run(
      twoNodeJob({ phase: "Suspended", attempt: 0, stage: "Training", conditions: [suspendedCondition, datasetReady] }),
      [prepared, head, terminating],
    );
    expect(failed(p)).toBeUndefined();
    expect(p.status.attempt).toBe(1);
    expect(podsApplied(p)).toEqual(["job-a1-head", "job-a1-worker-1"]);
    expect(p.deletePods.sort()).toEqual(["job-a0-head", "job-a0-prepare"]); // the old attempt goes, finished or not
  });

  it("fails the job when someone else deletes a running stage's pod, naming the pod and the cause", () => {
    const evicted = pod("job-a0-worker-1", "worker", "Running", { deletionTimestamp: new Date() });
    evicted.status = {
      phase: "Running",
      conditions: [
        { type: "DisruptionTarget", status: "True", reason: "EvictionByEvictionAPI", message: "Eviction API" },
      ],
    };
    const p = run(twoNodeJob({ phase: "Training", attempt: 0 }), [prepared, head, evicted]);
    expect(failed(p)).toMatchObject({ reason: "PodDeleted" });
    expect(failed(p)?.message).toContain("pod job-a0-worker-1 was deleted before it finished (EvictionByEvictionAPI");
    expect(podsApplied(p)).toEqual([]);
  });

  it("names the node when a pod failed through a disruption", () => {
    const gone: V1Pod = {
      ...worker,
      status: {
        phase: "Failed",
        conditions: [
          {
            type: "DisruptionTarget",
            status: "True",
            reason: "DeletionByPodGC",
            message: "PodGC: node no longer exists",
          },
        ],
      },
    };
    expect(failureDetail(gone, "trainer")).toBe(
      "pod job-a0-worker-1 failed: Failed (DeletionByPodGC: PodGC: node no longer exists on node node-of-job-a0-worker-1)",
    );
  });
});
