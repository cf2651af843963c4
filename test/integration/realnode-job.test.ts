// End to end on the real node: the operator installed by its chart from the image the harness built, a two-node job
// from apply to Succeeded with every container started by a real kubelet, and failures as a GPU cluster has them
// (the trainer killed at its memory limit, the head evicted, the kubelet restarted). The trainer image is the CPU
// stand-in of images/trainer-cpu (README.md there says what it keeps of veRL and what it replaces).
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { V1Pod } from "@kubernetes/client-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { restart, up } from "../cluster/cluster.ts";
import { allImages } from "../cluster/images.ts";
import {
  downRealNode,
  HUB_CONTROL,
  installOperatorChart,
  OPERATOR_RELEASE,
  PROVIDER,
  REAL_NODE,
  REAL_NODE_LABEL,
  REAL_NODE_TAINT,
  uninstallOperatorChart,
} from "../cluster/realnode.ts";
import { run } from "../cluster/tools.ts";
import { core, testNamespace } from "./kube.ts";
import { API_VERSION, eventually, getJob, type Job, KIND, listPods } from "./operator.ts";
import { containerStatus } from "./realnode.ts";

const { name: RELEASE, namespace: OPERATOR_NS } = OPERATOR_RELEASE;
let images: ReturnType<typeof allImages>;

beforeAll(async () => {
  await up({ realnode: true });
  images = allImages();
  installOperatorChart(images);
}, 1_800_000);

// The cluster's next test file finds it as it was: no operator of the chart, no real node.
afterAll(async () => {
  uninstallOperatorChart();
  await downRealNode();
}, 300_000);

// ---- the provider stand-in, steered over HTTP ----

const control = (path: string, body?: unknown) =>
  fetch(`${PROVIDER.control}${path}`, body === undefined ? {} : { method: "POST", body: JSON.stringify(body) });

/** A fresh provider, and a Hub dataset of 9 examples: 8 to train on (2 a batch, 4 steps an epoch) and 1 to validate. */
async function freshProviders(settings: Record<string, unknown> = {}) {
  await control("/reset", {});
  await control("/settings", settings);
  await fetch(`${HUB_CONTROL}/settings`, { method: "POST", body: JSON.stringify({ datasetRows: 9 }) });
}

interface SeenRequest {
  model: string;
  maxTokens?: number;
  asked: { role: string };
}

/** What the provider answered for one model, leaving out the endpoint preflight's one-token probes. */
async function callsFor(model: string): Promise<number> {
  const seen = (await (await control("/requests")).json()) as SeenRequest[];
  return seen.filter((r) => r.model === model && r.maxTokens !== 1).length;
}

// ---- jobs on the real node ----

/**
 * A two-node job on the real node, small enough for a CPU: 8 prompts of the Hub stand-in's dataset per epoch in
 * batches of 2 (4 steps an epoch), one future conversation per sample. Its user simulator and judge are models of
 * their own at the provider stand-in, so the calls of this job can be counted there.
 */
async function realNodeJob(ns: string, name: string, spec: Record<string, unknown> = {}) {
  await core.createNamespacedSecret({
    namespace: ns,
    body: { metadata: { name: "llm-keys" }, stringData: { OPENAI_API_KEY: `sk-stand-in-${ns}` } },
  });
  const endpoint = (model: string) => ({
    model,
    baseURL: PROVIDER.inCluster,
    apiKeySecretRef: { name: "llm-keys", key: "OPENAI_API_KEY" },
  });
  const body = {
    apiVersion: API_VERSION,
    kind: KIND,
    metadata: { name, namespace: ns },
    spec: {
      model: "Qwen/Qwen2.5-0.5B-Instruct",
      dataset: { source: "collabllm/collabllm-multiturn-math-hard", taskDescription: "solving math problems" },
      rl: { epochs: 2, batchSize: 2, miniBatchSize: 2, saveEvery: 2, validateEvery: 4 },
      rollout: {
        samplesPerPrompt: 1,
        agentWorkers: 2,
        multiTurn: { maxUserTurns: 1, maxAssistantTurns: 2, futureConversations: 1 },
      },
      resources: { nodes: 2, gpusPerNode: 1, memory: "3Gi" },
      scheduling: {
        nodeSelector: { [REAL_NODE_LABEL]: "true" },
        tolerations: [{ key: REAL_NODE_TAINT.key, operator: "Exists" }],
      },
      userSimulator: endpoint(`sim-${ns}`),
      judge: endpoint(`judge-${ns}`),
      reward: { metrics: { accuracy: 1, interactivity: 1, token_amount: -0.0001 } },
      storage: { size: "1Gi" },
      ...spec,
    },
  };
  await run("kubectl", ["apply", "-f", "-"], JSON.stringify(body));
}

async function phaseOf(ns: string, name: string): Promise<Job> {
  return getJob(ns, name);
}

// A loaded machine (CI runs other files beside these) has taken over four minutes from apply to a job's first step.
async function waitFor(ns: string, name: string, what: string, check: (job: Job) => boolean, timeoutMs = 420_000) {
  return eventually(
    `${name}: ${what}`,
    async () => {
      const job = await phaseOf(ns, name);
      return check(job) ? job : undefined;
    },
    timeoutMs,
  );
}

/** The directory on this machine behind the job's volume (a hostPath volume, so a real one). */
async function volumeDir(ns: string, job: string): Promise<string> {
  const claim = await core.readNamespacedPersistentVolumeClaim({ namespace: ns, name: `${job}-data` });
  const pv = await core.readPersistentVolume({ name: claim.spec!.volumeName! });
  return pv.spec!.hostPath!.path;
}

/**
 * Waits until the job's status counts every call the provider answered for it: the last pods' gateways send their
 * final report as their pods stop, which may be a moment after the job's phase says it is done. A report that never
 * arrives fails here.
 */
async function usageSettles(ns: string, name: string): Promise<void> {
  const counted = async () => {
    const usage = ((await phaseOf(ns, name)).status as any)?.usage ?? {};
    return { sim: usage.userSimulator?.requests, judge: usage.judge?.requests };
  };
  const answered = async () => ({ sim: await callsFor(`sim-${ns}`), judge: await callsFor(`judge-${ns}`) });
  await eventually(
    "the status counting every call the provider answered",
    async () => JSON.stringify(await counted()) === JSON.stringify(await answered()),
    60_000,
  ).catch(async (error) => {
    throw new Error(
      `${error}: status ${JSON.stringify(await counted())}, provider ${JSON.stringify(await answered())}`,
    );
  });
}

const step = (job: Job) => (job.status?.progress as { step?: number } | undefined)?.step ?? 0;
const secondsSince = (t0: number) => ((Date.now() - t0) / 1000).toFixed(1);

// ---- the tests ----

describe("the operator installed by its chart, on the real node", () => {
  it("runs two replicas of the built image as its ServiceAccount, one leading, probes passing, /metrics on the pod", async () => {
    run("kubectl", ["rollout", "status", `deployment/${RELEASE}`, "-n", OPERATOR_NS, "--timeout=180s"]);
    // The replicas of an earlier install may still be stopping.
    const pods = await eventually(
      "two replicas, none stopping",
      async () => {
        const all = (
          await core.listNamespacedPod({
            namespace: OPERATOR_NS,
            labelSelector: "app.kubernetes.io/name=collab-operator",
          })
        ).items;
        return all.length === 2 && all.every((p) => !p.metadata?.deletionTimestamp) ? all : undefined;
      },
      120_000,
    );
    for (const pod of pods) {
      expect(pod.spec?.nodeName).toBe(REAL_NODE);
      expect(pod.spec?.containers[0]?.image).toBe(images.operator.ref);
      expect(pod.status?.conditions?.find((c) => c.type === "Ready")?.status).toBe("True");
      // The projected token of its own ServiceAccount, mounted by the kubelet.
      expect(pod.spec?.serviceAccountName).toBe(RELEASE);
      expect(pod.spec?.volumes?.some((v) => v.projected?.sources?.some((s) => s.serviceAccountToken))).toBe(true);
      const metrics = await (await fetch(`http://${pod.status?.podIP}:8080/metrics`)).text();
      expect(metrics).toContain("collab_jobs");
    }
    const lease = JSON.parse(run("kubectl", ["get", "lease", RELEASE, "-n", OPERATOR_NS, "-o", "json"]));
    // The holder is a replica (its identity is the pod's name and a suffix of the process).
    expect(pods.map((p) => p.metadata?.name)).toContain(lease.spec.holderIdentity.split("_")[0]);
  });
});

describe("a two-node job on the real node", () => {
  it("goes from apply to Succeeded: preflight, dataset, sidecars before the trainer, Ray across pods, calls through both gateways, progress and usage over the report path", async () => {
    const ns = await testNamespace("rnjob");
    await freshProviders();
    const t0 = Date.now();
    await realNodeJob(ns, "two");
    const training = await waitFor(ns, "two", "Training", (j) => j.status?.phase === "Training");
    const tTraining = Date.now();
    const head = await eventually(
      "the head pod running with both sidecars started",
      async () => {
        const pod = (await listPods(ns)).find((p) => p.metadata?.name === "two-a0-head");
        return pod && containerStatus(pod, "trainer")?.state?.running ? pod : undefined;
      },
      300_000,
    );
    const tFirstStep = await eventually(
      "the first step on the status",
      async () => (step(await phaseOf(ns, "two")) >= 1 ? Date.now() : undefined),
      420_000,
    );
    process.stdout.write(
      `[real node] apply → Training ${secondsSince(t0)} s, Training → first step on the status ${((tFirstStep - tTraining) / 1000).toFixed(1)} s\n`,
    );
    // No training pod before the endpoints passed the preflight.
    expect((await phaseOf(ns, "two")).status?.conditions?.find((c) => c.type === "EndpointsReady")?.status).toBe(
      "True",
    );
    expect(training.status?.phase).toBe("Training");
    // Native sidecars: both gateways started (their startup probes passed) before the trainer.
    const started = (name: string) =>
      new Date(
        containerStatus(head, name)!.state!.running?.startedAt ??
          containerStatus(head, name)!.lastState?.running?.startedAt ??
          0,
      );
    for (const gateway of ["user-simulator", "judge"]) {
      expect(containerStatus(head, gateway)?.started).toBe(true);
      expect(started(gateway).getTime()).toBeLessThanOrEqual(started("trainer").getTime());
    }
    // No key anywhere but the gateways' environment: not in the trainer's, not in the rendered files.
    const trainerEnv = run("kubectl", ["exec", "-n", ns, "two-a0-head", "-c", "trainer", "--", "env"]);
    expect(trainerEnv).not.toContain(`sk-stand-in-${ns}`);
    expect(run("kubectl", ["get", "configmap", "-n", ns, "-o", "yaml"])).not.toContain(`sk-stand-in-${ns}`);
    // /dev/shm is the pod's memory-backed volume.
    expect(
      run("kubectl", ["exec", "-n", ns, "two-a0-head", "-c", "trainer", "--", "df", "--output=fstype", "/dev/shm"]),
    ).toContain("tmpfs");

    const done = await waitFor(ns, "two", "Succeeded", (j) => j.status?.phase === "Succeeded");
    const status = done.status as any;
    expect(status.restarts).toBe(0);
    expect(status.progress).toMatchObject({ step: 8, totalSteps: 8 });
    expect(status.progress.reward).toBeGreaterThan(1);
    // Every call of the job passed a gateway and reached the status: the provider's count is the status'.
    await usageSettles(ns, "two");
    expect(status.usage.judge.requests).toBeGreaterThan(0);
    // Ray formed one cluster of both pods: each node's agent-loop worker ran on its own pod (the head's log says).
    const dir = await volumeDir(ns, "two");
    const log = readFileSync(join(dir, "logs", "rl-two-a0-head.log"), "utf8");
    expect(log).toMatch(
      /rollout workers on \['two-a0-head', 'two-a0-worker-1'\]|rollout workers on \['two-a0-worker-1', 'two-a0-head'\]/,
    );
    expect(readFileSync(join(dir, "checkpoints/rl/latest_checkpointed_iteration.txt"), "utf8")).toBe("8");
    expect(readFileSync(join(dir, "models/final/merged_from.json"), "utf8")).toContain("global_step_8/actor");
    // The stage's pods are gone or ended: the head by the end of its trainer, the worker by the operator.
    // The stage ends: the head's trainer ended its pod, the operator stops the worker (it may still be stopping).
    const left = (await listPods(ns)).filter(
      (p) => p.metadata?.name?.startsWith("two-a0-") && p.status?.phase === "Running" && !p.metadata.deletionTimestamp,
    );
    expect(left.map((p) => p.metadata?.name)).toEqual([]);
  }, 900_000);
});

describe("failures on the real node", () => {
  it("the trainer killed at its memory limit: a counted restart, and attempt 1 resumes from attempt 0's checkpoint", async () => {
    const ns = await testNamespace("rnoom");
    await freshProviders({ latencyMs: 300 });
    await realNodeJob(ns, "oom");
    await waitFor(ns, "oom", "step 3 (a checkpoint at step 2)", (j) => step(j) >= 3);
    const dir = await volumeDir(ns, "oom");
    const before = Number(readFileSync(join(dir, "checkpoints/rl/latest_checkpointed_iteration.txt"), "utf8"));
    writeFileSync(join(dir, ".collab-cpu-faults.json"), JSON.stringify({ oom: true }));
    const restarted = await waitFor(ns, "oom", "a restart", (j) => ((j.status as any)?.restarts ?? 0) >= 1);
    expect((restarted.status as any).lastRestart).toMatchObject({ counted: true, exitCode: 137, container: "trainer" });
    expect((restarted.status as any).lastRestart.message).toContain("OOMKilled");
    await control("/settings", { latencyMs: 0 });
    const done = await waitFor(ns, "oom", "Succeeded", (j) => j.status?.phase === "Succeeded", 300_000);
    expect((done.status as any).attempt).toBe(1);
    // Attempt 1 resumed from the last checkpoint attempt 0 wrote on the volume (at least the one seen before the
    // kill), and trained from the step after it.
    // (Attempt 0's TaskRunner may save a step or two more after its driver is killed and before the container is:
    // their lines are lost with the driver, the checkpoint is not.)
    const second = readFileSync(join(dir, "logs", "rl-oom-a1-head.log"), "utf8");
    const resumed = Number(
      /Load from checkpoint folder: \/collab\/checkpoints\/rl\/global_step_(\d+)/.exec(second)?.[1],
    );
    expect(resumed).toBeGreaterThanOrEqual(before);
    expect(/ step:(\d+) - /.exec(second)?.[1]).toBe(String(resumed + 1));
    expect((done.status as any).progress).toMatchObject({ step: 8, totalSteps: 8 });
  }, 900_000);

  it("the head evicted: SIGTERM reaches the trainer and the gateways, their last report arrives, and the restart is not counted", async () => {
    const ns = await testNamespace("rnevict");
    await freshProviders({ latencyMs: 300 });
    await realNodeJob(ns, "ev");
    await waitFor(ns, "ev", "step 2", (j) => step(j) >= 2);
    const t0 = Date.now();
    await core.createNamespacedPodEviction({
      namespace: ns,
      name: "ev-a0-head",
      body: { apiVersion: "policy/v1", kind: "Eviction", metadata: { name: "ev-a0-head", namespace: ns } },
    });
    const gone = await eventually(
      "the evicted head gone",
      async () => ((await listPods(ns)).some((p: V1Pod) => p.metadata?.name === "ev-a0-head") ? undefined : Date.now()),
      120_000,
    );
    // Stopped by its signal, long before the 30 s grace period would have killed it.
    expect(gone - t0).toBeLessThan(25_000);
    const dir = await volumeDir(ns, "ev");
    // The driver got it (Ray's handler in the driver says so), through the launch script, which is PID 1.
    expect(readFileSync(join(dir, "logs", "rl-ev-a0-head.log"), "utf8")).toContain("SIGTERM received");
    await control("/settings", { latencyMs: 0 });
    const done = await waitFor(ns, "ev", "Succeeded", (j) => j.status?.phase === "Succeeded", 300_000);
    const status = done.status as any;
    expect(status.restarts).toBe(0);
    expect(status.attempt).toBe(1);
    expect(status.lastRestart).toMatchObject({ counted: false });
    // The evicted pod's gateways reported what they had metered before they stopped: nothing is missing.
    await usageSettles(ns, "ev");
  }, 900_000);

  it("the kubelet restarted under a running job: the pods keep running and the job carries on to Succeeded", async () => {
    const ns = await testNamespace("rnkubelet");
    await freshProviders({ latencyMs: 200 });
    await realNodeJob(ns, "kr");
    await waitFor(ns, "kr", "step 2", (j) => step(j) >= 2);
    await restart("kubelet");
    await control("/settings", { latencyMs: 0 });
    const done = await waitFor(ns, "kr", "Succeeded", (j) => j.status?.phase === "Succeeded", 300_000);
    expect(done.status as any).toMatchObject({ restarts: 0, attempt: 0, disruptions: 0 });
  }, 900_000);
});
