// Smoke test of the harness's native gang scheduling (Kubernetes 1.37, scheduling.k8s.io/v1beta1 behind the
// GenericWorkload gate) with plain pods, no operator: a gang of 4 whole-node pods on a fleet with 3 free H100 nodes
// binds no pod until a fourth node is free, then binds all four.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { HOPPER_PRODUCT } from "../cluster/fleet.ts";
import { testNamespace } from "./kube.ts";
import { eventually } from "./operator.ts";
import {
  apply,
  freeFleetGpuNodes,
  get,
  gpuPod,
  isBound,
  isRunning,
  type Obj,
  podCondition,
  pods,
  remove,
} from "./scheduling.ts";

const GANG = 4;
const onHopper = { nodeSelector: { "nvidia.com/gpu.product": HOPPER_PRODUCT } };
let ns: string;

beforeAll(async () => {
  ns = await testNamespace("gang");
  // The test needs the four H100 nodes to itself; pods of earlier files may still be terminating.
  await eventually("all H100 nodes free", async () => (await freeFleetGpuNodes(HOPPER_PRODUCT)).length === 4, 90_000);
});

afterAll(async () => {
  for (const pod of await pods(ns)) await remove(pod);
});

describe("native gang scheduling (scheduling.k8s.io/v1beta1)", () => {
  it("serves Workload and PodGroup", async () => {
    const resources = await get<{ resources: { name: string }[] }>("/apis/scheduling.k8s.io/v1beta1");
    expect(resources?.resources.map((r) => r.name)).toEqual(expect.arrayContaining(["workloads", "podgroups"]));
  });

  it("binds none of a 4-pod gang while only 3 nodes are free, then all 4 once a fourth is", async () => {
    // One H100 node taken by a pod outside the gang: 3 stay free.
    await apply(gpuPod(ns, "blocker", onHopper));
    await eventually("blocker running", async () =>
      isRunning((await get<Obj>(`/api/v1/namespaces/${ns}/pods/blocker`))!),
    );

    await apply({
      apiVersion: "scheduling.k8s.io/v1beta1",
      kind: "Workload",
      metadata: { name: "training", namespace: ns },
      spec: { podGroupTemplates: [{ name: "ranks", schedulingPolicy: { gang: { minCount: GANG } } }] },
    });
    await apply({
      apiVersion: "scheduling.k8s.io/v1beta1",
      kind: "PodGroup",
      metadata: { name: "training-ranks", namespace: ns },
      spec: {
        workloadRef: { workloadName: "training", templateName: "ranks" },
        schedulingPolicy: { gang: { minCount: GANG } },
      },
    });
    for (let i = 0; i < GANG; i++)
      await apply(gpuPod(ns, `rank-${i}`, { ...onHopper, podGroup: "training-ranks", labels: { gang: "ranks" } }));

    // The scheduler tries the group, finds room for 3 of 4 and binds none.
    const group = await eventually(
      "PodGroup marked unschedulable",
      async () => {
        const pg = await get<Obj>(`/apis/scheduling.k8s.io/v1beta1/namespaces/${ns}/podgroups/training-ranks`);
        const scheduled = (pg?.status?.conditions as any[] | undefined)?.find(
          (c) => c.type === "PodGroupInitiallyScheduled",
        );
        return scheduled?.status === "False" && pg;
      },
      60_000,
    );
    expect(group.metadata?.finalizers).toContain("scheduling.k8s.io/podgroup-protection");
    const waiting = await pods(ns, "gang=ranks");
    expect(waiting.filter(isBound)).toEqual([]);
    expect(waiting.map((p) => podCondition(p, "PodScheduled")?.reason)).toEqual(Array(GANG).fill("Unschedulable"));
    // Still none bound a while later (sampled, not a single look).
    for (let i = 0; i < 10; i++) {
      await new Promise((r) => setTimeout(r, 500));
      expect((await pods(ns, "gang=ranks")).filter(isBound)).toEqual([]);
    }

    await remove({ apiVersion: "v1", kind: "Pod", metadata: { name: "blocker", namespace: ns } });
    const placed = await eventually(
      "all 4 ranks running",
      async () => {
        const ranks = await pods(ns, "gang=ranks");
        return ranks.length === GANG && ranks.every(isRunning) && ranks;
      },
      90_000,
    );
    expect(new Set(placed.map((p) => p.spec?.nodeName)).size).toBe(GANG);
    const pg = await get<Obj>(`/apis/scheduling.k8s.io/v1beta1/namespaces/${ns}/podgroups/training-ranks`);
    expect(((pg?.status?.conditions ?? []) as any[]).find((c) => c.type === "PodGroupInitiallyScheduled")?.status).toBe(
      "True",
    );
  }, 240_000);
});
