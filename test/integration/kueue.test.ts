// Smoke test of the harness's Kueue (its pinned manager, webhooks on loopback) with plain pod groups, no operator:
// a ClusterQueue with GPU quota for two nodes admits one 2-pod group at a time, the next stays SchedulingGated until
// the first finishes, and a group of a higher WorkloadPriorityClass preempts a running one.
import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { up } from "../cluster/cluster.ts";
import { HOPPER_PRODUCT } from "../cluster/fleet.ts";
import { KUEUE_NAMESPACE_LABEL, kueueQueue } from "../cluster/kueue.ts";
import { testNamespace } from "./kube.ts";
import { eventually } from "./operator.ts";
import {
  annotatePod,
  apply,
  eventsFor,
  freeFleetGpuNodes,
  get,
  gpuPod,
  isRunning,
  list,
  type Obj,
  podCondition,
  pods,
  remove,
  schedulingGates,
} from "./scheduling.ts";

const KUEUE = "kueue.x-k8s.io/v1beta2";
const suffix = randomBytes(3).toString("hex");
// GPU quota for two 8-GPU nodes.
const { flavor, clusterQueue, localQueue } = kueueQueue(`gpus-${suffix}`, { cpu: "64", memory: "256Gi", gpus: "16" });
const urgent = {
  apiVersion: KUEUE,
  kind: "WorkloadPriorityClass",
  metadata: { name: `urgent-${suffix}` },
  value: 1000,
};
let ns: string;

/** The two pods of a Kueue plain pod group, labelled and annotated as Kueue's plain-pods docs say. */
async function createGroup(group: string, priorityClass?: string) {
  for (let i = 0; i < 2; i++)
    await apply(
      gpuPod(ns, `${group}-${i}`, {
        nodeSelector: { "nvidia.com/gpu.product": HOPPER_PRODUCT },
        labels: {
          "kueue.x-k8s.io/queue-name": "team",
          "kueue.x-k8s.io/pod-group-name": group,
          ...(priorityClass ? { "kueue.x-k8s.io/priority-class": priorityClass } : {}),
        },
        annotations: { "kueue.x-k8s.io/pod-group-total-count": "2" },
      }),
    );
}

const groupPods = (group: string) => pods(ns, `kueue.x-k8s.io/pod-group-name=${group}`);
const workload = (group: string) => get<Obj>(`/apis/kueue.x-k8s.io/v1beta2/namespaces/${ns}/workloads/${group}`);
const workloadCondition = async (group: string, type: string) =>
  ((await workload(group))?.status?.conditions as any[] | undefined)?.find((c) => c.type === type);

async function groupRunning(group: string) {
  const members = await groupPods(group);
  return members.length === 2 && members.every(isRunning) && members;
}

beforeAll(async () => {
  await up({ kueue: true });
  ns = await testNamespace("kueue", { [KUEUE_NAMESPACE_LABEL]: "true" });
  for (const obj of [flavor, clusterQueue, urgent]) await apply(obj);
  await apply(localQueue(ns, "team"));
  await eventually("two H100 nodes free", async () => (await freeFleetGpuNodes(HOPPER_PRODUCT)).length >= 2, 90_000);
}, 900_000);

afterAll(async () => {
  // Kueue keeps its finalizer on the pods of an unfinished group until the group's Workload is deleted, and the
  // namespace controller deletes pods first and waits for them: delete the Workloads, or the namespace never goes.
  for (const w of await list<Obj>(`/apis/kueue.x-k8s.io/v1beta2/namespaces/${ns}/workloads`)) await remove(w);
  for (const pod of await pods(ns)) await remove(pod);
  await eventually("group pods gone", async () => (await pods(ns)).length === 0, 60_000);
  for (const obj of [urgent, clusterQueue, flavor]) await remove(obj);
});

describe("Kueue plain pod groups", () => {
  it("gates a group until Kueue admits it, and admits the second only when the first finishes", async () => {
    await createGroup("group-a");
    const a = await eventually("group-a running", () => groupRunning("group-a"), 60_000);
    // The webhook marked the pods as Kueue's; admission removed its gates.
    for (const pod of a) {
      expect(pod.metadata?.labels?.["kueue.x-k8s.io/managed"]).toBe("true");
      expect(pod.metadata?.finalizers).toContain("kueue.x-k8s.io/managed");
      expect(pod.metadata?.annotations?.["kueue.x-k8s.io/role-hash"]).toMatch(/^[0-9a-f]{8}$/);
      expect(schedulingGates(pod)).toEqual([]);
    }
    expect((await workloadCondition("group-a", "Admitted"))?.status).toBe("True");

    await createGroup("group-b");
    const gated = await eventually(
      "group-b gated with its workload pending",
      async () => {
        const members = await groupPods("group-b");
        const quota = await workloadCondition("group-b", "QuotaReserved");
        return members.length === 2 && quota?.status === "False" && members;
      },
      60_000,
    );
    for (const pod of gated) {
      expect(schedulingGates(pod)).toContain("kueue.x-k8s.io/admission");
      expect(podCondition(pod, "PodScheduled")?.reason).toBe("SchedulingGated");
      expect(pod.spec?.nodeName).toBeUndefined();
    }
    // Still gated a while later: the quota holds two nodes and group-a has them.
    await new Promise((r) => setTimeout(r, 3000));
    expect((await groupPods("group-b")).every((p) => schedulingGates(p).includes("kueue.x-k8s.io/admission"))).toBe(
      true,
    );

    for (const pod of a) await annotatePod(ns, pod.metadata!.name!, { "sim.collabllm.io/outcome": "Succeeded" });
    await eventually(
      "group-a finished",
      async () => (await workloadCondition("group-a", "Finished"))?.status === "True",
      60_000,
    );
    await eventually("group-b running", () => groupRunning("group-b"), 60_000);
  }, 240_000);

  it("preempts a running group for a group of a higher WorkloadPriorityClass", async () => {
    await createGroup("group-c", urgent.metadata.name);
    await eventually("group-c running", () => groupRunning("group-c"), 90_000);
    const evicted = await workloadCondition("group-b", "Evicted");
    expect(evicted).toMatchObject({ status: "True", reason: "Preempted" });
    expect((await workloadCondition("group-b", "WaitingForReplacementPods"))?.status).toBe("True");
    // Kueue marks why, deletes the preempted group's pods (a kubelet, here KWOK, reports them Failed) and keeps its
    // finalizer on them until replacements exist: recreating the group is the creator's job.
    const victims = await eventually(
      "group-b pods deleted and Failed",
      async () => {
        const members = await groupPods("group-b");
        return members.every((p) => p.metadata?.deletionTimestamp && p.status?.phase === "Failed") && members;
      },
      60_000,
    );
    expect(victims).toHaveLength(2);
    for (const pod of victims) {
      expect(podCondition(pod, "TerminationTarget")).toMatchObject({
        status: "True",
        reason: "WorkloadEvictedDueToPreempted",
      });
      expect(pod.metadata?.finalizers).toContain("kueue.x-k8s.io/managed");
    }
    expect((await eventsFor(ns, "group-b", "Workload")).map((e) => e.reason)).toContain("EvictedDueToPreempted");
  }, 240_000);
});
