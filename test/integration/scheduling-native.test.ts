// The operator with Kubernetes 1.37's native gang scheduling (scheduling.k8s.io/v1beta1 PodGroup, Auto): a 4-node
// job on a fleet with 3 free H100 nodes binds no pod until a fourth is free (every pod event watched), says why it
// waits, then runs; a restart makes the next attempt's PodGroup and deletes the last one's.
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import { HOPPER_PRODUCT } from "../cluster/fleet.ts";
import { testNamespace } from "./kube.ts";
import { condition, createJob, eventually, finishPod, getJob, startOperator, waitForPhase } from "./operator.ts";
import {
  apply,
  freeFleetGpuNodes,
  get,
  gpuPod,
  isBound,
  isRunning,
  list,
  type Obj,
  podSampler,
  remove,
  trainingPodsOf,
} from "./scheduling.ts";

const FOUR_H100 = {
  rl: { batchSize: 32, miniBatchSize: 16 },
  resources: { nodes: 4, gpuProduct: HOPPER_PRODUCT },
  failurePolicy: { backoffSeconds: 1 },
};
const samplers: { stop: () => void }[] = [];
let ns: string;

beforeAll(async () => {
  ns = await testNamespace("native");
  // The test needs the four H100 nodes to itself; pods of earlier files may still be terminating.
  await eventually("all H100 nodes free", async () => (await freeFleetGpuNodes(HOPPER_PRODUCT)).length === 4, 90_000);
});

afterEach(() => {
  for (const s of samplers.splice(0)) s.stop();
});

const podGroups = () => list<Obj>(`/apis/scheduling.k8s.io/v1beta1/namespaces/${ns}/podgroups`);

describe("native gang scheduling", () => {
  it("binds no pod of a 4-node job while 3 H100 nodes are free, then all of them once a fourth is", async () => {
    startOperator(ns);
    // One H100 node taken by a pod outside the job: 3 stay free.
    await apply(gpuPod(ns, "blocker", { nodeSelector: { "nvidia.com/gpu.product": HOPPER_PRODUCT } }));
    await eventually("blocker running", async () =>
      isRunning((await get<Obj>(`/api/v1/namespaces/${ns}/pods/blocker`)) as Obj),
    );
    let blockerGone = false;
    const sampler = await podSampler(ns, (pods) => {
      const bound = trainingPodsOf(pods, "job").filter(isBound);
      return !blockerGone && bound.length > 0
        ? `bound while only 3 nodes were free: ${bound.map((p) => p.metadata?.name)}`
        : undefined;
    });
    samplers.push(sampler);
    await createJob(ns, "job", { spec: FOUR_H100 });
    await finishPod(ns, "job-a0-prepare", "Succeeded");

    // The scheduler tries the gang, finds room for 3 of 4, binds none; the job says so.
    const waiting = await eventually(
      "WaitingForCapacity",
      async () => {
        const j = await getJob(ns, "job");
        return condition(j, "WaitingForCapacity")?.status === "True" ? j : undefined;
      },
      60_000,
    );
    expect(waiting.status?.gang).toEqual({
      mechanism: "Workload",
      podGroup: expect.stringMatching(/^job-a0-/),
      minCount: 4,
    });
    console.log(`native gang: WaitingForCapacity says "${condition(waiting, "WaitingForCapacity")?.message}"`);
    expect(condition(waiting, "PodsScheduled")).toMatchObject({ status: "False", reason: "Unschedulable" });
    expect(condition(waiting, "WaitingForCapacity")?.message).toMatch(/minCount \(4\) cannot be satisfied/);
    const group = await get<Obj>(
      `/apis/scheduling.k8s.io/v1beta1/namespaces/${ns}/podgroups/${waiting.status?.gang?.podGroup}`,
    );
    expect(group?.spec).toMatchObject({ schedulingPolicy: { gang: { minCount: 4 } }, disruptionMode: { all: {} } });
    expect(group?.metadata?.ownerReferences?.[0]).toMatchObject({ kind: "CollabTrainingJob", name: "job" });
    await eventually(
      "the PodGroup marked unschedulable",
      async () => {
        const pg = await get<Obj>(
          `/apis/scheduling.k8s.io/v1beta1/namespaces/${ns}/podgroups/${group?.metadata?.name}`,
        );
        return (pg?.status?.conditions as any[] | undefined)?.some(
          (c) => c.type === "PodGroupInitiallyScheduled" && c.status === "False",
        );
      },
      60_000,
    );
    // A while longer, every pod event watched: still none bound.
    await new Promise((r) => setTimeout(r, 3000));
    expect(sampler.violations).toEqual([]);

    blockerGone = true;
    await remove({ apiVersion: "v1", kind: "Pod", metadata: { name: "blocker", namespace: ns } });
    await eventually(
      "all 4 running",
      async () => {
        const ranks = trainingPodsOf(sampler.pods(), "job");
        return ranks.length === 4 && ranks.every(isRunning);
      },
      120_000,
    );
    const running = await eventually("the job says they are placed", async () => {
      const j = await getJob(ns, "job");
      return condition(j, "WaitingForCapacity")?.status === "False" ? j : undefined;
    });
    expect(condition(running, "PodsScheduled")).toMatchObject({ status: "True" });
    expect(new Set(trainingPodsOf(sampler.pods(), "job").map((p) => p.spec?.nodeName)).size).toBe(4);

    // A worker fails: the next attempt gets a PodGroup of its own, the last one's is deleted (it goes with its pods).
    await finishPod(ns, "job-a0-worker-2", "Failed", 1);
    await eventually(
      "attempt 1 running",
      async () => {
        const ranks = trainingPodsOf(sampler.pods(), "job").filter(
          (p) => p.metadata?.labels?.["collabllm.io/attempt"] === "1",
        );
        return ranks.length === 4 && ranks.every(isRunning);
      },
      120_000,
    );
    const restarted = await getJob(ns, "job");
    expect(restarted.status?.gang?.podGroup).toMatch(/^job-a1-/);
    await eventually("only attempt 1's PodGroup left", async () => {
      const names = (await podGroups()).map((g) => g.metadata?.name);
      return names.length === 1 && names[0] === restarted.status?.gang?.podGroup;
    });
    await finishPod(ns, "job-a1-head", "Succeeded");
    await waitForPhase(ns, "job", "Succeeded");
  }, 300_000);
});
