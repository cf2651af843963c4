// Parsing veRL's console log into status.progress's own shape.
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { MAX_REWARD_METRICS, Progress } from "../../../src/api/schema.ts";
import { ProgressTracker, parseScoresLine, parseStepLine } from "../../../src/gateway/verl-log.ts";

// A run in veRL 0.6.0's format: the console logger's step lines, the CollabLLM reward manager's Scores line per sample
// (two reward workers, one on another node), and a validation at step 2.
const sample = readFileSync(new URL("testdata/verl-console.log", import.meta.url), "utf8").split("\n");
const at = new Date("2025-10-20T10:00:00Z");
const AT = "2025-10-20T10:00:00Z";

function follow(lines: readonly string[]): ProgressTracker {
  const tracker = new ProgressTracker();
  for (const line of lines) tracker.feed(line, at);
  return tracker;
}

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
    expect(parseStepLine("(RewardManagerWorker pid=1) Scores: tensor([0.5]) {'accuracy': tensor(0.5)}")).toBeNull();
  });

  it.each([
    {
      name: "a sample, as torch prints its tensors",
      line: "(RewardManagerWorker pid=53100) Scores: tensor([1.7355]) {'accuracy': tensor(1.), 'interactivity': tensor(0.7667), 'token_amount': tensor(-0.0312)}",
      parsed: { samples: 1, components: { accuracy: 1, interactivity: 0.7667, token_amount: -0.0312 } },
    },
    {
      name: "a truncated sample: plain zeros",
      line: "(RewardManagerWorker pid=9, ip=10.0.0.5) Scores: tensor([0.]) {'accuracy': 0.0, 'interactivity': 0.0, 'token_amount': 0.0}",
      parsed: { samples: 1, components: { accuracy: 0, interactivity: 0, token_amount: 0 } },
    },
    {
      name: "a batch of samples: the components are their means, and the line stands for each",
      line: "Scores: tensor([0.2000, 0.4000, 1.0000e-04]) {'bleu_score': tensor(1.2346e-01), 'pass_rate': tensor(nan)}",
      parsed: { samples: 3, components: { bleu_score: 0.12346 } },
    },
    {
      name: "a tensor torch abbreviates counts once",
      line: "Scores: tensor([0.1000, 0.2000, ..., 0.3000]) {'accuracy': tensor(0.5000)}",
      parsed: { samples: 1, components: { accuracy: 0.5 } },
    },
  ])("reads the reward's components of a Scores line: $name", ({ line, parsed }) => {
    const scores = parseScoresLine(line);
    expect(scores && { samples: scores.samples, components: Object.fromEntries(scores.components) }).toEqual(parsed);
  });

  it("follows a run to its latest step, every field parsed on the status, in the status's own shape", () => {
    const progress = follow(sample).progress!;
    expect(Progress.parse(progress)).toEqual(progress);
    const { rewardMetrics, ...rest } = progress;
    expect(rest).toEqual({
      step: 3,
      totalSteps: 120,
      stepOfTotal: "3/120",
      epoch: 0,
      reward: 0.45,
      rewardMax: 0.85,
      rewardMin: 0,
      validationReward: 0.41,
      stepSeconds: 98.5,
      throughput: 1523.7,
      // Saved at step 2, complete once step 2's line followed.
      checkpointStep: 2,
      checkpointSeconds: 12.5,
      lastUpdateTime: AT,
    });
    // Step 3's three training samples (one truncated); the validation at step 2's two.
    expect(Object.keys(rewardMetrics ?? {})).toEqual(["accuracy", "interactivity", "token_amount"]);
    expect(rewardMetrics?.accuracy?.training).toBeCloseTo(1 / 3, 10);
    expect(rewardMetrics?.interactivity?.training).toBeCloseTo(0.41 / 3, 10);
    expect(rewardMetrics?.token_amount?.training).toBeCloseTo(-0.02, 10);
    expect(rewardMetrics?.accuracy?.validation).toBeCloseTo(0.25, 10);
    expect(rewardMetrics?.interactivity?.validation).toBeCloseTo(0.185, 10);
    expect(rewardMetrics?.token_amount?.validation).toBeCloseTo(-0.025, 10);
  });

  it("splits a step's samples into training and validation, and the components add up to the reward", () => {
    const lastOf = (step: number) => sample.findIndex((l) => l.includes(` step:${step} `));
    const one = follow(sample.slice(0, lastOf(1) + 1)).progress!;
    expect(one.rewardMetrics).toEqual({
      accuracy: { training: 0.25 },
      interactivity: { training: 0.125 },
      token_amount: { training: -0.025 },
    });
    const sum = (split: "training" | "validation", p = follow(sample.slice(0, lastOf(2) + 1)).progress!) =>
      Object.values(p.rewardMetrics ?? {}).reduce((total, m) => total + (m[split] ?? 0), 0);
    const two = follow(sample.slice(0, lastOf(2) + 1)).progress!;
    expect(sum("training", two)).toBeCloseTo(two.reward as number, 10);
    expect(sum("validation", two)).toBeCloseTo(two.validationReward as number, 10);
  });

  it("keeps at most MAX_REWARD_METRICS metrics", () => {
    const names = Array.from({ length: MAX_REWARD_METRICS + 4 }, (_, i) => `m${i}`);
    const tracker = new ProgressTracker();
    tracker.feed(`Scores: tensor([1.]) {${names.map((n) => `'${n}': tensor(0.1000)`).join(", ")}}`, at);
    tracker.feed("step:1 - critic/score/mean:1.0", at);
    expect(Object.keys(tracker.progress?.rewardMetrics ?? {})).toHaveLength(MAX_REWARD_METRICS);
    expect(Progress.safeParse(tracker.progress).success).toBe(true);
  });

  it("follows the quickstart's recorded 60-step run (npm run start:local) to its end", () => {
    const tracker = new ProgressTracker();
    const quickstart = readFileSync(new URL("../../cluster/testdata/verl-console.log", import.meta.url), "utf8");
    const steps = quickstart.split("\n").filter((line) => tracker.feed(line, at));
    expect(steps).toHaveLength(60); // every step line moves the progress
    expect(tracker.progress).toEqual({
      step: 60,
      totalSteps: 60,
      stepOfTotal: "60/60",
      epoch: 0,
      reward: 0.6844,
      rewardMax: 1,
      rewardMin: 0.3788,
      validationReward: 0.6506,
      stepSeconds: 175.678168,
      throughput: 322.4945401297673,
      lastUpdateTime: AT,
    });
  });

  it("uses the total-steps hint until the log prints the total", () => {
    const tracker = new ProgressTracker(500);
    tracker.feed("step:1 - critic/score/mean:0.2", at);
    expect(tracker.progress).toMatchObject({ totalSteps: 500, stepOfTotal: "1/500" });
    expect(tracker.feed("Total training steps: 120", at)).toBe(true);
    expect(tracker.progress).toMatchObject({ totalSteps: 120, stepOfTotal: "1/120" });
  });

  it("says the step alone while the total is unknown", () => {
    const tracker = new ProgressTracker();
    tracker.feed("step:7 - critic/score/mean:0.2", at);
    expect(tracker.progress).toEqual({ step: 7, stepOfTotal: "7", reward: 0.2, lastUpdateTime: AT });
  });

  it("takes a checkpoint for complete once its step's line follows its save, or a resumed trainer loaded it", () => {
    const tracker = new ProgressTracker();
    tracker.feed("(TaskRunner pid=1) Load from checkpoint folder: /collab/checkpoints/rl/global_step_6", at);
    tracker.feed("step:7 - critic/score/mean:0.5", at);
    expect(tracker.progress).toMatchObject({ step: 7, checkpointStep: 6 });
    // A save cut short (no step line of its own) is not a checkpoint; the next one that ends is.
    tracker.feed("(TaskRunner pid=1) local_global_step_folder: /collab/checkpoints/rl/global_step_8", at);
    tracker.feed("(TaskRunner pid=2) Load from checkpoint folder: /collab/checkpoints/rl/global_step_6", at);
    tracker.feed("step:7 - critic/score/mean:0.5", at);
    expect(tracker.progress?.checkpointStep).toBe(6);
    tracker.feed("(TaskRunner pid=2) local_global_step_folder: /collab/checkpoints/rl/global_step_8", at);
    tracker.feed("step:8 - critic/score/mean:0.5 - timing_s/save_checkpoint:3.25", at);
    expect(tracker.progress).toMatchObject({ step: 8, checkpointStep: 8, checkpointSeconds: 3.25 });
  });

  it("takes the newest step line as the truth after a resume", () => {
    const tracker = new ProgressTracker();
    tracker.feed("step:40 - critic/score/mean:0.5", at);
    tracker.feed("step:31 - critic/score/mean:0.4", at);
    expect(tracker.progress).toMatchObject({ step: 31, reward: 0.4 });
  });
});
