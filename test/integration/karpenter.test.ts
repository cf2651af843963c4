// Smoke test of the harness's Karpenter (its KWOK provider with our GPU instance types) with a plain pod, no operator:
// a pending GPU pod that only a NodePool's nodes can take gets a node launched, runs on it, and once the pod is gone
// the node is consolidated away.
import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { up } from "../cluster/cluster.ts";
import { HOPPER_PRODUCT } from "../cluster/fleet.ts";
import { GPU_TAINT, gpuNodePool } from "../cluster/karpenter.ts";
import { testNamespace } from "./kube.ts";
import { eventually } from "./operator.ts";
import { apply, eventsFor, get, gpuPod, isRunning, karpenterSettled, list, type Obj, remove } from "./scheduling.ts";

const suffix = randomBytes(3).toString("hex");
// A taint of the pool's own: pods that do not tolerate it (the rest of the suite) never make this pool scale.
const poolTaint = { key: "collabllm.io/autoscaled", value: suffix, effect: "NoSchedule" };
const pool = gpuNodePool(`gpu-${suffix}`, { product: HOPPER_PRODUCT, taints: [poolTaint], consolidateAfter: "5s" });
let ns: string;

const poolNodes = () => list<Obj>("/api/v1/nodes", `karpenter.sh/nodepool=${pool.metadata.name}`);

beforeAll(async () => {
  await up({ karpenter: true });
  await karpenterSettled();
  ns = await testNamespace("karpenter");
  await apply(pool);
}, 900_000);

afterAll(async () => {
  await remove({ apiVersion: "v1", kind: "Pod", metadata: { name: "autoscaled", namespace: ns } });
  await remove(pool);
});

describe("Karpenter with the KWOK provider", () => {
  it("launches an H100 node for a pending pod, then consolidates it once the pod is gone", async () => {
    await apply(
      gpuPod(ns, "autoscaled", {
        // Only the pool's nodes have this label: the static fleet never competes.
        nodeSelector: { "nvidia.com/gpu.product": HOPPER_PRODUCT, "karpenter.sh/nodepool": pool.metadata.name },
        tolerations: [{ ...poolTaint, operator: "Equal" }],
      }),
    );
    const pod = await eventually(
      "pod running on a launched node",
      async () => {
        const p = await get<Obj>(`/api/v1/namespaces/${ns}/pods/autoscaled`);
        return p && isRunning(p) && p;
      },
      // Seen once on a loaded machine: Karpenter's provisioner acted two minutes after the pod was made.
      300_000,
    );
    const node = (await get<Obj>(`/api/v1/nodes/${pod.spec.nodeName}`))!;
    expect(node.metadata?.labels).toMatchObject({
      "karpenter.sh/nodepool": pool.metadata.name,
      "node.kubernetes.io/instance-type": "p5.48xlarge",
      "nvidia.com/gpu.product": HOPPER_PRODUCT,
      "nvidia.com/gpu.count": "8",
    });
    expect(node.metadata?.annotations?.["kwok.x-k8s.io/node"]).toBe("fake");
    expect(node.status?.allocatable?.["nvidia.com/gpu"]).toBe("8");
    expect(node.spec?.taints).toEqual(expect.arrayContaining([GPU_TAINT, poolTaint]));
    const reasons = (await eventsFor(ns, "autoscaled")).map((e) => e.reason);
    expect(reasons).toContain("Nominated");

    await remove(pod);
    await eventually("the launched node consolidated away", async () => (await poolNodes()).length === 0, 120_000);
    // Its NodeClaim goes once Karpenter's finalizer has seen the node go: a moment after, not at the same instant.
    const poolClaims = async () =>
      (await list<Obj>("/apis/karpenter.sh/v1/nodeclaims")).filter(
        (c) => c.metadata?.labels?.["karpenter.sh/nodepool"] === pool.metadata.name,
      );
    await eventually("the launched node's NodeClaim gone", async () => (await poolClaims()).length === 0, 60_000);
  }, 600_000);
});
