// Parsing veRL's console log into progress.
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { ProgressSchema } from "../../../src/contract/report.ts";
import { ProgressTracker, parseStepLine } from "../../../src/gateway/verl-log.ts";

const recorded = readFileSync(new URL("testdata/verl-console.log", import.meta.url), "utf8").split("\n");
const at = new Date("2025-10-20T10:00:00Z");

describe("veRL console log", () => {
  it("parses a Ray-prefixed step line with numpy reprs", () => {
    const parsed = parseStepLine(
      "(TaskRunner pid=52293) step:3 - global_seqlen/min:56551 - critic/score/mean:np.float64(0.41) - actor/lr:1e-06",
    );
    expect(parsed?.step).toBe(3);
    expect(Object.fromEntries(parsed!.metrics)).toEqual({
      "global_seqlen/min": 56551,
      "critic/score/mean": 0.41,
      "actor/lr": 1e-6,
    });
  });

  it("ignores lines that are not step lines", () => {
    expect(parseStepLine("(AgentLoopWorker pid=1) User: step:2 is what I meant")).toBeNull();
    expect(parseStepLine("Scores: {'accuracy': 0.5}")).toBeNull();
  });

  it("follows a recorded run to its latest step", () => {
    const tracker = new ProgressTracker();
    for (const line of recorded) tracker.feed(line, at);
    const progress = tracker.progress!;
    expect(ProgressSchema.parse(progress)).toEqual(progress);
    expect(progress).toEqual({
      step: 3,
      totalSteps: 120,
      epoch: 0,
      reward: 0.45,
      rewardMax: 0.85,
      rewardMin: -0.05,
      validationReward: 0.41,
      stepSeconds: 98.5,
      throughput: 1523.7,
      updatedAt: at.toISOString(),
    });
  });

  it("follows the quickstart's recorded 60-step run (npm run start:local) to its end", () => {
    const tracker = new ProgressTracker();
    const quickstart = readFileSync(new URL("../../cluster/testdata/verl-console.log", import.meta.url), "utf8");
    const steps = quickstart.split("\n").filter((line) => tracker.feed(line, at));
    expect(steps).toHaveLength(60); // every step line moves the progress
    expect(tracker.progress).toEqual({
      step: 60,
      totalSteps: 60,
      epoch: 0,
      reward: 0.6844,
      rewardMax: 1,
      rewardMin: 0.3788,
      validationReward: 0.6506,
      stepSeconds: 175.678168,
      throughput: 322.4945401297673,
      updatedAt: at.toISOString(),
    });
  });

  it("uses the total-steps hint until the log prints the total", () => {
    const tracker = new ProgressTracker(500);
    tracker.feed("step:1 - critic/score/mean:0.2", at);
    expect(tracker.progress?.totalSteps).toBe(500);
    expect(tracker.feed("Total training steps: 120", at)).toBe(true);
    expect(tracker.progress?.totalSteps).toBe(120);
  });

  it("takes the newest step line as the truth after a resume", () => {
    const tracker = new ProgressTracker();
    tracker.feed("step:40 - critic/score/mean:0.5", at);
    tracker.feed("step:31 - critic/score/mean:0.4", at);
    expect(tracker.progress).toMatchObject({ step: 31, reward: 0.4 });
  });
});
