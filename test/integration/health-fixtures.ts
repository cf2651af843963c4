// Records CollabTrainingJobs from the real operator on the local control plane, one in every phase and failure
// reason the operator can reach today, as the health checks see them (the full object with its status). They are
// the fixtures the Argo CD health script and kstatus are tested on (test/unit/packaging/health.test.ts).
//
// Re-record after the operator learns a new phase or reason (add its scenario below, then its expected verdicts in
// test/unit/packaging/health.test.ts):
//   npm run fixtures:health        (the local cluster is started if needed; writes test/fixtures/health/*.json)
//
// Each state is waited for with `kubectl wait`, the commands docs/gitops.md shows. Objects are normalized (names of
// namespaces, uids, times, resourceVersions, managedFields) so that a re-recording only differs where the operator
// changed.
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { PatchStrategy, setHeaderOptions } from "@kubernetes/client-node";
import { parse, stringify } from "yaml";
import { childName } from "../../src/children/meta.ts";
import { TOKEN_KEY } from "../../src/children/support.ts";
import { applyObject, deleteObject } from "../../src/runtime/index.ts";
import { ROOT } from "../cluster/cluster.ts";
import { KUEUE_NAMESPACE_LABEL, kueueQueue } from "../cluster/kueue.ts";
import { run, runAsync } from "../cluster/tools.ts";
import { postReport } from "./core-scenario.ts";
import { core, custom, kc, testNamespace } from "./kube.ts";
import {
  createJob,
  createSecret,
  finishPod,
  jobApi,
  type OperatorProcess,
  startOperator,
  waitRunning,
} from "./operator.ts";

export const FIXTURES = join(ROOT, "test/fixtures/health");

const FIXED_TIME = "2026-01-01T00:00:00Z";
const NAMESPACE = "ml";

/** `kubectl wait` on a job, as a user would (docs/gitops.md). */
async function kubectlWait(ns: string, name: string, condition: string, timeout = "60s"): Promise<void> {
  await runAsync("kubectl", ["wait", "-n", ns, `ctj/${name}`, `--for=${condition}`, `--timeout=${timeout}`]);
}

function getJSON(ns: string, name: string): Record<string, any> {
  return JSON.parse(run("kubectl", ["get", "-n", ns, `ctj/${name}`, "-o", "json"]));
}

/** The object as kubectl returns it, with what varies between recordings fixed. */
export function normalize(job: Record<string, any>, ns: string): Record<string, any> {
  // Gang names carry a piece of the job's uid (src/children/gang.ts).
  const uidPiece = String(job.metadata?.uid ?? "")
    .replaceAll("-", "")
    .slice(0, 6);
  let text = JSON.stringify(job).replaceAll(ns, NAMESPACE);
  if (uidPiece) text = text.replaceAll(`-${uidPiece}`, "-000000");
  // So do the names of Kueue's single-pod Workloads (pod-<pod>-<a hash of the pod's uid>).
  text = text.replace(/(Kueue workload pod-[a-z0-9.-]+)-[0-9a-f]{5}\b/g, "$1-00000");
  // And Kueue's pod set names hash the pod's shape, which changes with any field the operator adds to its pods.
  text = text.replace(/\bpod set [0-9a-f]{8}\b/g, "pod set 00000000");
  // Messages name times too (a deadline, since when a pod terminates).
  text = text.replace(/\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z/g, FIXED_TIME);
  const out = JSON.parse(text);
  const { managedFields: _m, resourceVersion: _r, ...metadata } = out.metadata;
  out.metadata = { ...metadata, uid: "00000000-0000-4000-8000-000000000000" };
  return out;
}

const patchJob = (ns: string, name: string, body: unknown) =>
  custom.patchNamespacedCustomObject(
    { ...jobApi, namespace: ns, name, body },
    setHeaderOptions("Content-Type", PatchStrategy.MergePatch),
  );

// One GPU per pod, so the fleet's six GPU nodes hold every scenario's pods at once.
const TWO_NODES = { resources: { nodes: 2, gpusPerNode: 1 } };

/** A job in Training with both pods running. */
async function training(ns: string, name: string, spec: Record<string, unknown> = {}) {
  await createJob(ns, name, { spec: { ...TWO_NODES, ...spec } });
  await finishPod(ns, childName.pod(name, "prepare", 0), "Succeeded");
  await waitRunning(ns, childName.pod(name, "head", 0));
  await waitRunning(ns, childName.pod(name, "worker", 0, 1));
  await kubectlWait(ns, name, "jsonpath={.status.phase}=Training");
  await kubectlWait(ns, name, "jsonpath={.status.roles[1].running}=1"); // head
  await kubectlWait(ns, name, "jsonpath={.status.roles[2].running}=1"); // worker
}

/**
 * A job admitted before a stricter CRD: the CRD is loosened for one create (spec.model may be empty), then put back;
 * the stored spec stays, and the operator cannot parse it.
 */
async function storedInvalid(ns: string, name: string) {
  const crdFile = join(ROOT, "crds/collabllm.io_collabtrainingjobs.yaml");
  const crd = parse(readFileSync(crdFile, "utf8"));
  delete crd.spec.versions[0].schema.openAPIV3Schema.properties.spec.properties.model.minLength;
  run("kubectl", ["apply", "--server-side", "--force-conflicts", "-f", "-"], stringify(crd));
  try {
    await createSecret(ns);
    for (let i = 0; ; i++) {
      try {
        await createJob(ns, name, { spec: { model: "" } });
        break;
      } catch (err) {
        if (i > 50) throw err; // the apiserver takes a moment to serve the loosened schema
        await new Promise((r) => setTimeout(r, 200));
      }
    }
  } finally {
    run("kubectl", ["apply", "--server-side", "--force-conflicts", "-f", crdFile]);
  }
}

/**
 * A Kueue ClusterQueue with CPU and memory but no GPU quota, so the training pods queued through its LocalQueue
 * `no-gpus` wait, for GPUs only (Kueue names one short resource, so only one may be short). Fixed names: Kueue's
 * messages name them. Removed by the returned function.
 */
async function queueWithoutGpus(ns: string): Promise<() => Promise<void>> {
  const { flavor, clusterQueue, localQueue } = kueueQueue("health-no-gpus", { cpu: "64", memory: "256Gi", gpus: "0" });
  const local = localQueue(ns, "no-gpus");
  for (const obj of [flavor, clusterQueue, local]) await applyObject(kc, obj, "health-fixtures");
  return async () => {
    for (const obj of [local, clusterQueue, flavor])
      await deleteObject(kc, { apiVersion: obj.apiVersion, kind: obj.kind, ...obj.metadata }).catch(() => undefined);
  };
}

/** Records every fixture into `dir`; returns their names. */
export async function recordHealthFixtures(dir: string): Promise<string[]> {
  mkdirSync(dir, { recursive: true });
  const ns = await testNamespace("health", { [KUEUE_NAMESPACE_LABEL]: "true" });
  const removeQueue = await queueWithoutGpus(ns);
  const written: string[] = [];
  const save = (name: string, fixture = name) => {
    writeFileSync(join(dir, `${fixture}.json`), `${JSON.stringify(normalize(getJSON(ns, name), ns), null, 2)}\n`);
    written.push(fixture);
  };

  // Before any operator has seen it.
  await createJob(ns, "no-status");
  save("no-status");
  await storedInvalid(ns, "invalid-spec");

  let operator: OperatorProcess = startOperator(ns);
  const scenarios: Record<string, () => Promise<void>> = {
    "invalid-spec": () => kubectlWait(ns, "invalid-spec", "condition=Stalled"),
    "secret-not-found": async () => {
      const judge = { model: "gpt-4o-mini", apiKeySecretRef: { name: "missing-keys", key: "OPENAI_API_KEY" } };
      await createJob(ns, "secret-not-found", { spec: { judge } });
      await kubectlWait(ns, "secret-not-found", "condition=Stalled");
    },
    preparing: async () => {
      await createJob(ns, "preparing");
      await kubectlWait(ns, "preparing", "jsonpath={.status.phase}=Preparing");
      await waitRunning(ns, childName.pod("preparing", "prepare", 0));
      await kubectlWait(ns, "preparing", "condition=PodsScheduled");
    },
    unschedulable: async () => {
      await createJob(ns, "unschedulable", {
        spec: { resources: { ...TWO_NODES.resources, gpuProduct: "NVIDIA-B200" } },
      });
      await finishPod(ns, childName.pod("unschedulable", "prepare", 0), "Succeeded");
      await kubectlWait(ns, "unschedulable", "condition=PodsScheduled=False");
    },
    "fine-tuning": async () => {
      await createJob(ns, "fine-tuning", { spec: { ...TWO_NODES, sft: { enabled: true } } });
      await finishPod(ns, childName.pod("fine-tuning", "prepare", 0), "Succeeded");
      await waitRunning(ns, childName.pod("fine-tuning", "sft", 0));
      await kubectlWait(ns, "fine-tuning", "jsonpath={.status.phase}=FineTuning");
    },
    training: () => training(ns, "training"),
    succeeded: async () => {
      await training(ns, "succeeded");
      await finishPod(ns, childName.pod("succeeded", "head", 0), "Succeeded");
      await kubectlWait(ns, "succeeded", "condition=Succeeded");
    },
    "max-restarts-exceeded": async () => {
      await training(ns, "max-restarts-exceeded", { failurePolicy: { maxRestarts: 0 } });
      await finishPod(ns, childName.pod("max-restarts-exceeded", "head", 0), "Failed", 1);
      await kubectlWait(ns, "max-restarts-exceeded", "condition=Failed");
    },
    "pod-failure-policy": async () => {
      const rules = [{ action: "FailJob", onExitCodes: { operator: "In", values: [42] } }];
      await training(ns, "pod-failure-policy", { failurePolicy: { rules } });
      await finishPod(ns, childName.pod("pod-failure-policy", "worker", 0, 1), "Failed", 42);
      await kubectlWait(ns, "pod-failure-policy", "condition=Failed");
    },
    restarting: async () => {
      // Held by a finalizer, the deleted pod keeps the next attempt waiting: the job is Restarting.
      await training(ns, "restarting");
      const pod = childName.pod("restarting", "worker", 0, 1);
      await core.patchNamespacedPod(
        { namespace: ns, name: pod, body: { metadata: { finalizers: ["collabllm.io/test-hold"] } } },
        setHeaderOptions("Content-Type", PatchStrategy.MergePatch),
      );
      await core.deleteNamespacedPod({ namespace: ns, name: pod });
      await kubectlWait(ns, "restarting", "jsonpath={.status.phase}=Restarting");
      await kubectlWait(ns, "restarting", "jsonpath={.status.attempt}=1");
    },
    "deadline-exceeded": async () => {
      await createJob(ns, "deadline-exceeded", { spec: { activeDeadlineSeconds: 1 } });
      await kubectlWait(ns, "deadline-exceeded", "condition=Failed");
    },
    "child-rejected": async () => {
      await createJob(ns, "child-rejected", { spec: { scheduling: { priorityClassName: "no-such-class" } } });
      await kubectlWait(ns, "child-rejected", "condition=ChildrenCreated=False");
    },
    queued: async () => {
      await createJob(ns, "queued", { spec: { ...TWO_NODES, scheduling: { queueName: "no-gpus" } } });
      await finishPod(ns, childName.pod("queued", "prepare", 0), "Succeeded");
      await kubectlWait(ns, "queued", "jsonpath={.status.phase}=Training");
      await kubectlWait(ns, "queued", "condition=Queued");
    },
    "queue-inadmissible": async () => {
      await createJob(ns, "queue-inadmissible", { spec: { scheduling: { queueName: "no-such-queue" } } });
      await kubectlWait(ns, "queue-inadmissible", "condition=Stalled");
    },
    "claim-not-found": async () => {
      await createJob(ns, "claim-not-found", { spec: { storage: { existingClaim: "no-such-claim" } } });
      await kubectlWait(ns, "claim-not-found", "condition=StorageReady=False");
    },
    suspended: async () => {
      await training(ns, "suspended");
      await patchJob(ns, "suspended", { spec: { suspend: true } });
      await kubectlWait(ns, "suspended", "condition=Suspended");
    },
    "budget-exceeded": async () => {
      await training(ns, "budget-exceeded", { budget: { maxTokens: 10, onExhausted: "Wait" } });
      const secret = await core.readNamespacedSecret({ namespace: ns, name: childName.token("budget-exceeded") });
      const token = Buffer.from(secret.data?.[TOKEN_KEY] ?? "", "base64").toString();
      const head = childName.pod("budget-exceeded", "head", 0);
      const answer = await postReport(await operator.reportPort(), ns, "budget-exceeded", token, head);
      if (answer.status !== 200) throw new Error(`report refused: ${answer.status} ${answer.body}`);
      await kubectlWait(ns, "budget-exceeded", "condition=BudgetExceeded");
    },
    "pod-lost": () => training(ns, "pod-lost", { failurePolicy: { maxDisruptions: 0 } }),
    "generation-not-observed": () => training(ns, "generation-not-observed"),
  };
  await Promise.all(Object.values(scenarios).map((s) => s()));
  for (const name of Object.keys(scenarios)) if (name !== "pod-lost" && name !== "generation-not-observed") save(name);
  await core.patchNamespacedPod(
    { namespace: ns, name: childName.pod("restarting", "worker", 0, 1), body: { metadata: { finalizers: null } } },
    setHeaderOptions("Content-Type", PatchStrategy.MergePatch),
  );

  // With the operator down: a pod force-deleted (gone without a trace: PodLost when it comes back), and a spec
  // changed (the status describes an older generation until it comes back).
  await operator.stop();
  await core.deleteNamespacedPod({
    namespace: ns,
    name: childName.pod("pod-lost", "worker", 0, 1),
    gracePeriodSeconds: 0,
  });
  await patchJob(ns, "generation-not-observed", { spec: { budget: { maxTokens: 1_000_000 } } });
  save("generation-not-observed");
  operator = startOperator(ns);
  await kubectlWait(ns, "pod-lost", "condition=Failed");
  save("pod-lost");

  // Being deleted (held by a finalizer of someone else's, as a GitOps tool's or a backup's could be).
  await patchJob(ns, "training", { metadata: { finalizers: ["collabllm.io/test-hold"] } });
  await custom.deleteNamespacedCustomObject({ ...jobApi, namespace: ns, name: "training" });
  save("training", "deleting");
  await patchJob(ns, "training", { metadata: { finalizers: null } });
  await operator.stop();
  await removeQueue();
  return written.sort();
}
