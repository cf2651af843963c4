// The operator process against the real control plane: stages in order on fake GPU nodes picked by the real
// scheduler, success and failure driven by pod outcome annotations, Secrets that come late or go away, and
// garbage collection on deletion.
import { execFileSync } from "node:child_process";
import type { V1Pod } from "@kubernetes/client-node";
import { describe, expect, it } from "vitest";
import { binaries, KUBECONFIG } from "../cluster/cluster.ts";
import { HOPPER_PRODUCT } from "../cluster/fleet.ts";
import { core, testNamespace } from "./kube.ts";
import {
  condition,
  createJob,
  createSecret,
  eventually,
  finishPod,
  getJob,
  listPods,
  startOperator,
  waitForPhase,
  waitRunning,
} from "./operator.ts";

const names = (pods: V1Pod[]) => pods.map((p) => p.metadata?.name).sort();

describe("CollabTrainingJob reconciler", () => {
  it("runs Preparing, FineTuning and Training in order and succeeds when the head does", async () => {
    const ns = await testNamespace("stages");
    startOperator(ns);
    await createJob(ns, "job", {
      spec: {
        sft: { enabled: true },
        rl: { batchSize: 16, miniBatchSize: 8 },
        resources: { nodes: 2, gpuProduct: HOPPER_PRODUCT },
      },
    });

    // Preparing: one CPU pod, and nothing on a GPU yet.
    await waitRunning(ns, "job-a0-prepare");
    await waitForPhase(ns, "job", "Preparing");
    expect(names(await listPods(ns))).toEqual(["job-a0-prepare"]);
    await finishPod(ns, "job-a0-prepare", "Succeeded");

    // FineTuning: one GPU pod on a Hopper node.
    const sft = await waitRunning(ns, "job-a0-sft");
    expect(sft.spec?.nodeName).toMatch(/^gpu-h100-/);
    expect((await waitForPhase(ns, "job", "FineTuning")).status?.stage).toBe("FineTuning");
    await finishPod(ns, "job-a0-sft", "Succeeded");

    // Training: the head and one worker, each on its own H100 node (8 GPUs each fill a node).
    const head = await waitRunning(ns, "job-a0-head");
    const worker = await waitRunning(ns, "job-a0-worker-1");
    expect(head.spec?.nodeName).toMatch(/^gpu-h100-/);
    expect(worker.spec?.nodeName).toMatch(/^gpu-h100-/);
    expect(head.spec?.nodeName).not.toBe(worker.spec?.nodeName);
    const training = await waitForPhase(ns, "job", "Training");
    expect(condition(training, "DatasetReady")?.status).toBe("True");
    expect(condition(training, "FineTuned")?.status).toBe("True");
    expect(condition(training, "Reconciling")?.status).toBe("True");
    await eventually(
      "PodsScheduled",
      async () => condition(await getJob(ns, "job"), "PodsScheduled")?.status === "True",
    );
    // PodsScheduled turns True once both pods have a node, which can be before the worker is Running in the cache the
    // status was written from: its running count may only come with a later reconcile.
    const workerRole = await eventually("worker counted running", async () => {
      const role = (await getJob(ns, "job")).status?.roles?.find((r) => r.name === "worker");
      return role?.running === 1 ? role : undefined;
    });
    expect(workerRole).toMatchObject({ desired: 1, running: 1 });

    await finishPod(ns, "job-a0-head", "Succeeded");
    const done = await waitForPhase(ns, "job", "Succeeded");
    expect(condition(done, "Succeeded")).toMatchObject({ status: "True", reason: "TrainingSucceeded" });
    expect(condition(done, "Reconciling")?.status).toBe("False");
    expect(done.status?.completionTime).toBeDefined();
    // Ray workers never exit on their own: the finished job frees their GPUs.
    await eventually(
      "worker deleted",
      async () => !(await listPods(ns)).some((p) => p.metadata?.name === "job-a0-worker-1"),
    );
    // kubectl wait works on the Succeeded condition.
    const kubectl = `${binaries()}/kubectl`;
    execFileSync(kubectl, [
      "--kubeconfig",
      KUBECONFIG,
      "-n",
      ns,
      "wait",
      "--for=condition=Succeeded",
      "ctj/job",
      "--timeout=10s",
    ]);
  });

  it("builds GPU pods the way the design says", async () => {
    const ns = await testNamespace("pods");
    startOperator(ns);
    await createJob(ns, "job", { spec: { resources: { gpuProduct: HOPPER_PRODUCT } } });
    await finishPod(ns, "job-a0-prepare", "Succeeded");
    const head = await waitRunning(ns, "job-a0-head");
    const job = await getJob(ns, "job");

    expect(head.metadata?.ownerReferences?.[0]).toMatchObject({
      kind: "CollabTrainingJob",
      name: "job",
      uid: job.metadata.uid,
      controller: true,
    });
    expect(head.metadata?.labels).toMatchObject({
      "app.kubernetes.io/managed-by": "collab-operator",
      "collabllm.io/job-name": "job",
    });
    expect(head.metadata?.annotations).toMatchObject({
      "cluster-autoscaler.kubernetes.io/safe-to-evict": "false",
      "karpenter.sh/do-not-disrupt": "true",
    });
    expect(head.spec?.automountServiceAccountToken).toBe(false);
    expect(head.spec?.nodeSelector).toEqual({ "nvidia.com/gpu.product": HOPPER_PRODUCT });
    expect(head.spec?.tolerations).toContainEqual(
      expect.objectContaining({ key: "nvidia.com/gpu", operator: "Exists" }),
    );
    const trainer = head.spec?.containers.find((c) => c.name === "trainer");
    expect(trainer?.resources?.limits?.["nvidia.com/gpu"]).toBe("8");
    expect(head.spec?.volumes).toContainEqual(
      expect.objectContaining({ name: "shm", emptyDir: { medium: "Memory", sizeLimit: "64Gi" } }),
    );
    // Native sidecars, and only they see the user's Secret.
    const sidecars = head.spec?.initContainers ?? [];
    expect(sidecars.map((c) => [c.name, c.restartPolicy])).toEqual([
      ["user-simulator", "Always"],
      ["judge", "Always"],
    ]);
    const userSecretRefs = (c: { env?: { valueFrom?: { secretKeyRef?: { name?: string } } }[] }) =>
      (c.env ?? []).filter((e) => e.valueFrom?.secretKeyRef?.name === "llm-keys");
    expect(userSecretRefs(trainer ?? {})).toEqual([]);
    for (const sidecar of sidecars) expect(userSecretRefs(sidecar)).toHaveLength(1);
    expect(trainer?.env?.find((e) => e.name === "OPENAI_API_KEY")?.valueFrom?.secretKeyRef?.name).toBe("job-token");
    // The children the pods need, all owned by the job.
    for (const [kind, read] of [
      ["ConfigMap", () => core.readNamespacedConfigMap({ namespace: ns, name: "job-config" })],
      ["Service", () => core.readNamespacedService({ namespace: ns, name: "job-ray" })],
      ["Secret", () => core.readNamespacedSecret({ namespace: ns, name: "job-token" })],
    ] as const) {
      const obj = await read();
      expect(obj.metadata?.ownerReferences?.[0]?.uid, kind).toBe(job.metadata.uid);
    }
  });

  it("fails the job with the pod, container, exit code and reason, and frees the other GPUs", async () => {
    const ns = await testNamespace("fail");
    startOperator(ns);
    await createJob(ns, "job", {
      spec: { rl: { batchSize: 16, miniBatchSize: 8 }, resources: { nodes: 2 }, failurePolicy: { maxRestarts: 0 } },
    });
    await finishPod(ns, "job-a0-prepare", "Succeeded");
    await waitRunning(ns, "job-a0-head");
    await waitRunning(ns, "job-a0-worker-1");
    await finishPod(ns, "job-a0-worker-1", "Failed", 137);

    const failed = await waitForPhase(ns, "job", "Failed");
    const message = condition(failed, "Failed")?.message ?? "";
    expect(condition(failed, "Failed")?.reason).toBe("MaxRestartsExceeded");
    expect(message).toContain("job-a0-worker-1");
    expect(message).toContain("failurePolicy.maxRestarts (0) is spent");
    expect(message).toContain("trainer");
    expect(message).toContain("137");
    expect(condition(failed, "Stalled")?.status).toBe("True");
    await eventually("head deleted", async () => !(await listPods(ns)).some((p) => p.metadata?.name === "job-a0-head"));
  });

  it("waits for a missing Secret without requesting a GPU, then proceeds by itself", async () => {
    const ns = await testNamespace("secret");
    startOperator(ns);
    await createJob(ns, "job", {}, false);
    const waiting = await eventually("SecretsReady False", async () => {
      const job = await getJob(ns, "job");
      return condition(job, "SecretsReady")?.status === "False" ? job : undefined;
    });
    expect(condition(waiting, "SecretsReady")?.message).toContain("Secret llm-keys not found");
    expect(condition(waiting, "SecretsReady")?.message).toContain("spec.userSimulator.apiKeySecretRef");
    expect(waiting.status?.phase).toBe("Pending");
    // The Event is recorded after the status write, so it may land a moment later.
    await eventually("SecretNotFound Event", async () => {
      const events = await core.listNamespacedEvent({ namespace: ns });
      return events.items.some((e) => e.type === "Warning" && e.reason === "SecretNotFound");
    });
    expect(await listPods(ns)).toEqual([]);

    // A Secret without the key is still not enough, and says which key.
    await createSecret(ns, "llm-keys", "WRONG_KEY");
    await eventually("missing key named", async () =>
      condition(await getJob(ns, "job"), "SecretsReady")?.message.includes("has no key OPENAI_API_KEY"),
    );
    await core.deleteNamespacedSecret({ namespace: ns, name: "llm-keys" });
    await createSecret(ns);
    await waitRunning(ns, "job-a0-prepare");
    // The pod is applied before the status that says SecretsReady True is written, so that may land a moment later.
    await eventually(
      "SecretsReady True",
      async () => condition(await getJob(ns, "job"), "SecretsReady")?.status === "True",
    );
  });

  it("keeps running pods when a referenced Secret is deleted, and says so", async () => {
    const ns = await testNamespace("secret-gone");
    startOperator(ns);
    await createJob(ns, "job");
    await finishPod(ns, "job-a0-prepare", "Succeeded");
    await waitRunning(ns, "job-a0-head");
    await core.deleteNamespacedSecret({ namespace: ns, name: "llm-keys" });
    const job = await eventually("SecretsReady False", async () => {
      const j = await getJob(ns, "job");
      return condition(j, "SecretsReady")?.status === "False" ? j : undefined;
    });
    expect(job.status?.phase).toBe("Training");
    expect((await listPods(ns)).find((p) => p.metadata?.name === "job-a0-head")?.status?.phase).toBe("Running");
  });

  it("deletes every child with the job and keeps the volume unless told otherwise", async () => {
    const ns = await testNamespace("gc");
    startOperator(ns);
    await createJob(ns, "kept");
    await createJob(ns, "dropped", { spec: { storage: { size: "10Gi", reclaimPolicy: "Delete" } } });
    await waitRunning(ns, "kept-a0-prepare");
    await waitRunning(ns, "dropped-a0-prepare");
    const { custom } = await import("./kube.ts");
    const { jobApi } = await import("./operator.ts");
    for (const name of ["kept", "dropped"]) {
      await custom.deleteNamespacedCustomObject({ ...jobApi, namespace: ns, name });
    }
    await eventually(
      "children garbage-collected",
      async () => {
        const [pods, cms, svcs, secrets] = await Promise.all([
          listPods(ns),
          core.listNamespacedConfigMap({
            namespace: ns,
            labelSelector: "app.kubernetes.io/managed-by=collab-operator",
          }),
          core.listNamespacedService({ namespace: ns }),
          core.listNamespacedSecret({ namespace: ns, labelSelector: "app.kubernetes.io/managed-by=collab-operator" }),
        ]);
        return pods.length + cms.items.length + svcs.items.length + secrets.items.length === 0;
      },
      90_000,
    );
    const claims = await eventually(
      "the Delete volume gone",
      async () => {
        const list = (await core.listNamespacedPersistentVolumeClaim({ namespace: ns })).items;
        return list.some((c) => c.metadata?.name === "dropped-data") ? undefined : list;
      },
      90_000,
    );
    expect(claims.map((c) => c.metadata?.name)).toEqual(["kept-data"]);
  }, 300_000); // two 90 s garbage-collection waits do not fit the default 120 s
});
