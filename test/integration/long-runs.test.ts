// Long runs that end right (issue 19), on the local control plane: a training head whose trainer exits 0 short of the
// total steps veRL announced is not Succeeded; a spent budget ends or waits, never burns a restart. The head's progress is what its gateway reads from the trainer's log
// (verl-log.ts), here a resumed trainer of 10 batches an epoch that loaded the checkpoint at step 10, an epoch
// boundary, and ran out of data at step 20 of 30 (the loop that starts at global_step // steps_per_epoch).

import { PatchStrategy, setHeaderOptions } from "@kubernetes/client-node";
import { describe, expect, it } from "vitest";
import type { Progress } from "../../src/api/schema.ts";
import { ProgressTracker } from "../../src/gateway/verl-log.ts";
import { core, custom } from "./kube.ts";
import {
  condition,
  eventually,
  finishPod,
  getJob,
  jobApi,
  judgeReport,
  trainingJob,
  waitForPhase,
  waitRunning,
} from "./operator.ts";

/** What the head's gateway reports after reading a resumed trainer's log up to its exit. */
function resumedProgress(): Progress {
  const tracker = new ProgressTracker();
  const lines = [
    "(TaskRunner pid=7) Load from checkpoint folder: /collab/checkpoints/rl/global_step_10",
    "(TaskRunner pid=7) Total training steps: 30",
    ...Array.from(
      { length: 10 },
      (_, i) => `(TaskRunner pid=7) step:${11 + i} - training/epoch:2 - critic/score/mean:0.4 - timing_s/step:60.0`,
    ),
  ];
  for (const line of lines) tracker.feed(line, new Date());
  return tracker.progress as Progress;
}

async function report(reportURL: string, token: string, pod: string, progress: Progress) {
  await eventually(`${pod}'s report taken`, async () => {
    const r = await fetch(reportURL, {
      method: "POST",
      headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
      body: JSON.stringify(judgeReport(pod, { requests: 1 }, { progress })),
    });
    return r.status === 200;
  });
}

describe("a training head that exits 0 short of its total steps", () => {
  it("is not Succeeded: the attempt restarts (counted), and the same silent exit again fails the job", async () => {
    const { ns, token, reportURL } = await trainingJob("shortrun", {
      failurePolicy: { maxRestarts: 5, backoffSeconds: 0 },
    });
    const progress = resumedProgress();
    expect(progress).toMatchObject({ step: 20, totalSteps: 30, checkpointStep: 10 });
    await report(reportURL, token, "job-a0-head", progress);
    await eventually("step 20 on the status", async () => (await getJob(ns, "job")).status?.progress?.step === 20);

    await finishPod(ns, "job-a0-head", "Succeeded");
    const restarted = await eventually(
      "the restart",
      async () => {
        const job = await getJob(ns, "job");
        return job.status?.lastRestart ? job : undefined;
      },
      90_000,
    );
    expect(condition(restarted, "Succeeded")).toBeUndefined();
    expect(restarted.status?.restarts).toBe(1);
    expect(restarted.status?.lastRestart).toMatchObject({ reason: "StoppedShort", step: 20, counted: true });
    expect(restarted.status?.lastRestart?.message).toContain("exited 0 at step 20 of the 30");

    // The next attempt resumes from step 20's checkpoint, trains nothing and exits 0 again at step 20.
    await waitRunning(ns, "job-a1-head", 90_000);
    await report(reportURL, token, "job-a1-head", { ...progress, lastUpdateTime: new Date().toISOString() });
    await finishPod(ns, "job-a1-head", "Succeeded");
    const failed = await waitForPhase(ns, "job", "Failed", 90_000);
    expect(condition(failed, "Failed")).toMatchObject({ reason: "TrainingIncomplete" });
    expect(failed.status?.restarts).toBe(1);
  }, 300_000);
});

describe("a spent budget", () => {
  /** The head's judge gateway reports 1,000 tokens: the job's budget of 1,000 is spent. */
  async function spend(spec: Record<string, unknown>) {
    const { ns, token, reportURL } = await trainingJob("budget", {
      failurePolicy: { maxRestarts: 0, backoffSeconds: 0 },
      ...spec,
    });
    const progress: Progress = { ...resumedProgress(), step: 12, checkpointStep: 10 };
    await eventually("the report taken", async () => {
      const r = await fetch(reportURL, {
        method: "POST",
        headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
        body: JSON.stringify(
          judgeReport("job-a0-head", { requests: 10, promptTokens: 800, completionTokens: 200 }, { progress }),
        ),
      });
      return r.status === 200;
    });
    return ns;
  }

  it("Release (the default): lets the pods go at once, counts no restart, and resumes once the budget is raised", async () => {
    const ns = await spend({ budget: { maxTokens: 1000 } });
    const waiting = await eventually("the job waiting for a raise", async () => {
      const job = await getJob(ns, "job");
      return job.status?.waiting === "Budget: TokenBudgetSpent" ? job : undefined;
    });
    expect(waiting.status).toMatchObject({ phase: "Restarting", attempt: 1, restarts: 0 });
    expect(waiting.status?.lastRestart).toMatchObject({ reason: "BudgetExceeded", counted: false });
    await eventually(
      "the head pod gone",
      async () =>
        (await core.readNamespacedPod({ namespace: ns, name: "job-a0-head" }).catch(() => undefined)) === undefined,
    );
    // Nothing is created while the budget stays spent (maxRestarts 0 would have failed a counted restart).
    await new Promise((r) => setTimeout(r, 3000));
    expect(await core.readNamespacedPod({ namespace: ns, name: "job-a1-head" }).catch(() => undefined)).toBeUndefined();

    await custom.patchNamespacedCustomObject(
      { ...jobApi, namespace: ns, name: "job", body: { spec: { budget: { maxTokens: 5000 } } } },
      setHeaderOptions("Content-Type", PatchStrategy.MergePatch),
    );
    await waitRunning(ns, "job-a1-head", 90_000);
    expect((await getJob(ns, "job")).status?.restarts).toBe(0);
  }, 240_000);

  it("Stop: the job fails with BudgetExceeded, naming the latest checkpoint, and lets its pods go", async () => {
    const ns = await spend({ budget: { maxTokens: 1000, onExhausted: "Stop" } });
    const failed = await waitForPhase(ns, "job", "Failed", 90_000);
    expect(condition(failed, "Failed")).toMatchObject({ reason: "BudgetExceeded" });
    expect(condition(failed, "Failed")?.message).toContain("the latest checkpoint is step 10");
    expect(failed.status?.restarts).toBe(0);
    expect(failed.status?.outputs).toMatchObject({ lastCheckpointStep: 10 });
    await eventually(
      "the head pod gone",
      async () =>
        (await core.readNamespacedPod({ namespace: ns, name: "job-a0-head" }).catch(() => undefined)) === undefined,
    );
  }, 240_000);
});

describe("a known deadline", () => {
  it("is told to veRL's trainers as it reads it, ahead by the margin, and DeadlineExceeded names the last checkpoint", async () => {
    const { ns, token, reportURL } = await trainingJob("deadline", { activeDeadlineSeconds: 25 });
    const head = await core.readNamespacedPod({ namespace: ns, name: "job-a0-head" });
    const env = head.spec?.containers.find((c) => c.name === "trainer")?.env ?? [];
    const told = Number(env.find((e) => e.name === "MLP_CURRENT_CAPACITY_BLOCK_EXPIRATION_TIMESTAMP")?.value);
    const started = Date.parse(String((await getJob(ns, "job")).status?.startTime)) / 1000;
    // Created before its first pod was bound: counted from then, 30 s of margin with nothing measured yet.
    expect(told).toBeGreaterThan(started + 25 - 30 - 10);
    expect(told).toBeLessThanOrEqual(started + 25 - 30);

    const progress: Progress = { ...resumedProgress(), step: 12, checkpointStep: 11 };
    await report(reportURL, token, "job-a0-head", progress);
    const failed = await waitForPhase(ns, "job", "Failed", 90_000);
    expect(condition(failed, "Failed")).toMatchObject({ reason: "DeadlineExceeded" });
    expect(condition(failed, "Failed")?.message).toContain("the latest checkpoint is step 11");
    expect(failed.status?.outputs).toMatchObject({
      lastCheckpointStep: 11,
      lastCheckpoint: "/collab/checkpoints/rl/global_step_11",
    });
  }, 180_000);
});
