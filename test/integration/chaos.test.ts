// Chaos against the real operator process on the real control plane: an operator killed mid-creation, two replicas
// with leader election losing their leader (SIGKILL and SIGTERM), the apiserver restarted under a running operator,
// an idle job proven write-free through the apiserver's own request counters, a node deleted under a running job,
// and what `kubectl describe` tells the user. Every test that changes the cluster restores it in `finally`.
//
// The idle-writes test reads apiserver_request_total, which has no namespace label: it assumes no other test writes
// to the cluster during its minute (integration files run one at a time: fileParallelism is false). Someone else's
// tests on the same cluster fail it (seen: PATCH events 404 from the controllers' event folding in namespaces being
// deleted); run it alone.
import { execFileSync } from "node:child_process";
import {
  CoordinationV1Api,
  type CoreV1Event,
  type KubernetesObject,
  PatchStrategy,
  setHeaderOptions,
  type V1Pod,
  Watch,
} from "@kubernetes/client-node";
import { describe, expect, it } from "vitest";
import { stringify } from "yaml";
import { apiGet, binaries, KUBECONFIG, kubectl, restart, up } from "../cluster/cluster.ts";
import { FLEET, nodeObject } from "../cluster/fleet.ts";
import { core, custom, kc, testNamespace } from "./kube.ts";
import {
  condition,
  createJob,
  eventually,
  finishPod,
  getJob,
  jobApi,
  listPods,
  type OperatorProcess,
  startOperator,
  waitForPhase,
  waitRunning,
} from "./operator.ts";

const coordination = kc.makeApiClient(CoordinationV1Api);
const names = (pods: V1Pod[]) => pods.map((p) => p.metadata?.name ?? "").sort();
const alive = (op: OperatorProcess) => op.child.exitCode === null && op.child.signalCode === null;
const TWO_NODES = { rl: { batchSize: 16, miniBatchSize: 8 }, resources: { nodes: 2 } };

/** Waits until the status counts every training pod of `attempt` running: what a lost pod is told from. */
async function bothRunning(ns: string, attempt: number) {
  await eventually("both pods running in status", async () => {
    const status = (await getJob(ns, "job")).status;
    const roles = status?.roles ?? [];
    return (
      status?.attempt === attempt && roles.filter((r) => r.name !== "prepare").every((r) => r.running === r.desired)
    );
  });
}
const FOUR_NODES = { rl: { batchSize: 16, miniBatchSize: 8 }, resources: { nodes: 4 } };

/** The JSON log lines an operator printed with this message. */
function logLines(op: OperatorProcess, msg: string): Record<string, unknown>[] {
  return op
    .logs()
    .split("\n")
    .filter((l) => l.startsWith("{"))
    .map((l) => JSON.parse(l) as Record<string, unknown>)
    .filter((l) => l.msg === msg);
}

async function leaseHolder(namespace: string): Promise<string | undefined> {
  const lease = await coordination.readNamespacedLease({ namespace, name: "collab-operator" }).catch(() => undefined);
  return lease?.spec?.holderIdentity ?? undefined;
}

async function operatorEvents(namespace: string): Promise<CoreV1Event[]> {
  const events = await core.listNamespacedEvent({ namespace });
  return events.items.filter((e) => e.source?.component === "collab-operator");
}

/** Sums apiserver_request_total of the write verbs per resource, for the resources the operator writes. */
const WRITE_VERBS = new Set(["POST", "PUT", "PATCH", "DELETE", "APPLY"]);
const WATCHED_RESOURCES = new Set([
  "collabtrainingjobs",
  "pods",
  "configmaps",
  "services",
  "secrets",
  "persistentvolumeclaims",
  "events",
]);
async function writeCounts(): Promise<Map<string, number>> {
  const { status, body } = await apiGet("/metrics");
  expect(status).toBe(200);
  const counts = new Map<string, number>();
  for (const line of body.split("\n")) {
    if (!line.startsWith("apiserver_request_total{")) continue;
    const labels = Object.fromEntries([...line.matchAll(/(\w+)="([^"]*)"/g)].map((m) => [m[1], m[2]]));
    if (!WRITE_VERBS.has(labels.verb ?? "") || !WATCHED_RESOURCES.has(labels.resource ?? "")) continue;
    const key = `${labels.verb} ${labels.resource}${labels.subresource ? `/${labels.subresource}` : ""} ${labels.code}`;
    counts.set(key, (counts.get(key) ?? 0) + Number(line.slice(line.lastIndexOf(" ") + 1)));
  }
  return counts;
}

/** Sums the operator's own metric lines that match, from its /metrics on the port it logged. */
async function operatorMetric(op: OperatorProcess, line: RegExp): Promise<number> {
  const port = logLines(op, "serving /healthz, /readyz and /metrics")[0]?.port;
  const body = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  return body
    .split("\n")
    .filter((l) => line.test(l))
    .reduce((sum, l) => sum + Number(l.slice(l.lastIndexOf(" ") + 1)), 0);
}
/** reconcile_total, all results. */
const reconciles = (op: OperatorProcess) => operatorMetric(op, /^reconcile_total\{/);
/** Periodic resyncs of the jobs cache: after one, every job has been reconciled again since. */
const resyncs = (op: OperatorProcess) => operatorMetric(op, /^informer_resyncs_total\{kind="jobs@/);

/** Calls `onPod` for every pod added in the namespace until the returned stop is called. */
async function watchPods(namespace: string, onPod: (pod: V1Pod) => void): Promise<() => void> {
  const controller = await new Watch(kc).watch(
    `/api/v1/namespaces/${namespace}/pods`,
    {},
    (type: string, pod: V1Pod) => {
      if (type === "ADDED") onPod(pod);
    },
    () => {},
  );
  return () => controller.abort();
}

async function nodeReady(name: string): Promise<boolean> {
  const node = await core.readNode({ name }).catch(() => undefined);
  return (
    node?.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True") === true &&
    !node.spec?.taints?.some((t) => t.key.startsWith("node.kubernetes.io/"))
  );
}

describe("operator chaos", () => {
  it("an idle Training job causes zero API writes over a minute of resyncs", async () => {
    const ns = await testNamespace("idle");
    const operator = startOperator(ns, { resyncSeconds: 5 });
    await createJob(ns, "job", { spec: TWO_NODES });
    await finishPod(ns, "job-a0-prepare", "Succeeded");
    await waitRunning(ns, "job-a0-head");
    await waitRunning(ns, "job-a0-worker-1");
    // Settled: the status says what the world is (both pods Running and scheduled).
    await eventually("status settled", async () => {
      const job = await getJob(ns, "job");
      const running = job.status?.roles?.filter((r) => r.name !== "prepare").map((r) => r.running);
      return (
        job.status?.phase === "Training" &&
        condition(job, "PodsScheduled")?.status === "True" &&
        running?.join() === "1,1"
      );
    });
    // One full resync pass after settling, so Events recorded in the background are out before the window.
    const settled = await resyncs(operator);
    await eventually("a resync after settling", async () => (await resyncs(operator)) > settled, 30_000);

    // Quiet cluster: the namespaces of the test file before this one may still be emptied by the namespace controller.
    await eventually(
      "no namespace terminating",
      async () => (await core.listNamespace()).items.every((n) => n.status?.phase !== "Terminating"),
      120_000,
    );
    const before = await writeCounts();
    const reconcilesBefore = await reconciles(operator);
    const resyncsBefore = await resyncs(operator);
    await new Promise((r) => setTimeout(r, 60_000));
    const after = await writeCounts();
    const reconcilesAfter = await reconciles(operator);
    const resyncsAfter = await resyncs(operator);

    const writes = [...after]
      .filter(([k, v]) => v !== (before.get(k) ?? 0))
      .map(([k, v]) => `${k}: +${v - (before.get(k) ?? 0)}`);
    // Resyncs every 5 s reconciled the job during the window (≥ 5 of them), and none of them wrote.
    expect(resyncsAfter - resyncsBefore).toBeGreaterThanOrEqual(5);
    expect(reconcilesAfter - reconcilesBefore).toBeGreaterThanOrEqual(5);
    expect(writes).toEqual([]);
    expect(alive(operator)).toBe(true);
    console.log(
      `idle minute: ${resyncsAfter - resyncsBefore} resyncs, ${reconcilesAfter - reconcilesBefore} reconciles, ${writes.length} writes`,
    );

    // The counters do see writes: one annotation of a pod shows up as a PATCH.
    await core.patchNamespacedPod(
      { namespace: ns, name: "job-a0-head", body: { metadata: { annotations: { "chaos.collabllm.io/probe": "1" } } } },
      setHeaderOptions("Content-Type", PatchStrategy.MergePatch),
    );
    const probed = await writeCounts();
    const patches = (m: Map<string, number>) =>
      [...m].filter(([k]) => k.startsWith("PATCH pods ")).reduce((n, [, v]) => n + v, 0);
    expect(patches(probed)).toBeGreaterThan(patches(after));
  }, 240_000);

  it("an operator SIGKILLed while creating a 4-node job's pods leaves exactly those pods, all owned, after a restart", async () => {
    const ns = await testNamespace("kill");
    for (const round of [0, 1, 2]) {
      const name = `job${round}`;
      let operator = startOperator(ns);
      await createJob(ns, name, { spec: FOUR_NODES });
      let seenAtKill = -1;
      const stopWatch = await watchPods(ns, (pod) => {
        const role = pod.metadata?.labels?.["collabllm.io/role"];
        if (seenAtKill < 0 && pod.metadata?.labels?.["collabllm.io/job-name"] === name && role !== "prepare") {
          operator.child.kill("SIGKILL"); // the first training pod exists: the others are being created
          seenAtKill = 0;
        }
      });
      try {
        await finishPod(ns, `${name}-a0-prepare`, "Succeeded");
        await eventually("the operator killed", async () => !alive(operator));
      } finally {
        stopWatch();
      }
      const training = (await listPods(ns, `collabllm.io/job-name=${name}`)).filter(
        (p) => p.metadata?.labels?.["collabllm.io/role"] !== "prepare",
      );
      seenAtKill = training.length;
      console.log(`round ${round}: ${seenAtKill} of 4 training pods existed when the operator died`);

      operator = startOperator(ns);
      const expected = [`${name}-a0-head`, `${name}-a0-prepare`, ...[1, 2, 3].map((r) => `${name}-a0-worker-${r}`)];
      await eventually(
        "the 4 training pods",
        async () => names(await listPods(ns, `collabllm.io/job-name=${name}`)).length === 5,
      );
      const job = await waitForPhase(ns, name, "Training");
      // Scheduling decided (placed or told unschedulable), so nothing is still in flight.
      await eventually(
        "PodsScheduled decided",
        async () => condition(await getJob(ns, name), "PodsScheduled") !== undefined,
      );
      const pods = await listPods(ns);
      expect(names(pods.filter((p) => p.metadata?.name?.startsWith(`${name}-`)))).toEqual(expected.sort());
      // No orphan: every pod and labelled child in the namespace of this job is controlled by it.
      const children: KubernetesObject[] = [
        ...pods,
        ...(await core.listNamespacedConfigMap({ namespace: ns, labelSelector: `collabllm.io/job-name=${name}` }))
          .items,
        ...(await core.listNamespacedService({ namespace: ns, labelSelector: `collabllm.io/job-name=${name}` })).items,
        ...(await core.listNamespacedSecret({ namespace: ns, labelSelector: `collabllm.io/job-name=${name}` })).items,
      ].filter((o) => o.metadata?.name?.startsWith(`${name}-`));
      expect(children.length).toBeGreaterThanOrEqual(8); // 5 pods, config, ray service, token
      for (const child of children) {
        const owner = child.metadata?.ownerReferences?.find((o) => o.controller);
        expect(owner?.uid, child.metadata?.name).toBe(job.metadata.uid);
      }
      await operator.stop("SIGKILL");
      // Free the GPUs for the next round (the garbage collector deletes the pods).
      await custom.deleteNamespacedCustomObject({ ...jobApi, namespace: ns, name });
      await eventually(
        "the round's pods gone",
        async () => (await listPods(ns, `collabllm.io/job-name=${name}`)).length === 0,
        90_000,
      );
    }
  }, 600_000);

  it("with two replicas only the leader writes; the standby takes over after SIGKILL and at once after SIGTERM", async () => {
    const ns = await testNamespace("ha");
    const a = startOperator(ns, { leaderElect: true, identity: "a" });
    const firstHolder = await eventually("a leads", async () => {
      const holder = await leaseHolder(ns);
      return holder?.startsWith("a_") ? holder : undefined;
    });
    const b = startOperator(ns, { leaderElect: true, identity: "b" });
    await eventually("b serving", async () => logLines(b, "serving /healthz, /readyz and /metrics").length > 0);
    await createJob(ns, "job", { spec: TWO_NODES });
    await waitRunning(ns, "job-a0-prepare");
    await waitForPhase(ns, "job", "Preparing");
    await eventually("a's events", async () => (await operatorEvents(ns)).length > 0);

    // Exactly one writer: the lease names a, every Event is a's, and b never started its controllers.
    expect(await leaseHolder(ns)).toBe(firstHolder);
    expect(new Set((await operatorEvents(ns)).map((e) => e.reportingInstance))).toEqual(new Set(["a"]));
    expect(logLines(a, "applied").length).toBeGreaterThan(0);
    expect(logLines(b, "caches synced; starting workers")).toEqual([]);
    expect(logLines(b, "applied")).toEqual([]);
    expect(logLines(b, "became leader")).toEqual([]);

    // A crash: the lease is left to expire (15 s), then b takes it and carries the job into Training.
    const killedAt = Date.now();
    await a.stop("SIGKILL");
    const bHolder = await eventually(
      "b leads",
      async () => {
        const holder = await leaseHolder(ns);
        return holder?.startsWith("b_") ? holder : undefined;
      },
      60_000,
    );
    console.log(`takeover after SIGKILL: ${((Date.now() - killedAt) / 1000).toFixed(1)} s`);
    await finishPod(ns, "job-a0-prepare", "Succeeded");
    await waitForPhase(ns, "job", "Training");
    await waitRunning(ns, "job-a0-head");
    await eventually("b created the training pods", async () => {
      const created = (await operatorEvents(ns)).filter((e) => e.reason === "CreatedPod");
      return created.some((e) => e.message === "created pod job-a0-head" && e.reportingInstance === "b");
    });

    // Graceful: a comes back as the standby; SIGTERM makes b drain and release the lease, and a takes it at once.
    const a2 = startOperator(ns, { leaderElect: true, identity: "a" });
    await eventually("a2 serving", async () => logLines(a2, "serving /healthz, /readyz and /metrics").length > 0);
    expect(await leaseHolder(ns)).toBe(bHolder);
    expect(logLines(a2, "applied")).toEqual([]);
    const termAt = Date.now();
    await b.stop("SIGTERM");
    expect(b.child.exitCode).toBe(0);
    // 'exit' can come before the last of the child's output is read: the line is logged just before it exits.
    await eventually("b's 'released the lease' log line", async () => logLines(b, "released the lease").length > 0);
    expect(logLines(b, "released the lease")).toHaveLength(1);
    await eventually("a2 leads", async () => {
      const holder = await leaseHolder(ns);
      return holder?.startsWith("a_") && holder !== firstHolder;
    });
    console.log(`takeover after SIGTERM: ${((Date.now() - termAt) / 1000).toFixed(1)} s`);
    await finishPod(ns, "job-a0-head", "Succeeded");
    const done = await waitForPhase(ns, "job", "Succeeded");
    expect(condition(done, "Succeeded")?.reason).toBe("TrainingSucceeded");
    const succeeded = await eventually("the TrainingSucceeded event", async () =>
      (await operatorEvents(ns)).find((e) => e.reason === "TrainingSucceeded"),
    );
    expect(succeeded.reportingInstance).toBe("a");
  }, 240_000);

  it("keeps reconciling after the apiserver restarts under it", async () => {
    const ns = await testNamespace("apiserver");
    const operator = startOperator(ns, { leaderElect: true, identity: "solo" });
    await createJob(ns, "before");
    await waitRunning(ns, "before-a0-prepare");
    await waitForPhase(ns, "before", "Preparing");
    try {
      await restart("kube-apiserver");
    } finally {
      await up(); // idempotent: brings back whatever is not running
    }
    // A job made after the restart gets its pod, and a job from before moves on when its pod finishes.
    await createJob(ns, "after");
    await waitRunning(ns, "after-a0-prepare", 120_000);
    await finishPod(ns, "before-a0-prepare", "Succeeded");
    await waitForPhase(ns, "before", "Training", 120_000);
    expect(alive(operator)).toBe(true);
    const steppedDown = logLines(operator, "could not renew the lease in time; stepping down").length;
    console.log(`apiserver restart: the leader stepped down ${steppedDown} time(s) and led again`);
  }, 300_000);

  it("restarts a job whose training pod's node is deleted as a new attempt, not counted, and frees the GPUs", async () => {
    const ns = await testNamespace("node");
    const operator = startOperator(ns);
    await createJob(ns, "job", { spec: TWO_NODES });
    await finishPod(ns, "job-a0-prepare", "Succeeded");
    await waitRunning(ns, "job-a0-head");
    const worker = await waitRunning(ns, "job-a0-worker-1");
    // The status has seen both pods run (what lets the operator tell a lost pod from one not made yet).
    await bothRunning(ns, 0);
    const nodeName = worker.spec?.nodeName ?? "";
    const shape = FLEET.find((n) => n.name === nodeName);
    expect(shape, nodeName).toBeDefined();
    const bin = binaries();
    try {
      kubectl(bin, ["delete", "node", nodeName, "--wait=false"]);
      // PodGC marks the pod Failed (DisruptionTarget DeletionByPodGC) and force-deletes it ~40 s later.
      const restarted = await eventually(
        "attempt 1",
        async () => {
          const job = await getJob(ns, "job");
          return job.status?.attempt === 1 ? job : undefined;
        },
        180_000,
      );
      const last = restarted.status?.lastRestart;
      console.log(`node loss: ${last?.reason}: ${last?.message}`);
      expect(["PodFailed", "PodDeleted", "PodLost"]).toContain(last?.reason);
      expect(last).toMatchObject({ counted: false, attempt: 0, pod: "job-a0-worker-1" });
      if (last?.reason === "PodFailed") expect(last.message).toContain(nodeName);
      expect(restarted.status).toMatchObject({ restarts: 0, disruptions: 1 });
      // The whole gang of attempt 0 goes; attempt 1 runs on the nodes left.
      await waitRunning(ns, "job-a1-head", 120_000);
      await waitRunning(ns, "job-a1-worker-1", 120_000);
      expect(names(await listPods(ns)).filter((n) => n.startsWith("job-a0-"))).toEqual([]);
      await eventually("the Restarting Event", async () =>
        (await operatorEvents(ns)).some((e) => e.type === "Normal" && e.reason === "Restarting"),
      );
      expect(alive(operator)).toBe(true);
    } finally {
      if (shape) {
        kubectl(bin, ["apply", "--server-side", "--force-conflicts", "-f", "-"], stringify(nodeObject(shape)));
        await eventually(`node ${nodeName} Ready again`, () => nodeReady(nodeName), 120_000);
      }
    }
  }, 300_000);

  it("restarts a job whose training pod is force-deleted (gone without a Failed phase), never re-creating it alone", async () => {
    const ns = await testNamespace("lost");
    startOperator(ns);
    await createJob(ns, "job", { spec: TWO_NODES });
    await finishPod(ns, "job-a0-prepare", "Succeeded");
    await waitRunning(ns, "job-a0-head");
    await waitRunning(ns, "job-a0-worker-1");
    await bothRunning(ns, 0);
    // At once: the operator's job cache may not have seen its own last status write yet (read-your-writes).
    await core.deleteNamespacedPod({ namespace: ns, name: "job-a0-worker-1", gracePeriodSeconds: 0 });
    const restarted = await eventually("attempt 1", async () => {
      const job = await getJob(ns, "job");
      return job.status?.attempt === 1 ? job : undefined;
    });
    // Seen on its way out (PodDeleted) or only gone (PodLost), depending on which watch event the reconcile meets.
    expect(["PodDeleted", "PodLost"]).toContain(restarted.status?.lastRestart?.reason);
    expect(restarted.status).toMatchObject({ restarts: 0, disruptions: 1 });
    await waitRunning(ns, "job-a1-worker-1");
    expect(names(await listPods(ns)).sort()).toEqual(["job-a1-head", "job-a1-worker-1"]);
  });

  it("kubectl describe ctj shows the pods made, the stage transitions and the failure", async () => {
    const ns = await testNamespace("describe");
    startOperator(ns);
    await createJob(ns, "job", { spec: { failurePolicy: { maxRestarts: 0 } } });
    await finishPod(ns, "job-a0-prepare", "Succeeded");
    await finishPod(ns, "job-a0-head", "Failed", 3);
    await waitForPhase(ns, "job", "Failed");
    const describe = () =>
      execFileSync(`${binaries()}/kubectl`, [
        "--kubeconfig",
        KUBECONFIG,
        "-n",
        ns,
        "describe",
        "ctj",
        "job",
      ]).toString();
    // Only in the Events section: the Status section names the Failed condition's reason as soon as the phase is
    // Failed, and the Event is recorded after that status write.
    const out = await eventually("the failure's Event", async () => {
      const text = describe();
      return /Warning\s+MaxRestartsExceeded/.test(text.slice(text.indexOf("Events:"))) ? text : undefined;
    });
    const events = out.slice(out.indexOf("Events:"));
    expect(events).toMatch(/Normal\s+CreatedPod\s+.*created pod job-a0-prepare/);
    expect(events).toMatch(/Normal\s+CreatedPod\s+.*created pod job-a0-head/);
    expect(events).toMatch(/Normal\s+Prepared\s+.*pod job-a0-prepare prepared the dataset/);
    expect(events).toMatch(/Warning\s+MaxRestartsExceeded\s+.*job-a0-head.*trainer exited with code 3/);
  });
});
