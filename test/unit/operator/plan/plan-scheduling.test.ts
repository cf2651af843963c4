// Gang scheduling through plan(): the mechanism in status.gang, the native PodGroup made before the pods and the old
// attempts' deleted, the Kueue group's labels, Queued/Admitted with Kueue's words, a queue that cannot admit and an
// API the cluster does not serve (both for a human: Stalled), and a Kueue eviction restarted at once and not counted.
import type { V1Pod } from "@kubernetes/client-node";
import { describe, expect, it } from "vitest";
import type { CollabTrainingJob, SpecInput } from "../../../../src/api/schema.ts";
import type { KueueWorkload, Observed } from "../../../../src/operator/plan/observed.ts";
import type { Plan } from "../../../../src/operator/plan/plan.ts";
import { at, condition, DATASET_READY, gated, job, NOW, planWorld, pod, TWO_NODES, unplaced } from "./world.ts";

const NATIVE: Partial<Observed> = { served: { kueue: false, podGroups: true } };
const KUEUE: Partial<Observed> = { served: { kueue: true, podGroups: true } };
const QUEUE = { scheduling: { queueName: "team" } } satisfies Partial<SpecInput>;
const prepared = pod("job-a0-prepare", { phase: "Succeeded" });

/** A two-node job past Preparing (attempt `attempt`), as its last status recorded it. */
const training = (spec: Partial<SpecInput> = {}, attempt = 0): CollabTrainingJob =>
  job(
    { ...TWO_NODES, ...spec },
    { phase: "Training", stage: "Training", attempt, restarts: 0, disruptions: 0, conditions: [DATASET_READY] },
  );
const written = (j: CollabTrainingJob, p: Plan): CollabTrainingJob => ({ ...j, status: p.status });
const cond = (p: Plan, type: string) => p.status.conditions?.find((c) => c.type === type);
const applied = (p: Plan) => p.apply.map((a) => `${a.kind}/${a.name}`);
const object = (p: Plan, name: string) => p.apply.find((a) => a.name === name)?.object as Record<string, any>;
const workload = (conditions: KueueWorkload["conditions"]): KueueWorkload => ({
  name: "job-a0-u1",
  podUids: ["uid-job-a0-head", "uid-job-a0-worker-1"],
  conditions,
});

describe("native gang scheduling", () => {
  it("makes the attempt's PodGroup before its pods, and says so in status.gang", () => {
    const p = planWorld(training(), [prepared], NATIVE);
    expect(applied(p).slice(-3)).toEqual(["PodGroup/job-a0-u1", "Pod/job-a0-head", "Pod/job-a0-worker-1"]);
    expect(object(p, "job-a0-head").spec.schedulingGroup).toEqual({ podGroupName: "job-a0-u1" });
    expect(p.status.gang).toEqual({ mechanism: "Workload", podGroup: "job-a0-u1", minCount: 2 });
  });

  it("makes no PodGroup for the single prepare pod", () => {
    const p = planWorld(job(TWO_NODES), [], NATIVE);
    expect(applied(p)).not.toContain("PodGroup/job-a0-u1");
    expect(p.status.gang).toEqual({ mechanism: "Workload" });
  });

  it("makes the PodGroup again when someone deleted it under pods that still wait for it", () => {
    const p = planWorld(training(), [prepared, unplaced("job-a0-head"), unplaced("job-a0-worker-1")], NATIVE);
    expect(applied(p)).toEqual(["PodGroup/job-a0-u1"]);
  });

  it("deletes the PodGroups of other attempts, once", () => {
    const p = planWorld(training({}, 2), [], {
      ...NATIVE,
      podGroups: [
        { name: "job-a0-u1", attempt: "0", deleting: true },
        { name: "job-a1-u1", attempt: "1", deleting: false },
        { name: "job-a2-u1", attempt: "2", deleting: false },
      ],
    });
    expect(p.deletePodGroups).toEqual(["job-a1-u1"]);
    expect(applied(p)).toEqual(["Pod/job-a2-head", "Pod/job-a2-worker-1"]);
  });

  it("a finished job deletes the PodGroups of other attempts too, and keeps its own", () => {
    const done = training({}, 1);
    const p = planWorld(
      { ...done, status: { ...done.status, conditions: [...(done.status?.conditions ?? []), SUCCEEDED] } },
      [pod("job-a1-head", { phase: "Succeeded" })],
      {
        ...NATIVE,
        podGroups: [
          { name: "job-a0-u1", attempt: "0", deleting: false },
          { name: "job-a1-u1", attempt: "1", deleting: false },
        ],
      },
    );
    expect(p.deletePodGroups).toEqual(["job-a0-u1"]);
  });

  it("blocks every pod while the cluster does not serve an API the spec asks for", () => {
    const p = planWorld(job({ ...TWO_NODES, scheduling: { gang: "Workload" } }), [], {
      served: { kueue: true, podGroups: false },
    });
    expect(applied(p).filter((a) => a.startsWith("Pod/"))).toEqual([]);
    expect(cond(p, "SchedulingReady")).toMatchObject({ status: "False", reason: "NotServed" });
    expect(cond(p, "Stalled")).toMatchObject({ status: "True", reason: "SchedulingNotServed" });
    expect(cond(p, "Stalled")?.message).toContain("spec.scheduling.gang: Workload");
    expect(cond(p, "Reconciling")).toMatchObject({ status: "False", reason: "Blocked" });
    expect(p.status.message).toContain("podgroups.scheduling.k8s.io/v1beta1");
    expect(p.events).toContainEqual(expect.objectContaining({ type: "Warning", reason: "NotServed" }));

    // Served once the operator restarts: the job goes on by itself, and says so.
    const again = planWorld(written(job({ ...TWO_NODES, scheduling: { gang: "Workload" } }), p), [], KUEUE);
    expect(applied(again)).toContain("Pod/job-a0-prepare");
    expect(cond(again, "SchedulingReady")).toMatchObject({ status: "True", reason: "Served" });
    expect(cond(again, "Stalled")).toMatchObject({ status: "False" });
  });
});

describe("Kueue", () => {
  it("puts the training pods in one pod group of the attempt, queue-named, and no PodGroup with Auto", () => {
    const p = planWorld(training(QUEUE), [prepared], KUEUE);
    expect(applied(p).slice(-2)).toEqual(["Pod/job-a0-head", "Pod/job-a0-worker-1"]);
    for (const name of ["job-a0-head", "job-a0-worker-1"]) {
      expect(object(p, name).metadata.labels).toMatchObject({
        "kueue.x-k8s.io/queue-name": "team",
        "kueue.x-k8s.io/pod-group-name": "job-a0-u1",
      });
      expect(object(p, name).metadata.annotations).toMatchObject({
        "kueue.x-k8s.io/pod-group-total-count": "2",
        "kueue.x-k8s.io/retriable-in-group": "false",
      });
    }
    expect(p.status.gang).toEqual({ mechanism: "Kueue", podGroup: "job-a0-u1", minCount: 2 });
  });

  it("says Queued with Kueue's words while the pods are gated, then Admitted", () => {
    const message = "couldn't assign flavors to pod set 1a2b3c4d: insufficient unused quota for nvidia.com/gpu";
    const gatedPods = [prepared, gated("job-a0-head"), gated("job-a0-worker-1")];
    const j = training(QUEUE);
    const queued = planWorld(j, gatedPods, {
      ...KUEUE,
      kueueWorkloads: [workload([{ type: "QuotaReserved", status: "False", reason: "Pending", message }])],
    });
    expect(cond(queued, "Queued")).toMatchObject({
      status: "True",
      reason: "Pending",
      message: `Kueue workload job-a0-u1: ${message}`,
    });
    expect(cond(queued, "Admitted")).toMatchObject({ status: "False", reason: "Pending" });
    expect(cond(queued, "WaitingForCapacity")).toBeUndefined();
    expect(cond(queued, "Reconciling")).toMatchObject({ status: "True", reason: "Training" });
    expect(queued.status.waiting).toBe("Queued: Pending");
    expect(queued.status.message).toBe(`Kueue workload job-a0-u1: ${message}`);
    expect(queued.events).toContainEqual({
      type: "Normal",
      reason: "Pending",
      message: `Kueue workload job-a0-u1: ${message}`,
    });

    const admitted = planWorld(written(j, queued), [prepared, pod("job-a0-head"), pod("job-a0-worker-1")], {
      ...KUEUE,
      kueueWorkloads: [
        workload([{ type: "Admitted", status: "True", reason: "Admitted", message: "The workload is admitted" }]),
      ],
    });
    expect(cond(admitted, "Queued")).toMatchObject({ status: "False", reason: "Admitted" });
    expect(cond(admitted, "Admitted")).toMatchObject({ status: "True", reason: "Admitted" });
    // One Event for the admission (Admitted says what Queued says, for kubectl wait).
    expect(admitted.events.filter((e) => e.reason === "Admitted")).toHaveLength(1);
  });

  it("a LocalQueue that does not exist stalls the job (a human must act) until it does", () => {
    const p = planWorld(training(QUEUE), [prepared, gated("job-a0-head"), gated("job-a0-worker-1")], {
      ...KUEUE,
      kueueWorkloads: [
        workload([
          { type: "QuotaReserved", status: "False", reason: "Inadmissible", message: "LocalQueue team doesn't exist" },
        ]),
      ],
    });
    expect(cond(p, "Stalled")).toMatchObject({
      status: "True",
      reason: "Inadmissible",
      message: "Kueue workload job-a0-u1: LocalQueue team doesn't exist",
    });
    expect(cond(p, "Reconciling")).toMatchObject({ status: "False", reason: "Blocked" });
    expect(p.status.waiting).toBe("Blocked: Inadmissible");
    expect(p.events).toContainEqual(
      expect.objectContaining({ type: "Warning", reason: "Inadmissible", message: expect.stringContaining("team") }),
    );
  });

  it("restarts an attempt Kueue preempted at once (Kueue queues it), not counted, and creates it once the old pods are gone", () => {
    const preempted = condition("TerminationTarget", "True", {
      reason: "WorkloadEvictedDueToPreempted",
      message: "Preempted to accommodate a workload due to prioritization in the ClusterQueue",
    });
    const j = training({ ...QUEUE, failurePolicy: { maxRestarts: 0, backoffSeconds: 60 } });
    const running = [prepared, pod("job-a0-head"), pod("job-a0-worker-1")];
    const admitted = written(j, planWorld(j, running, KUEUE));
    const evicted = [
      prepared,
      pod("job-a0-head", { deletedAt: NOW, conditions: [preempted] }),
      pod("job-a0-worker-1", { deletedAt: NOW, conditions: [preempted] }),
    ];
    const restart = planWorld(admitted, evicted, KUEUE);
    expect(restart.status).toMatchObject({ phase: "Restarting", attempt: 1, restarts: 0, disruptions: 1 });
    expect(restart.status.waiting).toBeUndefined();
    expect(restart.status.lastRestart).toMatchObject({ counted: false, backoffSeconds: 0, reason: "PodDeleted" });
    expect(restart.status.lastRestart?.message).toContain("WorkloadEvictedDueToPreempted");
    expect(restart.status.gang).toEqual({ mechanism: "Kueue", podGroup: "job-a1-u1", minCount: 2 });
    for (const type of ["Queued", "Admitted", "PodsScheduled"]) expect(cond(restart, type)).toBeUndefined();

    expect(restart.deletePods.sort()).toEqual(["job-a0-prepare"]);
    // Kueue lets the old pods go (their group is over); the next attempt is a new group, created at once.
    const stillGoing = planWorld(written(admitted, restart), evicted, { ...KUEUE, now: at(1) });
    expect(stillGoing.status).toMatchObject({ phase: "Restarting", waiting: "Restart: PodsTerminating" });
    const next = planWorld(written(admitted, restart), [], { ...KUEUE, now: at(1) });
    expect(applied(next)).toEqual(["Pod/job-a1-head", "Pod/job-a1-worker-1"]);
    expect(object(next, "job-a1-head").metadata.labels["kueue.x-k8s.io/pod-group-name"]).toBe("job-a1-u1");
  });

  it("fails the job when Kueue deactivates its workload, rather than queueing it again", () => {
    const deactivated = condition("TerminationTarget", "True", { reason: "WorkloadEvictedDueToDeactivated" });
    const j = training(QUEUE);
    const p = planWorld(
      j,
      [prepared, pod("job-a0-head", { deletedAt: NOW, conditions: [deactivated] }), pod("job-a0-worker-1")],
      KUEUE,
    );
    expect(p.status.phase).toBe("Failed");
    expect(cond(p, "Failed")).toMatchObject({ reason: "PodFailurePolicy" });
    expect(cond(p, "Failed")?.message).toContain("Kueue deactivating the job's workload");
  });
});

const SUCCEEDED = {
  type: "Succeeded",
  status: "True" as const,
  reason: "TrainingSucceeded",
  message: "",
  lastTransitionTime: at(-60),
};

describe("status.gang for a cluster without either API", () => {
  it("is None with Auto, and the pods carry nothing of a gang", () => {
    const p = planWorld(training(), [prepared]);
    expect(p.status.gang).toEqual({ mechanism: "None" });
    const head = object(p, "job-a0-head") as V1Pod;
    expect(head.spec).not.toHaveProperty("schedulingGroup");
    expect(head.metadata?.labels).not.toHaveProperty("kueue.x-k8s.io/pod-group-name");
  });
});
