// The operator with the real Karpenter (1.14, KWOK provider): with no free A100 node in the static fleet, a 2-node A100
// job gets nodes launched and runs, saying while it waits that Karpenter nominated nodes for it (Karpenter's own
// Event); Karpenter does not disrupt the running job's nodes when they drift (while it replaces the node of a pod
// without the annotation at once); and once the job has finished, its nodes are consolidated away (its finished pod
// does not hold them).
import { randomBytes } from "node:crypto";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { request } from "../../src/runtime/index.ts";
import { up } from "../cluster/cluster.ts";
import { AMPERE_PRODUCT } from "../cluster/fleet.ts";
import { gpuNodePool } from "../cluster/karpenter.ts";
import { core, kc, testNamespace } from "./kube.ts";
import { condition, createJob, eventually, finishPod, getJob, startOperator, waitForPhase } from "./operator.ts";
import {
  apply,
  freeFleetGpuNodes,
  get,
  gpuPod,
  isRunning,
  karpenterSettled,
  list,
  type Obj,
  podCondition,
  podSampler,
  remove,
  trainingPodsOf,
} from "./scheduling.ts";

const suffix = randomBytes(3).toString("hex");
// A taint of the pool's own: only pods that tolerate it (this file's) make it scale.
const poolTaint = { key: "collabllm.io/autoscaled", value: suffix, effect: "NoSchedule" };
const pool = gpuNodePool(`a100-${suffix}`, { product: AMPERE_PRODUCT, taints: [poolTaint], consolidateAfter: "5s" });
const onA100 = { nodeSelector: { "nvidia.com/gpu.product": AMPERE_PRODUCT } };
const samplers: { stop: () => void }[] = [];
let ns: string;

const poolClaims = async () =>
  (await list<Obj>("/apis/karpenter.sh/v1/nodeclaims")).filter(
    (c) => c.metadata?.labels?.["karpenter.sh/nodepool"] === pool.metadata.name,
  );

beforeAll(async () => {
  await up({ karpenter: true });
  await karpenterSettled();
  ns = await testNamespace("karpenter");
  await apply(pool);
  // The static fleet's two A100 nodes taken: the job can only run on nodes Karpenter launches.
  await eventually("both A100 nodes free", async () => (await freeFleetGpuNodes(AMPERE_PRODUCT)).length === 2, 90_000);
  for (const name of ["blocker-0", "blocker-1"]) await apply(gpuPod(ns, name, onA100));
  await eventually("the static A100 nodes busy", async () => (await freeFleetGpuNodes(AMPERE_PRODUCT)).length === 0);
}, 900_000);

afterEach(() => {
  for (const s of samplers.splice(0)) s.stop();
});

afterAll(async () => {
  for (const name of ["blocker-0", "blocker-1", "control"])
    await remove({ apiVersion: "v1", kind: "Pod", metadata: { name, namespace: ns } }).catch(() => undefined);
  await remove(pool).catch(() => undefined);
});

describe("Karpenter", () => {
  it("launches nodes for a 2-node job, does not disrupt them while it runs, consolidates them after", async () => {
    startOperator(ns);
    await createJob(ns, "job", {
      spec: {
        rl: { batchSize: 16, miniBatchSize: 8 },
        resources: { nodes: 2, gpuProduct: AMPERE_PRODUCT },
        scheduling: { tolerations: [{ ...poolTaint, operator: "Equal" }] },
      },
    });
    await finishPod(ns, "job-a0-prepare", "Succeeded");
    const started = Date.now();

    // Karpenter launches two nodes of the pool; the gang runs there.
    const running = await eventually(
      "the job's pods running",
      async () => {
        const ranks = trainingPodsOf(await list<Obj>(`/api/v1/namespaces/${ns}/pods`), "job");
        return ranks.length === 2 && ranks.every(isRunning) && ranks;
      },
      120_000,
    );
    console.log(`karpenter: the 2-node gang running ${Date.now() - started} ms after its pods were made`);
    const nodes = running.map((p) => p.spec?.nodeName as string);
    for (const name of nodes) {
      const node = await get<Obj>(`/api/v1/nodes/${name}`);
      expect(node?.metadata?.labels?.["karpenter.sh/nodepool"]).toBe(pool.metadata.name);
    }
    for (const p of running)
      expect(p.metadata?.annotations).toMatchObject({
        "karpenter.sh/do-not-disrupt": "true",
        "cluster-autoscaler.kubernetes.io/safe-to-evict": "false",
      });
    // While it waited, the job said why, in Karpenter's words: its Events keep each transition.
    const said = await eventually("the NodeNominated Event", async () => {
      const events = (await core.listNamespacedEvent({ namespace: ns })).items.filter(
        (e) => e.involvedObject.kind === "CollabTrainingJob" && e.reason === "NodeNominated",
      );
      return events[0];
    });
    expect(said.message).toMatch(/karpenter on pod job-a0-(head|worker-1): Pod should schedule on: nodeclaim\//);
    const placed = await eventually("WaitingForCapacity False", async () => {
      const j = await getJob(ns, "job");
      return condition(j, "WaitingForCapacity")?.status === "False" ? j : undefined;
    });
    expect(condition(placed, "PodsScheduled")?.status).toBe("True");

    // The pool drifts (its template changes): Karpenter replaces drifted nodes at once, the control pod's (no
    // annotation) within seconds, but leaves the job's alone while its pods run.
    await apply(
      gpuPod(ns, "control", {
        nodeSelector: { ...onA100.nodeSelector, "karpenter.sh/nodepool": pool.metadata.name },
        tolerations: [{ ...poolTaint, operator: "Equal" }],
      }),
    );
    await eventually("control running", async () =>
      isRunning((await get<Obj>(`/api/v1/namespaces/${ns}/pods/control`)) as Obj),
    );
    let finishing = false;
    const sampler = await podSampler(ns, (pods) => {
      if (finishing) return undefined;
      const hit = trainingPodsOf(pods, "job").filter(
        (p) => p.metadata?.deletionTimestamp || podCondition(p, "DisruptionTarget") || !isRunning(p),
      );
      return hit.length > 0 ? `disrupted while running: ${hit.map((p) => p.metadata?.name)}` : undefined;
    });
    samplers.push(sampler);
    await request(kc, {
      method: "PATCH",
      path: `/apis/karpenter.sh/v1/nodepools/${pool.metadata.name}`,
      body: { spec: { template: { metadata: { labels: { "collabllm.io/drift": suffix } } } } },
      contentType: "application/merge-patch+json",
    });
    await eventually(
      "the control pod evicted from its drifted node",
      async () => {
        const control = await get<Obj>(`/api/v1/namespaces/${ns}/pods/control`);
        return !control || control.metadata?.deletionTimestamp !== undefined;
      },
      60_000,
    );
    // Well past the time Karpenter took for the control's node: the job's nodes drifted and are still there.
    await new Promise((r) => setTimeout(r, 10_000));
    const claims = await poolClaims();
    for (const name of nodes) {
      const claim = claims.find((c) => c.status?.nodeName === name);
      expect(claim, `the NodeClaim of ${name}`).toBeDefined();
      const drifted = ((claim?.status?.conditions ?? []) as any[]).find((c) => c.type === "Drifted");
      expect(drifted?.status).toBe("True");
    }
    expect(sampler.violations).toEqual([]);

    // The job finishes: the idle worker is deleted, the finished head stays (terminal pods hold no node), and
    // Karpenter consolidates the nodes away.
    finishing = true;
    await finishPod(ns, "job-a0-head", "Succeeded");
    await waitForPhase(ns, "job", "Succeeded");
    const finished = Date.now();
    await eventually(
      "the job's nodes consolidated",
      async () => {
        const left = (await poolClaims()).filter((c) => nodes.includes(c.status?.nodeName));
        return left.length === 0;
      },
      120_000,
    );
    console.log(`karpenter: the job's nodes gone ${Date.now() - finished} ms after it succeeded`);
  }, 400_000);
});
