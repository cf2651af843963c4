// Served roles on the real control plane (KWOK plays the GPU nodes and the server's pods): the job renders its model
// server (a Deployment and a Service it owns), the training gang waits for a ready replica and never the other way
// round, a dead replica is replaced without touching the gang, suspend and the job's end scale the server to zero and
// resume brings it back, the TTL takes it with the job; under Kueue the server is admitted under the job's queue and
// counted in its quota, so a quota too small for trainer plus server keeps the gang queued, not the server.
import { randomBytes } from "node:crypto";
import { PatchStrategy, setHeaderOptions } from "@kubernetes/client-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { STUCK_IMAGE, up } from "../cluster/cluster.ts";
import { KUEUE_NAMESPACE_LABEL, kueueQueue } from "../cluster/kueue.ts";
import { custom, testNamespace } from "./kube.ts";
import {
  condition,
  createJob,
  eventually,
  finishPod,
  getJob,
  type Job,
  jobApi,
  listPods,
  startOperator,
  waitForPhase,
  waitRunning,
} from "./operator.ts";
import { apply, get, list, type Obj, pods, remove, schedulingGates } from "./scheduling.ts";

const QWEN = "Qwen/Qwen2.5-7B-Instruct";
const SERVER = "job-judge-server";
const servedJudge = (serve: Record<string, unknown> = {}) => ({
  model: "judge",
  preflight: false,
  serve: { model: QWEN, ...serve },
});

const deployment = (ns: string) => get<Obj>(`/apis/apps/v1/namespaces/${ns}/deployments/${SERVER}`);
const serverPods = (ns: string) => pods(ns, "collabllm.io/role=server");

async function patchSpec(ns: string, spec: Record<string, unknown>) {
  await custom.patchNamespacedCustomObject(
    { ...jobApi, namespace: ns, name: "job", body: { spec } },
    setHeaderOptions("Content-Type", PatchStrategy.MergePatch),
  );
}

async function replicasAre(ns: string, replicas: number) {
  return eventually(`${SERVER} at ${replicas} replicas`, async () => {
    const d = await deployment(ns);
    return d?.spec?.replicas === replicas ? d : undefined;
  });
}

async function statusWhere(ns: string, what: string, check: (job: Job) => boolean, timeoutMs = 60_000) {
  return eventually(
    what,
    async () => {
      const job = await getJob(ns, "job");
      return check(job) ? job : undefined;
    },
    timeoutMs,
  );
}

const suffix = randomBytes(3).toString("hex");
// GPU quota for one 8-GPU node: the server's GPU and the gang's eight do not both fit.
const { flavor, clusterQueue, localQueue } = kueueQueue(`serve-${suffix}`, { cpu: "64", memory: "256Gi", gpus: "8" });

beforeAll(async () => {
  await up({ kueue: true });
}, 900_000);

describe("a served judge", () => {
  it("renders its server with the job, holds the gang until a replica is ready, replaces a dead replica without a restart", async () => {
    const ns = await testNamespace("serve");
    startOperator(ns);
    // An image no node pulls: the replica never gets ready until the image is fixed.
    await createJob(ns, "job", {
      spec: { judge: servedJudge({ image: STUCK_IMAGE, gpusPerReplica: 2, args: ["--max-model-len=8192"] }) },
    });

    const d = await replicasAre(ns, 1);
    expect(d.metadata?.ownerReferences?.[0]).toMatchObject({
      kind: "CollabTrainingJob",
      name: "job",
      controller: true,
    });
    const container = d.spec.template.spec.containers[0];
    expect(container.args).toEqual(
      expect.arrayContaining([QWEN, "--served-model-name", "judge", "--tensor-parallel-size", "2"]),
    );
    expect(container.resources.limits["nvidia.com/gpu"]).toBe("2");
    expect(await get<Obj>(`/api/v1/namespaces/${ns}/services/${SERVER}`)).toBeDefined();

    await finishPod(ns, "job-a0-prepare", "Succeeded");
    const waiting = await statusWhere(
      ns,
      "the gang waiting for its server",
      (j) =>
        condition(j, "ServingReady")?.reason === "ServerStarting" && j.status?.waiting === "Serving: ServerStarting",
    );
    expect(condition(waiting, "ServingReady")?.message).toContain("ErrImagePull");
    expect(waiting.status?.serving).toEqual([
      expect.objectContaining({
        name: SERVER,
        roles: ["judge"],
        replicas: 1,
        readyReplicas: 0,
        url: `http://${SERVER}.${ns}.svc:8000/v1`,
      }),
    ]);
    expect((await listPods(ns)).map((p) => p.metadata?.name)).not.toContain("job-a0-head");

    // The image fixed: the server is applied again, its new replica gets ready, and only then the gang is made.
    await patchSpec(ns, { judge: { serve: { image: null } } });
    const head = await waitRunning(ns, "job-a0-head", 90_000);
    const judge = head.spec?.initContainers?.find((c) => c.name === "judge");
    expect(judge?.env).toEqual(
      expect.arrayContaining([
        { name: "COLLAB_GATEWAY_UPSTREAM_BASE_URL", value: `http://${SERVER}.${ns}.svc:8000/v1` },
        { name: "COLLAB_GATEWAY_HOLD_UNAVAILABLE", value: "true" },
      ]),
    );
    expect(judge?.env?.some((e) => e.name === "COLLAB_GATEWAY_UPSTREAM_API_KEY")).toBe(false);
    await statusWhere(ns, "ServingReady", (j) => condition(j, "ServingReady")?.status === "True");

    // A replica dies: its Deployment replaces it; the gang stays as it is.
    const [replica] = (await serverPods(ns)).filter((p) => !p.metadata?.deletionTimestamp);
    await remove(replica as Obj);
    await eventually("a new replica ready", async () => {
      const now = (await serverPods(ns)).filter((p) => !p.metadata?.deletionTimestamp);
      return now.some((p) => p.metadata?.name !== replica?.metadata?.name && p.status?.phase === "Running");
    });
    await statusWhere(ns, "ServingReady again", (j) => condition(j, "ServingReady")?.status === "True");
    const after = await waitRunning(ns, "job-a0-head");
    expect(after.metadata?.uid).toBe(head.metadata?.uid);
    expect((await getJob(ns, "job")).status?.attempt ?? 0).toBe(0);

    // Suspended: scaled to zero, its GPUs go; resumed: back, and the gang waits for it again.
    await patchSpec(ns, { suspend: true });
    await replicasAre(ns, 0);
    await statusWhere(ns, "status.serving at zero", (j) => j.status?.serving?.[0]?.replicas === 0);
    await eventually("the server's pods gone", async () => (await serverPods(ns)).length === 0);
    await patchSpec(ns, { suspend: false });
    await replicasAre(ns, 1);
    await waitRunning(ns, "job-a1-head", 90_000);

    // The job ends: the server is scaled to zero and its GPU-hours stop; the TTL takes it with the job.
    await finishPod(ns, "job-a1-head", "Succeeded");
    await waitForPhase(ns, "job", "Succeeded");
    await replicasAre(ns, 0);
    const done = await statusWhere(ns, "no GPU held", (j) => j.status?.serving?.[0]?.gpus === 0);
    expect(done.status?.serving?.[0]?.gpuHours).toBeGreaterThan(0);
    await patchSpec(ns, { ttlSecondsAfterFinished: 1 });
    await eventually("the server deleted with the job", async () => (await deployment(ns)) === undefined, 60_000);
  }, 300_000);

  it("serves both roles from one server when shared", async () => {
    const ns = await testNamespace("serve-shared");
    startOperator(ns);
    await createJob(ns, "job", {
      spec: {
        userSimulator: { model: "judge", preflight: false },
        judge: servedJudge({ shareWithUserSimulator: true }),
      },
    });
    await finishPod(ns, "job-a0-prepare", "Succeeded");
    const head = await waitRunning(ns, "job-a0-head", 90_000);
    for (const role of ["judge", "user-simulator"]) {
      const env = head.spec?.initContainers?.find((c) => c.name === role)?.env ?? [];
      expect(env.find((e) => e.name === "COLLAB_GATEWAY_UPSTREAM_BASE_URL")?.value).toBe(
        `http://${SERVER}.${ns}.svc:8000/v1`,
      );
    }
    const job = await getJob(ns, "job");
    expect(job.status?.serving?.map((s) => [s.name, s.roles])).toEqual([[SERVER, ["judge", "userSimulator"]]]);
    expect((await list<Obj>(`/apis/apps/v1/namespaces/${ns}/deployments`)).length).toBe(1);
  }, 180_000);
});

describe("a served judge under Kueue", () => {
  let ns: string;
  afterAll(async () => {
    await custom.deleteNamespacedCustomObject({ ...jobApi, namespace: ns, name: "job" }).catch(() => undefined);
    for (const w of await list<Obj>(`/apis/kueue.x-k8s.io/v1beta2/namespaces/${ns}/workloads`)) await remove(w);
    for (const pod of await pods(ns)) await remove(pod);
    for (const obj of [clusterQueue, flavor]) await remove(obj).catch(() => undefined);
  });

  it("is admitted under the job's queue and counted in its quota: a quota too small for both queues the gang", async () => {
    ns = await testNamespace("serve-kq", { [KUEUE_NAMESPACE_LABEL]: "true" });
    for (const obj of [flavor, clusterQueue]) await apply(obj);
    await apply(localQueue(ns, "team"));
    startOperator(ns);
    await createJob(ns, "job", {
      spec: { scheduling: { queueName: "team" }, judge: servedJudge() },
    });
    // The server's pod is Kueue's: admitted (its scheduling gate lifted) and running on the quota's first GPU.
    await eventually(
      "the server admitted and running",
      async () => {
        const [server] = await serverPods(ns);
        return server && schedulingGates(server).length === 0 && server.status?.phase === "Running";
      },
      90_000,
    );
    const workloads = await list<Obj>(`/apis/kueue.x-k8s.io/v1beta2/namespaces/${ns}/workloads`);
    expect(workloads.length).toBeGreaterThan(0);
    await statusWhere(ns, "ServingReady", (j) => condition(j, "ServingReady")?.status === "True");

    // The gang's eight GPUs do not fit beside the server's one: the gang waits in the queue, gated.
    await finishPod(ns, "job-a0-prepare", "Succeeded");
    // Kueue's own words: the GPUs the server holds of the quota are what the gang lacks.
    await statusWhere(
      ns,
      "the gang queued for quota",
      (j) =>
        condition(j, "Queued")?.status === "True" &&
        /insufficient unused quota/.test(condition(j, "Queued")?.message ?? ""),
      90_000,
    );
    const head = (await pods(ns)).find((p) => p.metadata?.name === "job-a0-head");
    expect(head && schedulingGates(head)).toContain("kueue.x-k8s.io/admission");
  }, 180_000);
});
