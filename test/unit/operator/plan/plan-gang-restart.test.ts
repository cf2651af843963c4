// The failure and restart policies through plan(): a failure of any pod of the running stage ends the attempt, every
// pod of it goes, and the next attempt starts only once they are gone and the backoff has passed. Each step plans
// from the status the previous step wrote, as the reconciler would.
import type { V1Pod } from "@kubernetes/client-node";
import { describe, expect, it } from "vitest";
import type { CollabTrainingJob, SpecInput, Status } from "../../../../src/api/schema.ts";
import { failureDetail, TERMINATION_QUOTE_CHARS } from "../../../../src/kube/pods.ts";
import type { Plan } from "../../../../src/operator/plan/plan.ts";
import { at, DATASET_READY, job, NOW, planWorld, TWO_NODES, world } from "./world.ts";

const twoNodeJob = (status?: Status, spec: Partial<SpecInput> = {}): CollabTrainingJob =>
  job({ ...TWO_NODES, ...spec }, status);

const OWNER = {
  apiVersion: "collabllm.io/v1alpha1",
  kind: "CollabTrainingJob",
  name: "job",
  uid: "u-1",
  controller: true,
};

function pod(name: string, role: string, phase: string, attempt = 0, status: Partial<V1Pod["status"]> = {}): V1Pod {
  return {
    metadata: {
      name,
      labels: { "collabllm.io/job-name": "job", "collabllm.io/role": role, "collabllm.io/attempt": String(attempt) },
      ownerReferences: [OWNER],
    },
    spec: { containers: [], nodeName: `node-of-${name}` },
    status: {
      phase,
      conditions: [{ type: "PodScheduled", status: "True", lastTransitionTime: at(-60) as unknown as Date }],
      ...status,
    },
  };
}

const exited = (code: number, reason = "Error", finishedAt = at(-5)) => ({
  containerStatuses: [
    {
      name: "trainer",
      image: "t",
      imageID: "",
      ready: false,
      restartCount: 0,
      state: { terminated: { exitCode: code, reason, finishedAt: finishedAt as unknown as Date } },
    },
  ],
});

const prepared = pod("job-a0-prepare", "prepare", "Succeeded");
const head = pod("job-a0-head", "head", "Running");
const worker = pod("job-a0-worker-1", "worker", "Running");

const written = (j: CollabTrainingJob, p: Plan): CollabTrainingJob => ({ ...j, status: p.status });
const cond = (p: Plan, type: string) => p.status.conditions?.find((c) => c.type === type);
const podsApplied = (p: Plan) => p.apply.filter((a) => a.kind === "Pod").map((a) => a.name);
const planAt = (j: CollabTrainingJob, pods: V1Pod[], now = NOW) => planWorld(j, pods, { now });

/** A job in Training with both pods of attempt 0 running, as the status last recorded them. */
function training(spec: Partial<SpecInput> = {}): CollabTrainingJob {
  const j = twoNodeJob(undefined, spec);
  return written(j, planWorld(j, [prepared, head, worker]));
}

describe("gang restart", () => {
  it("replaces the whole gang after a worker exits 1, only once attempt 0's pods are gone and the backoff passed", () => {
    const failedWorker = pod("job-a0-worker-1", "worker", "Failed", 0, exited(1));
    const p = planAt(training(), [prepared, head, failedWorker]);
    expect(p.status).toMatchObject({ phase: "Restarting", attempt: 1, restarts: 1, disruptions: 0 });
    expect(p.status.lastRestart).toMatchObject({
      attempt: 0,
      reason: "PodFailed",
      counted: true,
      pod: "job-a0-worker-1",
      container: "trainer",
      exitCode: 1,
      time: NOW,
    });
    expect(p.deletePods.sort()).toEqual(["job-a0-head", "job-a0-prepare", "job-a0-worker-1"]);
    expect(podsApplied(p)).toEqual([]);
    const event = p.events.find((e) => e.reason === "Restarting");
    expect(event?.type).toBe("Warning");
    expect(event?.message).toContain("restart 1 of 3 (failurePolicy.maxRestarts)");
    expect(event?.message).toContain("and 10 s after now (backoff)");

    // The operator plans again (say, after a restart of its own) while the old pods are still there: nothing new.
    const after = written(training(), p);
    const terminating = [prepared, head, failedWorker].map((x) => ({
      ...x,
      metadata: { ...x.metadata, deletionTimestamp: at(1) as unknown as Date },
    }));
    const waiting = planAt(after, terminating, at(2));
    expect(waiting.status).toMatchObject({
      phase: "Restarting",
      attempt: 1,
      restarts: 1,
      waiting: "Restart: PodsTerminating",
    });
    expect(podsApplied(waiting)).toEqual([]);
    expect(waiting.deletePods).toEqual([]);
    expect(cond(waiting, "Reconciling")?.message).toContain("waits for the pods of earlier attempts to be gone");
    expect(waiting.events.filter((e) => e.reason === "Restarting")).toEqual([]);

    const gone = planAt(written(after, waiting), [], at(4));
    expect(podsApplied(gone)).toEqual([]);
    expect(gone.requeueAfterMs).toBe(7000); // due at +10 s, a second of margin
    expect(gone.status.waiting).toBe("Restart: Backoff");
    const due = planAt(written(after, gone), [], at(10));
    expect(podsApplied(due)).toEqual(["job-a1-head", "job-a1-worker-1"]);
    expect(due.status).toMatchObject({ phase: "Training", attempt: 1, restarts: 1 });
    expect(due.status.waiting).toBeUndefined();
  });

  it("points the Ray head Service at the current attempt's head", () => {
    const j = twoNodeJob({ attempt: 1, phase: "Training", stage: "Training", conditions: [DATASET_READY] });
    const p = planWorld(j, [], {
      serviceSelector: { "collabllm.io/job-name": "job", "collabllm.io/role": "head", "collabllm.io/attempt": "0" },
    });
    const service = p.apply.find((a) => a.kind === "Service")?.object as { spec: { selector: object } };
    expect(service.spec.selector).toEqual({
      "collabllm.io/job-name": "job",
      "collabllm.io/role": "head",
      "collabllm.io/attempt": "1",
    });
  });

  it("fails with MaxRestartsExceeded once maxRestarts is spent, saying why there is no further restart", () => {
    const j = written(training({ failurePolicy: { maxRestarts: 1 } }), {
      ...planAt(training(), [prepared, head, worker]),
    });
    const spent = { ...j, status: { ...j.status, restarts: 1 } };
    const p = planAt(spent, [prepared, head, pod("job-a0-worker-1", "worker", "Failed", 0, exited(1))]);
    expect(p.status.phase).toBe("Failed");
    expect(cond(p, "Failed")).toMatchObject({ status: "True", reason: "MaxRestartsExceeded" });
    expect(cond(p, "Failed")?.message).toBe(
      "pod job-a0-worker-1 container trainer exited with code 1 (Error); no further restart: failurePolicy.maxRestarts (1) is spent (the default for PodFailed: Count)",
    );
    expect(cond(p, "Stalled")).toMatchObject({ status: "True", reason: "Failed" });
    expect(p.deletePods).toEqual(["job-a0-head"]); // frees the GPUs; finished pods keep their logs
    expect(p.events).toContainEqual(expect.objectContaining({ type: "Warning", reason: "MaxRestartsExceeded" }));
  });

  it("fails at once on a FailJob rule, and ignores what an Ignore rule matches", () => {
    const rules = [
      { action: "FailJob" as const, onExitCodes: { operator: "In" as const, values: [42] } },
      { action: "Ignore" as const, onExitCodes: { operator: "In" as const, values: [137] } },
    ];
    const j = training({ failurePolicy: { rules } });
    const fatal = planAt(j, [prepared, head, pod("job-a0-worker-1", "worker", "Failed", 0, exited(42))]);
    expect(cond(fatal, "Failed")).toMatchObject({ reason: "PodFailurePolicy" });
    expect(cond(fatal, "Failed")?.message).toContain("failurePolicy.rules[0]: FailJob, so no restart");
    const killed = planAt(j, [prepared, head, pod("job-a0-worker-1", "worker", "Failed", 0, exited(137, "OOMKilled"))]);
    expect(killed.status).toMatchObject({ phase: "Restarting", restarts: 0, disruptions: 1 });
    expect(killed.status.lastRestart).toMatchObject({ counted: false, exitCode: 137 });
  });

  it("does not count disruptions: DisruptionTarget, deletion by someone else, a vanished pod", () => {
    const podgc = pod("job-a0-worker-1", "worker", "Failed", 0, {
      conditions: [
        {
          type: "DisruptionTarget",
          status: "True",
          reason: "DeletionByPodGC",
          message: "PodGC: node no longer exists",
        },
      ],
    });
    const evicted: V1Pod = {
      ...worker,
      metadata: { ...worker.metadata, deletionTimestamp: at(-1) as unknown as Date },
      status: {
        phase: "Running",
        conditions: [
          {
            type: "DisruptionTarget",
            status: "True",
            reason: "EvictionByEvictionAPI",
            message: "Eviction API: evicting",
          },
        ],
      },
    };
    for (const [pods, reason] of [
      [[prepared, head, podgc], "PodFailed"],
      [[prepared, head, evicted], "PodDeleted"],
      [[prepared, head], "PodLost"],
    ] as const) {
      const p = planAt(training(), [...pods]);
      expect(p.status, reason).toMatchObject({ phase: "Restarting", attempt: 1, restarts: 0, disruptions: 1 });
      expect(p.status.lastRestart, reason).toMatchObject({ reason, counted: false, pod: "job-a0-worker-1" });
      expect(p.events.find((e) => e.reason === "Restarting")?.type, reason).toBe("Normal");
    }
  });

  it("fails with MaxDisruptionsExceeded once disruptions are spent", () => {
    const j = training({ failurePolicy: { maxDisruptions: 0 } });
    const p = planAt(j, [prepared, head]);
    expect(cond(p, "Failed")).toMatchObject({ reason: "MaxDisruptionsExceeded" });
    expect(cond(p, "Failed")?.message).toContain("pod job-a0-worker-1 disappeared");
  });

  it("judges the first failure of a gang, not the peers that failed because of it", () => {
    const first = pod("job-a0-worker-1", "worker", "Failed", 0, exited(137, "OOMKilled", at(-30)));
    const peer = pod("job-a0-head", "head", "Failed", 0, exited(1, "Error", at(-10)));
    const p = planAt(training(), [prepared, peer, first]);
    expect(p.status.lastRestart).toMatchObject({ pod: "job-a0-worker-1", exitCode: 137 });
  });

  it("creates a pod the status never counted: not made yet (say, the operator died while creating the gang)", () => {
    const j = twoNodeJob();
    const creating = planWorld(j, [prepared]); // plans head and worker; the cache shows neither yet
    expect(podsApplied(creating)).toEqual(["job-a0-head", "job-a0-worker-1"]);
    const p = planWorld(written(j, creating), [prepared, head]);
    expect(cond(p, "Failed")).toBeUndefined();
    expect(p.status.attempt).toBe(0);
    expect(podsApplied(p)).toEqual(["job-a0-worker-1"]);
  });

  it("starts a new attempt on resume, once the suspended attempt's pods are gone, without a backoff", () => {
    const suspendedCondition = {
      type: "Suspended",
      status: "True" as const,
      reason: "Suspended",
      message: "",
      lastTransitionTime: at(-3600),
    };
    const terminating = pod("job-a0-worker-1", "worker", "Failed", 0);
    terminating.metadata = { ...terminating.metadata, deletionTimestamp: at(-1) as unknown as Date };
    const j = twoNodeJob({
      phase: "Suspended",
      attempt: 0,
      stage: "Training",
      restarts: 1,
      lastRestart: { attempt: 0, reason: "PodFailed", message: "", counted: true, time: at(-3700) },
      conditions: [suspendedCondition, DATASET_READY],
    });
    const p = planWorld(j, [prepared, head, terminating]);
    expect(cond(p, "Failed")).toBeUndefined();
    expect(p.status).toMatchObject({ attempt: 1, phase: "Restarting", restarts: 1 });
    expect(podsApplied(p)).toEqual([]);
    expect(p.deletePods.sort()).toEqual(["job-a0-head", "job-a0-prepare"]); // the old attempt goes, finished or not
    const resumed = planWorld(written(j, p), []);
    expect(podsApplied(resumed)).toEqual(["job-a1-head", "job-a1-worker-1"]);
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

  it.each([
    ["a short message", "bigcodebench is missing\n", ": bigcodebench is missing"],
    [
      "a log's tail, on one line",
      "Traceback:\n  File x\n\nKeyError: 'ray_init'\n",
      ": Traceback: | File x | KeyError: 'ray_init'",
    ],
    [
      "only the end of a long one",
      `${"x".repeat(1000)}\nValueError: boom`,
      `: …${`${"x".repeat(1000)} | ValueError: boom`.slice(-TERMINATION_QUOTE_CHARS)}`,
    ],
    ["nothing for a blank one", " \n", ""],
  ])("quotes the end of the container's termination message: %s", (_, message, quoted) => {
    const failed: V1Pod = {
      ...worker,
      status: {
        phase: "Failed",
        containerStatuses: [
          {
            name: "trainer",
            image: "",
            imageID: "",
            ready: false,
            restartCount: 0,
            state: { terminated: { exitCode: 1, reason: "Error", message } },
          },
        ],
      },
    };
    expect(failureDetail(failed, "trainer")).toBe(
      `pod job-a0-worker-1 container trainer exited with code 1 (Error)${quoted}`,
    );
  });
});

describe("time limits", () => {
  it("fails the job past activeDeadlineSeconds, counted from the first bind, and wakes up on time before", () => {
    const j = training({ activeDeadlineSeconds: 3600 });
    expect(j.status?.startTime).toBe(at(-60)); // the pods' PodScheduled time
    const before = planAt(j, [prepared, head, worker]);
    expect(before.requeueAfterMs).toBe((3600 - 60) * 1000 + 1000);
    const p = planAt(j, [prepared, head, worker], at(3540));
    expect(cond(p, "Failed")).toMatchObject({ reason: "DeadlineExceeded" });
    expect(p.deletePods.sort()).toEqual(["job-a0-head", "job-a0-worker-1"]);
  });

  it("restarts an attempt whose pods are not all running in time; charged to no limit while one waits for capacity", () => {
    const j = training();
    const pulling = pod("job-a0-worker-1", "worker", "Pending", 0, {
      containerStatuses: [
        {
          name: "trainer",
          image: "t",
          imageID: "",
          ready: false,
          restartCount: 0,
          state: { waiting: { reason: "ImagePullBackOff", message: "Back-off pulling image" } },
        },
      ],
    });
    const early = planAt(j, [prepared, head, pulling]);
    expect(early.requeueAfterMs).toBe((1800 - 60) * 1000 + 1000);
    const late = planAt(j, [prepared, head, pulling], at(1740));
    expect(late.status).toMatchObject({ phase: "Restarting", restarts: 1 });
    expect(late.status.lastRestart?.reason).toBe("StartupTimeout");
    expect(late.status.lastRestart?.message).toContain("job-a0-worker-1 (container trainer ImagePullBackOff");

    const unplaced = pod("job-a0-worker-1", "worker", "Pending", 0, {
      conditions: [
        { type: "PodScheduled", status: "False", reason: "Unschedulable", message: "0/8 nodes are available" },
      ],
    });
    unplaced.spec = { containers: [] };
    const starved = planAt(j, [prepared, head, unplaced], at(1740));
    expect(starved.status).toMatchObject({ phase: "Restarting", restarts: 0, disruptions: 0 });
  });

  it("starts no startup clock while no pod of the stage is bound", () => {
    const queued = ["job-a0-head", "job-a0-worker-1"].map((name, i) => {
      const p = pod(name, i === 0 ? "head" : "worker", "Pending", 0, {
        conditions: [{ type: "PodScheduled", status: "False", reason: "SchedulingGated", message: "gated" }],
      });
      p.spec = { containers: [] };
      return p;
    });
    const p = planAt(training(), [prepared, ...queued], at(86_400));
    expect(p.status.phase).toBe("Training");
    expect(p.requeueAfterMs).toBeUndefined();
    expect(cond(p, "WaitingForCapacity")).toBeUndefined();
  });

  it("deletes a finished job once its TTL ran out, and wakes up on time before", () => {
    const j = twoNodeJob(undefined, { ttlSecondsAfterFinished: 600 });
    const done = written(j, planWorld(j, [prepared, pod("job-a0-head", "head", "Succeeded"), worker]));
    expect(done.status?.phase).toBe("Succeeded");
    const soon = planAt(done, [prepared], at(300));
    expect(soon).toMatchObject({ deleteJob: false, requeueAfterMs: 301_000 });
    expect(planAt(done, [prepared], at(600)).deleteJob).toBe(true);
  });
});

describe("capacity", () => {
  it("says the job waits for capacity, with the scheduler's message and the autoscaler's latest word", () => {
    const unplaced = pod("job-a0-worker-1", "worker", "Pending", 0, {
      conditions: [
        {
          type: "PodScheduled",
          status: "False",
          reason: "Unschedulable",
          message: "0/8 nodes are available: 8 Insufficient nvidia.com/gpu.",
        },
      ],
    });
    unplaced.spec = { containers: [] };
    const events = [
      {
        pod: "job-a0-worker-1",
        reason: "NotTriggerScaleUp",
        message: "pod didn't trigger scale-up: 1 max node group size reached",
        component: "cluster-autoscaler",
        time: at(-30),
      },
      {
        pod: "job-a0-worker-1",
        reason: "TriggeredScaleUp",
        message: "pod triggered scale-up: [{gpu 2->3 (max: 8)}]",
        component: "cluster-autoscaler",
        time: at(-10),
      },
      {
        pod: "job-a0-worker-1",
        reason: "FailedScheduling",
        message: "0/8 nodes",
        component: "default-scheduler",
        time: at(-5),
      },
    ];
    const p = planWorld(training(), [prepared, head, unplaced], { podEvents: events });
    expect(cond(p, "WaitingForCapacity")).toMatchObject({ status: "True", reason: "ScaleUpTriggered" });
    expect(cond(p, "WaitingForCapacity")?.message).toBe(
      "pod job-a0-worker-1: 0/8 nodes are available: 8 Insufficient nvidia.com/gpu.; cluster-autoscaler on pod job-a0-worker-1: pod triggered scale-up: [{gpu 2->3 (max: 8)}]",
    );
    expect(p.status.message).toBe(cond(p, "WaitingForCapacity")?.message);
    const placed = planWorld(written(training(), p), [prepared, head, worker]);
    expect(cond(placed, "WaitingForCapacity")).toMatchObject({ status: "False", reason: "Scheduled" });
  });
});

describe("references and refusals", () => {
  it("requests no pod while spec.storage.existingClaim does not exist, and names it", () => {
    const j = twoNodeJob(undefined, { storage: { existingClaim: "shared" } });
    const p = planWorld(j, [], { claimExists: false });
    expect(podsApplied(p)).toEqual([]);
    expect(cond(p, "StorageReady")).toMatchObject({ status: "False", reason: "ClaimNotFound" });
    expect(cond(p, "Stalled")).toMatchObject({ status: "True", reason: "ClaimNotFound" });
    expect(p.events).toContainEqual(
      expect.objectContaining({
        type: "Warning",
        reason: "ClaimNotFound",
        message: "spec.storage.existingClaim: PersistentVolumeClaim shared not found",
      }),
    );
    expect(p.apply.map((a) => a.kind)).not.toContain("PersistentVolumeClaim");
    const found = planWorld(written(j, p), [], { claimExists: true });
    expect(podsApplied(found)).toEqual(["job-a0-prepare"]);
    expect(cond(found, "StorageReady")).toMatchObject({ status: "True" });
  });

  it("turns a refused child into a condition, an Event and a backoff, and clears it once a child goes through", () => {
    const j = twoNodeJob();
    const obs = world(j, []);
    const rejection = {
      kind: "Pod",
      name: "job-a0-prepare",
      code: 403,
      message: 'pods "job-a0-prepare" is forbidden: no PriorityClass with name gpu-high was found',
      fields: [],
    };
    const refused = planWorld(j, [], { now: NOW }, { rejection });
    expect(cond(refused, "ChildrenCreated")).toMatchObject({ status: "False", reason: "ChildForbidden" });
    expect(cond(refused, "ChildrenCreated")?.message).toBe(
      `Pod job-a0-prepare was refused by the apiserver (403): ${rejection.message}; it comes from spec.scheduling.priorityClassName`,
    );
    expect(cond(refused, "Stalled")).toMatchObject({ status: "True", reason: "ChildRejected" });
    expect(refused.status.message).toContain("no PriorityClass");
    expect(refused.requeueAfterMs).toBe(1000);
    expect(refused.events).toContainEqual(expect.objectContaining({ type: "Warning", reason: "ChildForbidden" }));
    const again = planWorld(written(j, refused), [], { now: at(8) }, { rejection });
    expect(again.requeueAfterMs).toBe(8000);
    expect(again.events).toEqual([]);
    const later = planWorld(written(j, refused), [], { now: at(600) }, { rejection });
    expect(later.requeueAfterMs).toBe(60_000);
    const fixed = planWorld(written(j, refused), [], { now: at(9) });
    expect(cond(fixed, "ChildrenCreated")).toMatchObject({ status: "True", reason: "Created" });
    expect(cond(fixed, "Stalled")?.status).toBe("False");
    expect(obs.job).toBe(j);
  });
});
