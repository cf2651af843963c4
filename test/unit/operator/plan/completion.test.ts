// Completion policy of the training stage: a head whose trainer exited 0 short of the total steps veRL announced is
// not a success. The trainer logs below are veRL 0.6.0's console format (as the head's gateway reads them), for a run
// of 10 batches an epoch resumed from the checkpoint at step 10, an epoch boundary.
import { describe, expect, it } from "vitest";
import type { Progress, Status } from "../../../../src/api/schema.ts";
import { ProgressTracker } from "../../../../src/gateway/verl-log.ts";
import { SETTLE_SECONDS, trainingEnd } from "../../../../src/operator/plan/completion.ts";
import type { LastRestart } from "../../../../src/operator/plan/restart.ts";
import { at, DATASET_READY, exited, job, NOW, planWorld, pod } from "./world.ts";

/** The head of `attempt`, its trainer exited 0 `secondsAgo` before NOW. */
const head = (attempt = 0, secondsAgo = SETTLE_SECONDS + 5) =>
  pod(`job-a${attempt}-head`, {
    phase: "Succeeded",
    containers: [exited("trainer", 0, { finishedAt: at(-secondsAgo) })],
  });
const progress = (step: number, totalSteps: number): Progress => ({
  step,
  totalSteps,
  stepOfTotal: `${step}/${totalSteps}`,
  lastUpdateTime: at(-60),
});
const stoppedShortAt = (step: number, attempt = 0): LastRestart => ({
  attempt,
  reason: "StoppedShort",
  message: "",
  counted: true,
  pod: `job-a${attempt}-head`,
  exitCode: 0,
  step,
  time: at(-120),
});

/** A resumed trainer's console log: the checkpoint it loaded, the total it announced, the steps it printed. */
function resumedLog(total: number, steps: number[], final: boolean): string[] {
  return [
    "(TaskRunner pid=7) Load from checkpoint folder: /collab/checkpoints/rl/global_step_10",
    "(TaskRunner pid=7) Setting global step to 10",
    `(TaskRunner pid=7) Total training steps: ${total}`,
    ...steps.map(
      (s) =>
        `(TaskRunner pid=7) step:${s} - training/global_step:${s} - training/epoch:0 - critic/score/mean:np.float64(0.4) - timing_s/step:np.float64(60.0)`,
    ),
    ...(final ? ["(TaskRunner pid=7) 'Final validation metrics: None'"] : []),
  ];
}
const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);
const read = (lines: string[]): Progress => {
  const tracker = new ProgressTracker();
  for (const line of lines) tracker.feed(line, new Date(NOW));
  return tracker.progress as Progress;
};

describe("trainingEnd", () => {
  it.each<{ name: string; progress: Progress | undefined; secondsAgo?: number; kind: string }>([
    { name: "the total reached", progress: progress(30, 30), kind: "complete" },
    { name: "past the total (a finished run resumed once more)", progress: progress(31, 30), kind: "complete" },
    { name: "no step line read: nothing to check against", progress: undefined, kind: "complete" },
    { name: "no total announced", progress: { step: 3, stepOfTotal: "3" }, kind: "complete" },
    {
      name: "short, the last step lines may be on their way",
      progress: progress(29, 30),
      secondsAgo: 5,
      kind: "settling",
    },
    { name: "short once they had time to arrive", progress: progress(20, 30), kind: "short" },
  ])("$name: $kind", ({ progress: p, secondsAgo, kind }) => {
    const end = trainingEnd({ head: head(0, secondsAgo), progress: p, lastRestart: undefined, attempt: 0, now: NOW });
    expect(end.kind).toBe(kind);
    if (end.kind === "settling") expect(end.requeueAfterMs).toBe((SETTLE_SECONDS - 5) * 1000 + 1000);
  });

  it("names the step and the total, and knows a repeat of the previous attempt's silent exit at the same step", () => {
    const first = trainingEnd({
      head: head(1),
      progress: progress(20, 30),
      lastRestart: undefined,
      attempt: 1,
      now: NOW,
    });
    expect(first).toMatchObject({ kind: "short", step: 20, total: 30, repeated: false });
    expect(first.kind === "short" && first.message).toContain("exited 0 at step 20 of the 30 veRL announced");
    const again = (lastRestart: LastRestart) =>
      trainingEnd({ head: head(1), progress: progress(20, 30), lastRestart, attempt: 1, now: NOW });
    expect(again(stoppedShortAt(20))).toMatchObject({ repeated: true });
    // Further than the last time, or an older restart, or another cause: a restart may still finish the run.
    expect(again(stoppedShortAt(10))).toMatchObject({ repeated: false });
    expect(
      trainingEnd({ head: head(2), progress: progress(20, 30), lastRestart: stoppedShortAt(20), attempt: 2, now: NOW }),
    ).toMatchObject({ repeated: false });
    expect(again({ ...stoppedShortAt(20), reason: "PodFailed" })).toMatchObject({ repeated: false });
  });

  it("takes veRL 0.6.0's PPO resume on an epoch boundary for complete: its loop runs every epoch from 0 (ray_trainer.py, fit)", () => {
    // 2 epochs: the restored, exhausted dataloader yields nothing in epoch 0's pass; epoch 1 trains steps 11 to 20.
    const p = read(resumedLog(20, range(11, 20), true));
    expect(p).toMatchObject({ step: 20, totalSteps: 20, checkpointStep: 10 });
    expect(trainingEnd({ head: head(1), progress: p, lastRestart: undefined, attempt: 1, now: NOW }).kind).toBe(
      "complete",
    );
  });

  it("takes a trainer that starts at global_step // steps_per_epoch for short (veRL 0.6.0's SFT loop; PPO before verl#5725)", () => {
    // 3 epochs: start_epoch 1 restores the finished epoch 0 and yields nothing; epoch 2 trains 11 to 20; exit 0.
    const p = read(resumedLog(30, range(11, 20), false));
    expect(p).toMatchObject({ step: 20, totalSteps: 30 });
    expect(trainingEnd({ head: head(1), progress: p, lastRestart: undefined, attempt: 1, now: NOW })).toMatchObject({
      kind: "short",
      step: 20,
      total: 30,
    });
  });
});

describe("the plan of a training head that exited 0", () => {
  const training = (attempt: number, p: Progress, lastRestart?: LastRestart): Status => ({
    phase: "Training",
    stage: "Training",
    attempt,
    conditions: [DATASET_READY],
    progress: p,
    ...(lastRestart ? { lastRestart, restarts: 1 } : {}),
  });
  const workers = (attempt: number) => [
    pod(`job-a${attempt}-worker-1`, { phase: "Failed", containers: [exited("trainer", 1)] }),
  ];
  const TWO = { rl: { batchSize: 16, miniBatchSize: 8 }, resources: { nodes: 2 } };

  it("succeeds once it reached the total", () => {
    const p = planWorld(job(TWO, training(0, progress(30, 30))), [head(0), ...workers(0)]);
    expect(p.status.phase).toBe("Succeeded");
  });

  it("restarts, counted, from the latest checkpoint when it stopped short; its workers' failures after it are not the cause", () => {
    const p = planWorld(job(TWO, training(0, progress(20, 30))), [head(0), ...workers(0)]);
    expect(p.status.phase).toBe("Restarting");
    expect(p.status.conditions?.find((c) => c.type === "Succeeded")).toBeUndefined();
    expect(p.status.restarts).toBe(1);
    expect(p.status.lastRestart).toMatchObject({
      reason: "StoppedShort",
      counted: true,
      step: 20,
      exitCode: 0,
      pod: "job-a0-head",
    });
    expect(p.events).toContainEqual(expect.objectContaining({ type: "Warning", reason: "Restarting" }));
  });

  it("waits for the last step lines before it decides", () => {
    const p = planWorld(job(TWO, training(0, progress(29, 30))), [head(0, 5), ...workers(0)]);
    expect(p.status.phase).toBe("Training");
    expect(p.deletePods).toEqual([]);
    expect(p.requeueAfterMs).toBeLessThanOrEqual((SETTLE_SECONDS - 5) * 1000 + 1000);
  });

  it("fails with TrainingIncomplete when it stopped at the very step the previous attempt stopped at", () => {
    const p = planWorld(job(TWO, training(1, progress(20, 30), stoppedShortAt(20))), [head(1), ...workers(1)]);
    expect(p.status.phase).toBe("Failed");
    expect(p.status.conditions?.find((c) => c.type === "Failed")).toMatchObject({ reason: "TrainingIncomplete" });
    expect(p.status.conditions?.find((c) => c.type === "Failed")?.message).toContain("step 20 of the 30");
  });

  it("follows failurePolicy.maxRestarts: no restart left, the job fails saying why", () => {
    const j = job({ ...TWO, failurePolicy: { maxRestarts: 0 } }, training(0, progress(20, 30)));
    const p = planWorld(j, [head(0), ...workers(0)]);
    expect(p.status.conditions?.find((c) => c.type === "Failed")).toMatchObject({ reason: "MaxRestartsExceeded" });
    expect(p.status.conditions?.find((c) => c.type === "Failed")?.message).toContain("exited 0 at step 20");
  });
});
