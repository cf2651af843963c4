// Serving policy: the model servers of served roles are made with the job, scaled to zero when it stops, replaced by
// their Deployment, and the training gang waits for them; status.serving accounts their GPU-hours.
import type { V1Pod } from "@kubernetes/client-node";
import { describe, expect, it } from "vitest";
import type { CollabTrainingJob, SpecInput, Status } from "../../../../src/api/schema.ts";
import { DEFAULT_OPERATOR_CONTEXT } from "../../../../src/children/pods.ts";
import {
  deploymentURL,
  jobServers,
  SPEC_HASH_ANNOTATION,
  serverArgs,
  serverDeployment,
  serverService,
  withServedEndpoints,
} from "../../../../src/children/serving.ts";
import type { ServerSeen } from "../../../../src/operator/plan/observed.ts";
import { plan } from "../../../../src/operator/plan/plan.ts";
import { gpuHoursAt, servingPolicy } from "../../../../src/operator/plan/serving.ts";
import { validJob } from "../../../fixtures/invalid-jobs.ts";
import { at, DATASET_READY, job, NOW, passedPreflight, pod, world } from "./world.ts";

const QWEN = "Qwen/Qwen2.5-7B-Instruct";

/** A job whose judge is served on `serve` (and the user simulator too when shared). */
function servedJob(serve: Record<string, unknown> = {}, more: Partial<SpecInput> = {}, status?: Status) {
  const base = validJob("job").spec;
  const { apiKeySecretRef: _judgeKey, ...judge } = base.judge;
  const shared = serve.shareWithUserSimulator === true;
  const { apiKeySecretRef: _simKey, ...simulator } = base.userSimulator;
  return job(
    {
      judge: { ...judge, model: "judge", serve: { model: QWEN, ...serve } },
      userSimulator: shared ? { ...simulator, model: "judge" } : base.userSimulator,
      ...more,
    },
    status,
  );
}

/** What the cache shows of the server objects as the operator applied them. */
function seen(j: CollabTrainingJob, running = true): ServerSeen[] {
  return jobServers(j).flatMap((server) =>
    [serverService(j, server), serverDeployment(j, server, running)].map((o) => ({
      kind: o.kind as ServerSeen["kind"],
      name: o.metadata.name,
      specHash: (o.metadata.annotations as Record<string, string>)[SPEC_HASH_ANNOTATION],
    })),
  );
}

/** A pod of the judge's server as its ReplicaSet leaves it: ready or not, on a node or not. */
function serverPod(name: string, shape: { ready?: boolean; node?: string | null; gpus?: number } = {}): V1Pod {
  const ready = shape.ready ?? true;
  return {
    metadata: {
      name,
      labels: { "collabllm.io/job-name": "job", "collabllm.io/role": "server", "collabllm.io/server": "judge" },
      annotations: { "collabllm.io/gpus": String(shape.gpus ?? 1) },
      ownerReferences: [{ apiVersion: "apps/v1", kind: "ReplicaSet", name: "rs", uid: "rs-1", controller: true }],
    },
    spec: { containers: [], ...(shape.node === null ? {} : { nodeName: shape.node ?? "gpu-1" }) },
    status: { phase: "Running", conditions: [{ type: "Ready", status: ready ? "True" : "False" }] },
  };
}

const training = { conditions: [DATASET_READY], attempt: 0 } as Status;

/** The preflight pod of the job as its gateways see it (served roles at their servers), passed. */
function servedPreflight(j: CollabTrainingJob): V1Pod[] {
  const urls = Object.fromEntries(jobServers(j).flatMap((s) => s.roles.map((r) => [r, deploymentURL(j, s)])));
  return passedPreflight(withServedEndpoints(j, urls));
}

describe("the server's objects", () => {
  it("runs vllm serve with the role's model name, tensor parallel size and the rest as data-parallel ranks", () => {
    const j = servedJob({ gpusPerReplica: 4, tensorParallelSize: 2, args: ["--max-model-len=16384"] });
    const [server] = jobServers(j);
    expect(serverArgs(server!)).toEqual([
      QWEN,
      "--served-model-name",
      "judge",
      "--host",
      "0.0.0.0",
      "--port",
      "8000",
      "--tensor-parallel-size",
      "2",
      "--data-parallel-size",
      "2",
      "--max-model-len=16384",
    ]);
  });

  it("places its replicas on the GPU product, with the job's queue label, and none while the job does not run", () => {
    const j = servedJob(
      { replicas: 2, gpusPerReplica: 2, gpuProduct: "NVIDIA-H100-80GB-HBM3" },
      { scheduling: { queueName: "team-a" } },
    );
    const [server] = jobServers(j);
    const d = serverDeployment(j, server!, true);
    const podSpec = d.spec.template.spec;
    expect(d.spec.replicas).toBe(2);
    expect(d.metadata.ownerReferences?.[0]).toMatchObject({ kind: "CollabTrainingJob", uid: "u-1" });
    expect(d.spec.template.metadata.labels["kueue.x-k8s.io/queue-name"]).toBe("team-a");
    expect(podSpec.nodeSelector["nvidia.com/gpu.product"]).toBe("NVIDIA-H100-80GB-HBM3");
    expect(podSpec.containers[0]?.resources.limits["nvidia.com/gpu"]).toBe("2");
    expect(podSpec.containers[0]?.image).toBe("vllm/vllm-openai:v0.12.0");
    expect(serverDeployment(j, server!, false).spec.replicas).toBe(0);
  });

  it("serves both roles from the judge's server when shared: both gateways call its Service", () => {
    const j = servedJob({ shareWithUserSimulator: true });
    expect(jobServers(j).map((s) => [s.name, s.roles])).toEqual([["job-judge-server", ["judge", "user-simulator"]]]);
    const p = plan(
      world(servedJob({ shareWithUserSimulator: true }, {}, training), [serverPod("s-1"), ...servedPreflight(j)], {
        servers: seen(j),
      }),
      DEFAULT_OPERATOR_CONTEXT,
    );
    const head = p.apply.find((a) => a.name === "job-a0-head")?.object as V1Pod;
    const env = (c: string) =>
      head.spec?.initContainers
        ?.find((x) => x.name === c)
        ?.env?.find((e) => e.name === "COLLAB_GATEWAY_UPSTREAM_BASE_URL");
    expect(env("judge")?.value).toBe("http://job-judge-server.ns.svc:8000/v1");
    expect(env("user-simulator")?.value).toBe("http://job-judge-server.ns.svc:8000/v1");
    const judgeGateway = head.spec?.initContainers?.find((x) => x.name === "judge");
    const hold = judgeGateway?.env?.find((e) => e.name === "COLLAB_GATEWAY_HOLD_UNAVAILABLE");
    expect(hold?.value).toBe("true");
  });
});

describe("servingPolicy", () => {
  const decide = (j: CollabTrainingJob, pods: V1Pod[], servers: ServerSeen[], running = true) =>
    servingPolicy({
      observed: world(j, pods, { servers }),
      running,
      blocked: false,
      before: j.status?.conditions ?? [],
    });

  it("applies the server while the job runs, and nothing more once the cache shows it as applied", () => {
    const j = servedJob();
    expect(decide(j, [], []).apply.map((a) => a.kind)).toEqual(["Service", "Deployment"]);
    expect(decide(j, [], seen(j)).apply).toEqual([]);
  });

  it("scales a made server to zero when the job stops, and makes none for a job that never ran", () => {
    const j = servedJob();
    const stopped = decide(j, [], seen(j), false);
    expect(stopped.apply.map((a) => [a.kind, (a.object as { spec: { replicas?: number } }).spec.replicas])).toEqual([
      ["Deployment", 0],
    ]);
    expect(stopped.condition).toMatchObject({ status: "False", reason: "ScaledToZero" });
    expect(decide(j, [], [], false).apply).toEqual([]);
  });

  it("is ready once a replica is, with its URL; says which pod loads while none is", () => {
    const j = servedJob();
    const starting = decide(j, [serverPod("s-1", { ready: false })], seen(j));
    expect(starting.ready).toBe(false);
    expect(starting.condition).toMatchObject({ status: "False", reason: "ServerStarting" });
    expect((starting.condition as { message: string }).message).toContain("pod s-1 is loading (not ready)");
    const ready = decide(j, [serverPod("s-1")], seen(j));
    expect(ready.ready).toBe(true);
    expect(ready.urls).toEqual({ judge: "http://job-judge-server.ns.svc:8000/v1" });
    expect(ready.status?.[0]).toMatchObject({ replicas: 1, readyReplicas: 1, gpus: 1, roles: ["judge"] });
  });

  it("says a server that answered and has no ready replica now is unavailable (a Warning), not starting", () => {
    const j = servedJob({}, {}, {
      conditions: [
        { type: "ServingReady", status: "True", reason: "ServersReady", message: "", lastTransitionTime: at(-60) },
      ],
    } as Status);
    const d = decide(j, [serverPod("s-2", { ready: false })], seen(j));
    expect(d.condition).toMatchObject({ status: "False", reason: "ServerUnavailable" });
  });

  it("accounts GPU-hours at each change of the GPUs its pods hold, so an idle job writes nothing", () => {
    const j = servedJob({ gpusPerReplica: 2 });
    const first = decide(j, [serverPod("s-1", { gpus: 2 })], seen(j)).status?.[0];
    expect(first).toMatchObject({ gpus: 2, gpuHours: 0, accountedAt: NOW });
    const later = servedJob({ gpusPerReplica: 2 }, {}, { serving: [{ ...first!, accountedAt: at(-3600) }] } as Status);
    // Same GPUs: the status is what it was (its hours are brought up to date by whoever reads them).
    expect(decide(later, [serverPod("s-1", { gpus: 2 })], seen(later)).status?.[0]).toMatchObject({
      gpuHours: 0,
      accountedAt: at(-3600),
    });
    expect(gpuHoursAt({ gpus: 2, gpuHours: 0, accountedAt: at(-3600) }, NOW)).toBeCloseTo(2);
    // The replica gone: its two GPU-hours are accounted and the clock stops.
    const gone = decide(later, [], seen(later)).status?.[0];
    expect(gone).toMatchObject({ gpus: 0, accountedAt: NOW });
    expect(gone?.gpuHours).toBeCloseTo(2);
  });
});

describe("the training gang waits for its servers", () => {
  it("creates no training pod and no preflight pod until a replica is ready, then both", () => {
    const j = servedJob({}, {}, training);
    const waiting = plan(
      world(j, [serverPod("s-1", { ready: false })], { servers: seen(j) }),
      DEFAULT_OPERATOR_CONTEXT,
    );
    expect(waiting.apply.filter((a) => a.kind === "Pod")).toEqual([]);
    expect(waiting.status.waiting).toBe("Serving: ServerStarting");
    const ready = plan(
      world(j, [serverPod("s-1"), ...servedPreflight(j)], { servers: seen(j) }),
      DEFAULT_OPERATOR_CONTEXT,
    );
    expect(ready.apply.map((a) => a.name)).toContain("job-a0-head");
  });

  it("keeps running training pods while a replica is replaced: no restart, the gateways hold", () => {
    const j = servedJob({}, {}, training);
    const head = pod("job-a0-head");
    const worker = pod("job-a0-worker-1");
    const p = plan(
      world(j, [head, worker, serverPod("s-2", { ready: false }), ...servedPreflight(j)], { servers: seen(j) }),
      DEFAULT_OPERATOR_CONTEXT,
    );
    expect(p.deletePods).toEqual([]);
    expect(p.status.attempt).toBe(0);
  });

  it("scales the server to zero once the job has failed, and then plans nothing more", () => {
    const failed = {
      ...training,
      conditions: [
        DATASET_READY,
        { type: "Failed", status: "True", reason: "DeadlineExceeded", message: "", lastTransitionTime: at(-60) },
      ],
    } as Status;
    const j = servedJob({}, {}, failed);
    const p = plan(world(j, [serverPod("s-1")], { servers: seen(j) }), DEFAULT_OPERATOR_CONTEXT);
    const d = p.apply.find((a) => a.kind === "Deployment")?.object as { spec: { replicas: number } };
    expect(d.spec.replicas).toBe(0);
    expect(p.status.phase).toBe("Failed");
    const idle = plan(world(j, [], { servers: seen(j, false) }), DEFAULT_OPERATOR_CONTEXT);
    expect(idle.apply).toEqual([]);
  });

  it("scales the server to zero when the job is suspended", () => {
    const j = servedJob({}, { suspend: true }, training);
    const p = plan(world(j, [serverPod("s-1")], { servers: seen(j) }), DEFAULT_OPERATOR_CONTEXT);
    const d = p.apply.find((a) => a.kind === "Deployment")?.object as { spec: { replicas: number } };
    expect(d.spec.replicas).toBe(0);
    expect(p.status.serving?.[0]?.replicas).toBe(0);
  });
});
