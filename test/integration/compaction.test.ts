// Chaos: the operator's resourceVersions compacted away. While the operator is frozen (SIGSTOP), the world moves on,
// etcd forgets its history and the apiserver restarts with a fresh watch cache; thawed, every watch resumes from a
// resourceVersion that is gone (410), so the informers must relist, and the operator must keep reconciling.
import { expect, it } from "vitest";
import { compactEtcd, restart } from "../cluster/cluster.ts";
import { core, testNamespace } from "./kube.ts";
import { createJob, eventually, startOperator, waitRunning } from "./operator.ts";

it("relists after 410 Gone and keeps reconciling", async () => {
  const ns = await testNamespace("gone");
  // No periodic resync during the test: recovery must come from the 410 relist, not from a timer.
  const operator = startOperator(ns, { resyncSeconds: 3600 });
  await createJob(ns, "before");
  await waitRunning(ns, "before-a0-prepare");
  const metrics = `http://127.0.0.1:${await operator.metricsPort()}/metrics`;
  const pid = operator.child.pid as number;
  process.kill(pid, "SIGSTOP");
  try {
    for (let i = 0; i < 20; i++) {
      await core.createNamespacedConfigMap({
        namespace: ns,
        body: { metadata: { name: `churn-${i}` }, data: { i: `${i}` } },
      });
    }
    await compactEtcd();
    await restart("kube-apiserver");
  } finally {
    process.kill(pid, "SIGCONT");
  }
  const gone = await eventually(
    "watches restarted for 410 Gone",
    async () => {
      const text = await (await fetch(metrics)).text();
      const restarts = [...text.matchAll(/^watch_restarts_total\{[^}]*reason="gone"[^}]*\} (\d+)/gm)];
      const total = restarts.reduce((sum, m) => sum + Number(m[1]), 0);
      return total > 0 ? total : undefined;
    },
    120_000,
  );
  expect(gone).toBeGreaterThan(0);
  // The relisted caches serve reconciles: a job made after the compaction gets its pod. Created, not Running: after
  // the apiserver restart KWOK's node heartbeats may lapse, and a node briefly NotReady delays scheduling by up to a
  // minute, which says nothing about the operator.
  await createJob(ns, "after");
  const pod = await eventually(
    "pod after-a0-prepare created",
    () => core.readNamespacedPod({ namespace: ns, name: "after-a0-prepare" }),
    90_000,
  );
  expect(pod.metadata?.labels?.["collabllm.io/job-name"]).toBe("after");
  // Leave a cluster that schedules again: after this restart the scheduler can take a minute to place new pods, which
  // would otherwise be charged to the next test file.
  await eventually(
    "the scheduler placing pods again",
    async () => (await core.readNamespacedPod({ namespace: ns, name: "after-a0-prepare" })).spec?.nodeName,
    180_000,
  );
}, 420_000);
