// The lifecycle on the real control plane: gang restarts as new attempts, disruptions that do not count, the operator
// killed in the middle of a restart, time limits that fire on time without a resync, and children the apiserver
// refuses, reported within seconds and recovered from by themselves.
import {
  AdmissionregistrationV1Api,
  PatchStrategy,
  SchedulingV1Api,
  setHeaderOptions,
  type V1Pod,
} from "@kubernetes/client-node";
import { afterEach, describe, expect, it } from "vitest";
import { STUCK_IMAGE } from "../cluster/cluster.ts";
import { core, kc, testNamespace } from "./kube.ts";
import {
  condition,
  createJob,
  eventually,
  finishPod,
  getJob,
  type Job,
  listPods,
  startOperator,
  waitForPhase,
  waitRunning,
} from "./operator.ts";
import { podSampler } from "./scheduling.ts";

const TWO_NODES = { rl: { batchSize: 16, miniBatchSize: 8 }, resources: { nodes: 2 } };
/** No periodic resync: whatever fires on time here fires because the plan asked to be woken then. */
const NO_RESYNC = { resyncSeconds: 3600 };

/**
 * Watches the namespace's pods and checks, after every event, that the pods present (terminating ones included)
 * belong to one attempt and that no attempt ever has more pods of a role than the job wants.
 */
async function gangSampler(namespace: string) {
  const attemptsSeen = new Set<string>();
  const sampler = await podSampler(namespace, (pods) => {
    const attempts = new Set(pods.map((p) => p.metadata?.labels?.["collabllm.io/attempt"]));
    for (const a of attempts) attemptsSeen.add(a ?? "?");
    return attempts.size > 1
      ? `pods of attempts ${[...attempts].join(",")} at once: ${pods.map((p) => p.metadata?.name)}`
      : undefined;
  });
  return { violations: sampler.violations, attemptsSeen, stop: sampler.stop };
}
const samplers: { stop: () => void }[] = [];
afterEach(() => {
  for (const s of samplers.splice(0)) s.stop();
});

async function runningGang(ns: string, attempt: number) {
  await waitRunning(ns, `job-a${attempt}-head`);
  await waitRunning(ns, `job-a${attempt}-worker-1`);
  await eventually(`attempt ${attempt} running in status`, async () => {
    const status = (await getJob(ns, "job")).status;
    const roles = status?.roles ?? [];
    return (
      status?.attempt === attempt && roles.filter((r) => r.name !== "prepare").every((r) => r.running === r.desired)
    );
  });
}

async function attemptOf(ns: string, attempt: number, timeoutMs = 60_000): Promise<Job> {
  return eventually(
    `attempt ${attempt}`,
    async () => {
      const job = await getJob(ns, "job");
      return (job.status?.attempt ?? 0) >= attempt ? job : undefined;
    },
    timeoutMs,
  );
}

async function jobEvents(ns: string) {
  return (await core.listNamespacedEvent({ namespace: ns })).items.filter(
    (e) => e.involvedObject.kind === "CollabTrainingJob",
  );
}

describe("gang restarts", () => {
  it("replaces the whole gang with attempt 1 only once attempt 0's pods are gone, and fails when maxRestarts is spent", async () => {
    const ns = await testNamespace("restart");
    startOperator(ns);
    const sampler = await gangSampler(ns);
    samplers.push(sampler);
    await createJob(ns, "job", { spec: { ...TWO_NODES, failurePolicy: { maxRestarts: 1, backoffSeconds: 2 } } });
    await finishPod(ns, "job-a0-prepare", "Succeeded");
    await runningGang(ns, 0);
    const headBefore = await core.readNamespacedPod({ namespace: ns, name: "job-a0-head" });

    await finishPod(ns, "job-a0-worker-1", "Failed", 1);
    const restarted = await attemptOf(ns, 1);
    expect(restarted.status).toMatchObject({ restarts: 1, disruptions: 0 });
    expect(restarted.status?.lastRestart).toMatchObject({
      attempt: 0,
      reason: "PodFailed",
      counted: true,
      pod: "job-a0-worker-1",
      container: "trainer",
      exitCode: 1,
    });
    await runningGang(ns, 1);
    // The restarted head runs the same script on the same volume: veRL resumes from the same checkpoint directory.
    const headAfter = await core.readNamespacedPod({ namespace: ns, name: "job-a1-head" });
    const trainer = (p: V1Pod) => p.spec?.containers.find((c) => c.name === "trainer");
    expect(trainer(headAfter)?.command).toEqual(trainer(headBefore)?.command);
    const claim = (p: V1Pod) => p.spec?.volumes?.find((v) => v.persistentVolumeClaim)?.persistentVolumeClaim?.claimName;
    expect(claim(headAfter)).toBe(claim(headBefore));
    const script = (await core.readNamespacedConfigMap({ namespace: ns, name: "job-config" })).data?.["train-head.sh"];
    expect(script).toContain("trainer.resume_mode=auto");
    expect(script).toContain("trainer.default_local_dir=/collab/checkpoints/rl");
    expect(trainer(headAfter)?.env).toContainEqual({ name: "COLLAB_ATTEMPT", value: "1" });
    const service = await core.readNamespacedService({ namespace: ns, name: "job-ray" });
    expect(service.spec?.selector?.["collabllm.io/attempt"]).toBe("1");
    await eventually("the Restarting Event", async () =>
      (await jobEvents(ns)).some((e) => e.type === "Warning" && e.reason === "Restarting"),
    );

    await finishPod(ns, "job-a1-head", "Failed", 2);
    const failed = await waitForPhase(ns, "job", "Failed");
    expect(condition(failed, "Failed")?.reason).toBe("MaxRestartsExceeded");
    expect(condition(failed, "Failed")?.message).toContain("failurePolicy.maxRestarts (1) is spent");
    expect(failed.status?.restarts).toBe(1);
    expect(sampler.violations).toEqual([]);
    expect([...sampler.attemptsSeen].sort()).toEqual(["0", "1"]);
  });

  it("restarts after an eviction through the Eviction API without counting it, and runs again", async () => {
    const ns = await testNamespace("evict");
    startOperator(ns);
    const sampler = await gangSampler(ns);
    samplers.push(sampler);
    await createJob(ns, "job", { spec: { ...TWO_NODES, failurePolicy: { maxRestarts: 0, backoffSeconds: 1 } } });
    await finishPod(ns, "job-a0-prepare", "Succeeded");
    await runningGang(ns, 0);
    await core.createNamespacedPodEviction({
      namespace: ns,
      name: "job-a0-worker-1",
      body: { apiVersion: "policy/v1", kind: "Eviction", metadata: { name: "job-a0-worker-1", namespace: ns } },
    });
    const restarted = await attemptOf(ns, 1);
    expect(restarted.status).toMatchObject({ restarts: 0, disruptions: 1 });
    expect(restarted.status?.lastRestart?.counted).toBe(false);
    await runningGang(ns, 1);
    await finishPod(ns, "job-a1-head", "Succeeded");
    await waitForPhase(ns, "job", "Succeeded");
    expect(sampler.violations).toEqual([]);
  });

  it("never runs two attempts at once when the operator is SIGKILLed in the middle of restarts", async () => {
    const ns = await testNamespace("killed");
    const sampler = await gangSampler(ns);
    samplers.push(sampler);
    let operator = startOperator(ns);
    await createJob(ns, "job", { spec: { ...TWO_NODES, failurePolicy: { maxRestarts: 10, backoffSeconds: 1 } } });
    await finishPod(ns, "job-a0-prepare", "Succeeded");
    // Kill points spread over the restart: before the decision is written, while the old pods go, during the
    // backoff, while the new attempt's pods are created.
    const delays = [0, 150, 600, 1300, 2200];
    for (const [round, delayMs] of delays.entries()) {
      await runningGang(ns, round);
      await finishPod(ns, `job-a${round}-worker-1`, "Failed", 1);
      await eventually(`job-a${round}-worker-1 Failed`, async () => {
        const pod = await core
          .readNamespacedPod({ namespace: ns, name: `job-a${round}-worker-1` })
          .catch(() => undefined);
        return !pod || pod.status?.phase === "Failed";
      });
      await new Promise((r) => setTimeout(r, delayMs));
      await operator.stop("SIGKILL");
      operator = startOperator(ns);
    }
    await runningGang(ns, delays.length);
    const pods = await listPods(ns);
    expect(pods.map((p) => p.metadata?.name).sort()).toEqual([
      `job-a${delays.length}-head`,
      `job-a${delays.length}-worker-1`,
    ]);
    const job = await getJob(ns, "job");
    expect(job.status).toMatchObject({ attempt: delays.length, restarts: delays.length });
    expect(sampler.violations).toEqual([]);
  }, 240_000);
});

describe("a restart whose status write fails", () => {
  it("still counts it once the write goes through: no pod is deleted before the status that decided it", async () => {
    const ns = await testNamespace("unwritten");
    // Refuses the restart's status write in this namespace only, as an apiserver that is briefly unavailable would.
    const policy = `${ns}-no-restart-status`;
    const admission = kc.makeApiClient(AdmissionregistrationV1Api);
    await admission.createValidatingAdmissionPolicy({
      body: {
        metadata: { name: policy },
        spec: {
          failurePolicy: "Fail",
          matchConstraints: {
            resourceRules: [
              {
                apiGroups: ["collabllm.io"],
                apiVersions: ["*"],
                operations: ["UPDATE"],
                resources: ["collabtrainingjobs/status"],
              },
            ],
          },
          validations: [{ expression: "!has(object.status.phase) || object.status.phase != 'Restarting'" }],
        },
      },
    });
    const binding = await admission.createValidatingAdmissionPolicyBinding({
      body: {
        metadata: { name: policy },
        spec: {
          policyName: policy,
          validationActions: ["Deny"],
          matchResources: { namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": ns } } },
        },
      },
    });
    try {
      startOperator(ns);
      const sampler = await gangSampler(ns);
      samplers.push(sampler);
      await createJob(ns, "job", { spec: { ...TWO_NODES, failurePolicy: { maxRestarts: 3, backoffSeconds: 1 } } });
      await finishPod(ns, "job-a0-prepare", "Succeeded");
      await runningGang(ns, 0);
      await finishPod(ns, "job-a0-worker-1", "Failed", 1);
      // The operator decides the restart and retries its write, refused, for a few seconds.
      await new Promise((r) => setTimeout(r, 4000));
      expect((await getJob(ns, "job")).status?.attempt).toBe(0);
      await admission.deleteValidatingAdmissionPolicyBinding({ name: binding.metadata?.name ?? policy });
      const restarted = await attemptOf(ns, 1);
      expect(restarted.status).toMatchObject({ restarts: 1, disruptions: 0 });
      expect(restarted.status?.lastRestart).toMatchObject({ reason: "PodFailed", pod: "job-a0-worker-1", exitCode: 1 });
      await runningGang(ns, 1);
      expect(sampler.violations).toEqual([]);
    } finally {
      await admission.deleteValidatingAdmissionPolicyBinding({ name: policy }).catch(() => undefined);
      await admission.deleteValidatingAdmissionPolicy({ name: policy }).catch(() => undefined);
    }
  }, 120_000);
});

describe("time limits fire on time, without a resync", () => {
  it("fails the job with DeadlineExceeded once activeDeadlineSeconds ran out", async () => {
    const ns = await testNamespace("deadline");
    startOperator(ns, NO_RESYNC);
    await createJob(ns, "job", { spec: { activeDeadlineSeconds: 6 } });
    await waitRunning(ns, "job-a0-prepare");
    const failed = await waitForPhase(ns, "job", "Failed", 30_000);
    expect(condition(failed, "Failed")?.reason).toBe("DeadlineExceeded");
    const late =
      (Date.parse(condition(failed, "Failed")?.lastTransitionTime ?? "") - Date.parse(failed.status?.startTime ?? "")) /
        1000 -
      6;
    console.log(`deadline: failed ${late} s after it ran out`);
    expect(late).toBeGreaterThanOrEqual(0);
    expect(late).toBeLessThan(5);
    await eventually("the prepare pod deleted", async () => (await listPods(ns)).length === 0);
  });

  it("deletes a finished job once ttlSecondsAfterFinished ran out, keeping its retained volume", async () => {
    const ns = await testNamespace("ttl");
    startOperator(ns, NO_RESYNC);
    await createJob(ns, "job", { spec: { ttlSecondsAfterFinished: 4 } });
    await finishPod(ns, "job-a0-prepare", "Succeeded");
    await finishPod(ns, "job-a0-head", "Succeeded");
    const done = await waitForPhase(ns, "job", "Succeeded");
    const completed = Date.parse(done.status?.completionTime ?? "");
    await eventually(
      "the job deleted",
      async () => (await getJob(ns, "job").catch(() => undefined)) === undefined,
      30_000,
    );
    const late = (Date.now() - completed) / 1000 - 4;
    console.log(`ttl: deleted within ${late.toFixed(1)} s after it ran out`);
    expect(late).toBeLessThan(5);
    const claim = await core.readNamespacedPersistentVolumeClaim({ namespace: ns, name: "job-data" });
    expect(claim.metadata?.annotations?.["collabllm.io/retained"]).toBeDefined();
  });

  it("ends an attempt whose pods do not start within startupTimeoutSeconds", async () => {
    const ns = await testNamespace("startup");
    startOperator(ns, NO_RESYNC);
    await createJob(ns, "job", {
      spec: {
        runtime: { image: STUCK_IMAGE },
        scheduling: { startupTimeoutSeconds: 5 },
        failurePolicy: { maxRestarts: 0 },
      },
    });
    const failed = await waitForPhase(ns, "job", "Failed", 40_000);
    const failure = condition(failed, "Failed");
    expect(failure?.reason).toBe("MaxRestartsExceeded");
    expect(failure?.message).toMatch(
      /job-a0-prepare \(container trainer ErrImagePull.*not running 5 s after pod job-a0-prepare was scheduled/,
    );
  });
});

describe("children the apiserver refuses", () => {
  it("says within 10 s that a PriorityClass is missing, naming the field, and runs once it exists", async () => {
    const ns = await testNamespace("prio");
    const className = `${ns}-gpu`;
    startOperator(ns);
    const created = Date.now();
    await createJob(ns, "job", { spec: { scheduling: { priorityClassName: className } } });
    try {
      const blocked = await eventually(
        "ChildrenCreated False",
        async () => {
          const job = await getJob(ns, "job");
          return condition(job, "ChildrenCreated")?.status === "False" ? job : undefined;
        },
        10_000,
      );
      console.log(`missing PriorityClass reported after ${Date.now() - created} ms`);
      const refused = condition(blocked, "ChildrenCreated");
      expect(refused?.reason).toBe("ChildForbidden");
      expect(refused?.message).toContain(`no PriorityClass with name ${className} was found`);
      expect(refused?.message).toContain("spec.scheduling.priorityClassName");
      expect(condition(blocked, "Stalled")).toMatchObject({ status: "True", reason: "ChildRejected" });
      await eventually(
        "the Warning Event",
        async () => (await jobEvents(ns)).some((e) => e.type === "Warning" && e.reason === "ChildForbidden"),
        10_000,
      );
      await kcScheduling().createPriorityClass({ body: { metadata: { name: className }, value: 1000 } });
      await waitRunning(ns, "job-a0-prepare");
      const running = await eventually("ChildrenCreated True", async () => {
        const job = await getJob(ns, "job");
        return condition(job, "ChildrenCreated")?.status === "True" ? job : undefined;
      });
      expect(condition(running, "Stalled")?.status).toBe("False");
    } finally {
      await kcScheduling()
        .deletePriorityClass({ name: className })
        .catch(() => undefined);
    }
  });

  it("names spec.resources when a ResourceQuota refuses the training pods", async () => {
    const ns = await testNamespace("quota");
    await core.createNamespacedResourceQuota({
      namespace: ns,
      body: { metadata: { name: "gpus" }, spec: { hard: { "requests.nvidia.com/gpu": "4" } } },
    });
    startOperator(ns);
    await createJob(ns, "job");
    await finishPod(ns, "job-a0-prepare", "Succeeded");
    const blocked = await eventually("ChildrenCreated False", async () => {
      const job = await getJob(ns, "job");
      return condition(job, "ChildrenCreated")?.status === "False" ? job : undefined;
    });
    expect(condition(blocked, "ChildrenCreated")?.message).toMatch(
      /Pod job-a0-head was refused .*exceeded quota.*spec\.resources/,
    );
    // Refused long enough for its retry to be half a minute away, the quota is raised: the change to the quota, which
    // the operator watches, lets the job go on at once, well before that retry.
    await new Promise((r) => setTimeout(r, 35_000));
    const raised = Date.now();
    await core.patchNamespacedResourceQuota(
      { namespace: ns, name: "gpus", body: { spec: { hard: { "requests.nvidia.com/gpu": "16" } } } },
      setHeaderOptions("Content-Type", PatchStrategy.MergePatch),
    );
    await waitRunning(ns, "job-a0-head", 15_000);
    console.log(`a raised quota let the training pods through after ${Date.now() - raised} ms`);
  }, 120_000);

  it("waits for a missing existingClaim like a missing Secret, then proceeds by itself", async () => {
    const ns = await testNamespace("claim");
    startOperator(ns);
    await createJob(ns, "job", { spec: { storage: { existingClaim: "shared" } } });
    const waiting = await eventually("StorageReady False", async () => {
      const job = await getJob(ns, "job");
      return condition(job, "StorageReady")?.status === "False" ? job : undefined;
    });
    expect(condition(waiting, "StorageReady")?.message).toBe(
      "spec.storage.existingClaim: PersistentVolumeClaim shared not found",
    );
    expect(await listPods(ns)).toEqual([]);
    await core.createNamespacedPersistentVolumeClaim({
      namespace: ns,
      body: {
        metadata: { name: "shared" },
        spec: { accessModes: ["ReadWriteOnce"], resources: { requests: { storage: "1Gi" } } },
      },
    });
    await waitRunning(ns, "job-a0-prepare");
  });
});

describe("waiting for capacity", () => {
  it("carries the scheduler's message and an autoscaler's Event about the waiting pod", async () => {
    const ns = await testNamespace("capacity");
    startOperator(ns);
    await createJob(ns, "job", { spec: { resources: { gpuProduct: "NVIDIA-B200" } } });
    await finishPod(ns, "job-a0-prepare", "Succeeded");
    await eventually("WaitingForCapacity", async () => {
      const job = await getJob(ns, "job");
      return condition(job, "WaitingForCapacity")?.status === "True" ? job : undefined;
    });
    const pod = await core.readNamespacedPod({ namespace: ns, name: "job-a0-head" });
    const now = new Date();
    await core.createNamespacedEvent({
      namespace: ns,
      body: {
        metadata: { generateName: "job-a0-head." },
        involvedObject: { kind: "Pod", namespace: ns, name: "job-a0-head", uid: pod.metadata?.uid, apiVersion: "v1" },
        reason: "TriggeredScaleUp",
        message: "pod triggered scale-up: [{gpu-b200 0->1 (max: 4)}]",
        type: "Normal",
        source: { component: "cluster-autoscaler" },
        firstTimestamp: now,
        lastTimestamp: now,
        count: 1,
      },
    });
    const scaling = await eventually("ScaleUpTriggered", async () => {
      const job = await getJob(ns, "job");
      return condition(job, "WaitingForCapacity")?.reason === "ScaleUpTriggered" ? job : undefined;
    });
    expect(condition(scaling, "WaitingForCapacity")?.message).toMatch(
      /^pod job-a0-head: 0\/\d+ nodes are available.*; cluster-autoscaler on pod job-a0-head: pod triggered scale-up/,
    );
    expect(scaling.status?.message).toBe(condition(scaling, "WaitingForCapacity")?.message);
  });
});

function kcScheduling() {
  return kc.makeApiClient(SchedulingV1Api);
}
