// The operator under the real Kueue (0.17, plain pod groups): jobs competing for a ClusterQueue's GPU quota run one
// after the other as whole gangs, a job says why it waits in Kueue's own words, a higher-priority job preempts a
// running one that comes back as a new attempt (not counted) and finishes, and nothing Kueue holds stays behind when
// an attempt, a job or a namespace ends (its finalizer is released: the pod groups are one-shot).
import { randomBytes } from "node:crypto";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { up } from "../cluster/cluster.ts";
import { KUEUE_NAMESPACE_LABEL, kueueQueue } from "../cluster/kueue.ts";
import { core, custom, testNamespace } from "./kube.ts";
import {
  condition,
  createJob,
  eventually,
  finishPod,
  getJob,
  jobApi,
  startOperator,
  waitForPhase,
  waitRunning,
} from "./operator.ts";
import {
  apply,
  get,
  isHolding,
  list,
  type Obj,
  podSampler,
  pods,
  remove,
  schedulingGates,
  trainingPodsOf,
} from "./scheduling.ts";

const KUEUE = "kueue.x-k8s.io/v1beta2";
const suffix = randomBytes(3).toString("hex");
// GPU quota for two 8-GPU nodes: one two-node job at a time.
const { flavor, clusterQueue, localQueue } = kueueQueue(`gpus-${suffix}`, { cpu: "64", memory: "256Gi", gpus: "16" });
const priority = {
  apiVersion: "scheduling.k8s.io/v1",
  kind: "PriorityClass",
  metadata: { name: `urgent-${suffix}` },
  value: 1000,
};
const TWO_NODES = { rl: { batchSize: 16, miniBatchSize: 8 }, resources: { nodes: 2 } };
const queued = (spec: Record<string, unknown> = {}) => ({
  spec: { ...TWO_NODES, failurePolicy: { maxRestarts: 0, backoffSeconds: 30 }, ...spec },
});

let ns: string;
const samplers: { stop: () => void }[] = [];

beforeAll(async () => {
  await up({ kueue: true });
  ns = await testNamespace("kq", { [KUEUE_NAMESPACE_LABEL]: "true" });
  for (const obj of [flavor, clusterQueue, priority]) await apply(obj);
  await apply(localQueue(ns, "team"));
}, 900_000);

afterEach(() => {
  for (const s of samplers.splice(0)) s.stop();
});

afterAll(async () => {
  for (const obj of [priority, clusterQueue, flavor]) await remove(obj).catch(() => undefined);
});

/** A job's training pods of one attempt, all bound and running. */
async function gangRunning(job: string, attempt: number) {
  const head = await waitRunning(ns, `${job}-a${attempt}-head`, 90_000);
  const worker = await waitRunning(ns, `${job}-a${attempt}-worker-1`, 90_000);
  return [head, worker];
}

async function conditionIs(job: string, type: string, status: string, timeoutMs = 60_000) {
  return eventually(
    `${job} ${type}=${status}`,
    async () => {
      const j = await getJob(ns, job);
      return condition(j, type)?.status === status ? j : undefined;
    },
    timeoutMs,
  );
}

/**
 * Records every moment two jobs both hold GPUs of the quota at once, which with room for one gang can only be a part
 * of each: the deadlock gangs exist to prevent.
 */
async function quotaSampler(jobs: string[]) {
  const sampler = await podSampler(ns, (all) => {
    const holding = jobs.map((j) =>
      trainingPodsOf(all, j)
        .filter(isHolding)
        .map((p) => p.metadata?.name),
    );
    return holding.filter((h) => h.length > 0).length > 1 ? `several jobs hold GPUs: ${holding.flat()}` : undefined;
  });
  samplers.push(sampler);
  return sampler;
}

/** No pod of the namespace keeps Kueue's finalizer once it is finished or deleted. */
async function kueueLetGo(job: string) {
  await eventually(
    `${job}: Kueue's finalizer released and deleted pods gone`,
    async () => {
      const mine = (await pods(ns)).filter((p) => p.metadata?.labels?.["collabllm.io/job-name"] === job);
      return mine.every(
        (p) => !p.metadata?.deletionTimestamp && !(p.metadata?.finalizers ?? []).includes("kueue.x-k8s.io/managed"),
      );
    },
    60_000,
  );
}

describe("jobs competing for a ClusterQueue's GPU quota", () => {
  it("run one after the other as whole gangs, the waiting one saying why in Kueue's words", async () => {
    startOperator(ns);
    const sampler = await quotaSampler(["first", "second"]);
    await createJob(ns, "first", queued({ scheduling: { queueName: "team" } }));
    // The second asks for both gangs at once: the native PodGroup (placement) and Kueue's pod group (quota).
    await createJob(ns, "second", queued({ scheduling: { queueName: "team", gang: "Workload" } }));
    await finishPod(ns, "first-a0-prepare", "Succeeded");
    await finishPod(ns, "second-a0-prepare", "Succeeded");

    // One gang is admitted and runs; which one is Kueue's call.
    const [winner, loser] = await eventually(
      "one gang running",
      async () => {
        for (const [a, b] of [
          ["first", "second"],
          ["second", "first"],
        ] as const) {
          const running = trainingPodsOf(await pods(ns), a).filter((p) => p.status?.phase === "Running");
          if (running.length === 2) return [a, b] as const;
        }
        return undefined;
      },
      90_000,
    );
    const waiting = await conditionIs(loser, "Queued", "True");
    expect(condition(waiting, "Queued")?.reason).toBe("Pending");
    expect(condition(waiting, "Queued")?.message).toMatch(/insufficient unused quota for nvidia\.com\/gpu/);
    expect(condition(waiting, "Admitted")?.status).toBe("False");
    expect(condition(waiting, "WaitingForCapacity")).toBeUndefined();
    expect(waiting.status?.message).toBe(condition(waiting, "Queued")?.message);
    const group = waiting.status?.gang?.podGroup as string;
    expect(waiting.status?.gang).toEqual({
      mechanism: loser === "second" ? "Workload" : "Kueue",
      podGroup: group,
      minCount: 2,
    });
    // Kueue's Workload is the pod group, named as status.gang says; the loser's pods wait gated, on no node.
    expect(await get(`/apis/${KUEUE}/namespaces/${ns}/workloads/${group}`)).toBeDefined();
    for (const p of trainingPodsOf(await pods(ns), loser)) {
      expect(schedulingGates(p)).toContain("kueue.x-k8s.io/admission");
      expect(p.spec?.nodeName).toBeUndefined();
      expect(p.metadata?.labels?.["kueue.x-k8s.io/pod-group-name"]).toBe(group);
      expect(p.metadata?.annotations?.["kueue.x-k8s.io/pod-group-total-count"]).toBe("2");
    }
    const second = await get<Obj>(
      `/apis/scheduling.k8s.io/v1beta1/namespaces/${ns}/podgroups/${
        (await getJob(ns, "second")).status?.gang?.podGroup
      }`,
    );
    expect(second?.spec?.schedulingPolicy).toEqual({ gang: { minCount: 2 } });
    const admitted = await conditionIs(winner, "Admitted", "True");
    expect(condition(admitted, "Queued")).toMatchObject({ status: "False", reason: "Admitted" });

    await finishPod(ns, `${winner}-a0-head`, "Succeeded");
    await waitForPhase(ns, winner, "Succeeded");
    await gangRunning(loser, 0);
    await conditionIs(loser, "Admitted", "True");
    await finishPod(ns, `${loser}-a0-head`, "Succeeded");
    await waitForPhase(ns, loser, "Succeeded");
    // The idle workers were deleted and are gone: Kueue let go of them (the group is over), the heads stay for logs.
    for (const job of [winner, loser]) await kueueLetGo(job);
    expect((await pods(ns)).map((p) => p.metadata?.name).sort()).toEqual(
      ["first-a0-head", "first-a0-prepare", "second-a0-head", "second-a0-prepare"].sort(),
    );
    expect(sampler.violations).toEqual([]);
    for (const job of [winner, loser]) {
      const done = await getJob(ns, job);
      expect(done.status).toMatchObject({ restarts: 0, disruptions: 0 });
    }
  }, 300_000);
});

describe("preemption through Kueue", () => {
  it("preempts a running job for a higher-priority one; the preempted job comes back as a new attempt, not counted, and finishes", async () => {
    startOperator(ns);
    const sampler = await quotaSampler(["low", "urgent"]);
    await createJob(ns, "low", queued({ scheduling: { queueName: "team" } }));
    await finishPod(ns, "low-a0-prepare", "Succeeded");
    await gangRunning("low", 0);

    await createJob(
      ns,
      "urgent",
      queued({ scheduling: { queueName: "team", priorityClassName: priority.metadata.name } }),
    );
    await finishPod(ns, "urgent-a0-prepare", "Succeeded");
    const restarted = await eventually(
      "low restarted as attempt 1",
      async () => {
        const j = await getJob(ns, "low");
        return (j.status?.attempt ?? 0) >= 1 ? j : undefined;
      },
      90_000,
    );
    expect(restarted.status).toMatchObject({ restarts: 0, disruptions: 1 });
    expect(restarted.status?.lastRestart).toMatchObject({ attempt: 0, counted: false, backoffSeconds: 0 });
    expect(restarted.status?.lastRestart?.message).toContain("WorkloadEvictedDueToPreempted");
    await gangRunning("urgent", 0);
    // The preempted job's next attempt waits in the queue, a new pod group.
    const waiting = await conditionIs("low", "Queued", "True");
    expect(waiting.status?.gang?.podGroup).toMatch(/^low-a1-/);
    const restartEvent = (await core.listNamespacedEvent({ namespace: ns })).items.find(
      (e) => e.involvedObject.name === "low" && e.reason === "Restarting",
    );
    expect(restartEvent?.type).toBe("Normal");

    await finishPod(ns, "urgent-a0-head", "Succeeded");
    await waitForPhase(ns, "urgent", "Succeeded");
    await gangRunning("low", 1);
    await finishPod(ns, "low-a1-head", "Succeeded");
    const done = await waitForPhase(ns, "low", "Succeeded");
    expect(done.status).toMatchObject({ attempt: 1, restarts: 0, disruptions: 1 });
    for (const job of ["low", "urgent"]) await kueueLetGo(job);
    expect(sampler.violations).toEqual([]);
  }, 300_000);
});

describe("ending jobs under Kueue", () => {
  it("a job deleted while it runs, and one deleted while it waits in the queue, leave no pod behind", async () => {
    startOperator(ns);
    await createJob(ns, "running", queued({ scheduling: { queueName: "team" } }));
    await createJob(ns, "waiting", queued({ scheduling: { queueName: "team" } }));
    await finishPod(ns, "running-a0-prepare", "Succeeded");
    await gangRunning("running", 0);
    await finishPod(ns, "waiting-a0-prepare", "Succeeded");
    await conditionIs("waiting", "Queued", "True");
    const deleted = Date.now();
    for (const name of ["running", "waiting"])
      await custom.deleteNamespacedCustomObject({ ...jobApi, namespace: ns, name, propagationPolicy: "Background" });
    const ofEither = async () =>
      (await pods(ns)).filter((p) =>
        ["running", "waiting"].includes(p.metadata?.labels?.["collabllm.io/job-name"] ?? ""),
      );
    await eventually("every pod of both jobs gone", async () => (await ofEither()).length === 0, 60_000);
    console.log(`kueue: the pods of two deleted jobs gone ${Date.now() - deleted} ms after the deletes`);
    // Kueue's Workloads go with the pods that own them.
    await eventually("their Kueue Workloads gone", async () => {
      const left = await list<Obj>(`/apis/${KUEUE}/namespaces/${ns}/workloads`);
      return left.filter((w) => /^(pod-)?(running|waiting)-/.test(w.metadata?.name ?? "")).length === 0;
    });
  }, 240_000);
});
