// Stage policy: Preparing, then FineTuning when sft.enabled, then Training; a stage is done when its completion pod of
// the current attempt succeeded, and that is recorded as a condition.
import type { V1Pod } from "@kubernetes/client-node";
import { describe, expect, it } from "vitest";
import type { Condition } from "../../../../src/api/schema.ts";
import { DEFAULT_OPERATOR_CONTEXT } from "../../../../src/children/pods.ts";
import { advanceStages, currentStage, type JobStage, stagePods } from "../../../../src/operator/plan/stages.ts";
import { job, pod, TWO_NODES, view } from "./world.ts";

const recorded = (type: string, status: Condition["status"] = "True"): Condition => ({
  type,
  status,
  reason: "",
  message: "",
  lastTransitionTime: "2026-11-22T09:00:00Z",
});
const PREPARED = recorded("DatasetReady");
const FINE_TUNED = recorded("FineTuned");

describe("currentStage", () => {
  it.each<{ name: string; sft: boolean; conditions: Condition[]; stage: JobStage }>([
    { name: "a new job prepares", sft: false, conditions: [], stage: "Preparing" },
    {
      name: "DatasetReady=False still prepares",
      sft: false,
      conditions: [recorded("DatasetReady", "False")],
      stage: "Preparing",
    },
    { name: "prepared, no SFT: training", sft: false, conditions: [PREPARED], stage: "Training" },
    { name: "prepared, SFT enabled: fine-tuning", sft: true, conditions: [PREPARED], stage: "FineTuning" },
    { name: "prepared and fine-tuned: training", sft: true, conditions: [PREPARED, FINE_TUNED], stage: "Training" },
    { name: "FineTuned alone does not skip preparing", sft: true, conditions: [FINE_TUNED], stage: "Preparing" },
    {
      name: "FineTuned is irrelevant without SFT",
      sft: false,
      conditions: [PREPARED, recorded("FineTuned", "False")],
      stage: "Training",
    },
  ])("$name", ({ sft, conditions, stage }) => {
    expect(currentStage(job({ sft: { enabled: sft } }), conditions)).toBe(stage);
  });
});

describe("stagePods", () => {
  it.each<{ name: string; stage: JobStage; attempt: number; pods: string[] }>([
    { name: "Preparing: the prepare pod", stage: "Preparing", attempt: 0, pods: ["job-a0-prepare"] },
    { name: "FineTuning: the SFT pod", stage: "FineTuning", attempt: 0, pods: ["job-a0-sft"] },
    { name: "Training: head and workers", stage: "Training", attempt: 0, pods: ["job-a0-head", "job-a0-worker-1"] },
    { name: "names carry the attempt", stage: "Training", attempt: 3, pods: ["job-a3-head", "job-a3-worker-1"] },
  ])("$name", ({ stage, attempt, pods }) => {
    const desired = stagePods(job({ ...TWO_NODES, sft: { enabled: true } }), DEFAULT_OPERATOR_CONTEXT, stage, attempt);
    expect(desired.map((d) => d.metadata.name)).toEqual(pods);
    for (const d of desired) expect(d.metadata.labels["collabllm.io/attempt"]).toBe(String(attempt));
  });
});

describe("advanceStages", () => {
  it.each<{
    name: string;
    sft: boolean;
    conditions: Condition[];
    pods: V1Pod[];
    attempt?: number;
    stage: JobStage;
    completed: string[];
    succeeded: boolean;
  }>([
    {
      name: "nothing done yet",
      sft: false,
      conditions: [],
      pods: [pod("job-a0-prepare")],
      stage: "Preparing",
      completed: [],
      succeeded: false,
    },
    {
      name: "a failed prepare pod completes nothing",
      sft: false,
      conditions: [],
      pods: [pod("job-a0-prepare", { phase: "Failed" })],
      stage: "Preparing",
      completed: [],
      succeeded: false,
    },
    {
      name: "the prepare pod succeeded: on to training",
      sft: false,
      conditions: [],
      pods: [pod("job-a0-prepare", { phase: "Succeeded" })],
      stage: "Training",
      completed: ["DatasetReady"],
      succeeded: false,
    },
    {
      name: "the prepare pod succeeded with SFT enabled: on to fine-tuning",
      sft: true,
      conditions: [],
      pods: [pod("job-a0-prepare", { phase: "Succeeded" })],
      stage: "FineTuning",
      completed: ["DatasetReady"],
      succeeded: false,
    },
    {
      name: "several stages seen done at once (the operator was away) are all recorded, in order",
      sft: true,
      conditions: [],
      pods: [
        pod("job-a0-prepare", { phase: "Succeeded" }),
        pod("job-a0-sft", { phase: "Succeeded" }),
        pod("job-a0-head", { phase: "Succeeded" }),
      ],
      stage: "Training",
      completed: ["DatasetReady", "FineTuned", "Succeeded"],
      succeeded: true,
    },
    {
      name: "a recorded stage is not recorded again, even with its pod gone",
      sft: false,
      conditions: [PREPARED],
      pods: [pod("job-a0-head", { phase: "Succeeded" })],
      stage: "Training",
      completed: ["Succeeded"],
      succeeded: true,
    },
    {
      name: "a succeeded worker does not finish training: only the head does",
      sft: false,
      conditions: [PREPARED],
      pods: [pod("job-a0-head"), pod("job-a0-worker-1", { phase: "Succeeded" })],
      stage: "Training",
      completed: [],
      succeeded: false,
    },
    {
      name: "a succeeded pod of another attempt does not count",
      sft: false,
      conditions: [PREPARED],
      pods: [pod("job-a0-head", { phase: "Succeeded" })],
      attempt: 1,
      stage: "Training",
      completed: [],
      succeeded: false,
    },
    {
      name: "a succeeded pod of another job of the same name does not count",
      sft: false,
      conditions: [],
      pods: [pod("job-a0-prepare", { phase: "Succeeded", owner: "u-old" })],
      stage: "Preparing",
      completed: [],
      succeeded: false,
    },
  ])("$name", ({ sft, conditions, pods, attempt = 0, stage, completed, succeeded }) => {
    const j = job({ ...TWO_NODES, sft: { enabled: sft } });
    const progress = advanceStages(j, conditions, view(j, pods, attempt), attempt);
    expect(progress.stage).toBe(stage);
    expect(progress.completed.map((c) => c.type)).toEqual(completed);
    expect(progress.succeeded).toBe(succeeded);
  });

  it("records each completion as a True condition naming the pod", () => {
    const j = job({ sft: { enabled: true } });
    const pods = ["job-a2-prepare", "job-a2-sft", "job-a2-head"].map((n) => pod(n, { phase: "Succeeded" }));
    expect(advanceStages(j, [], view(j, pods, 2), 2).completed).toEqual([
      { type: "DatasetReady", status: "True", reason: "Prepared", message: "pod job-a2-prepare prepared the dataset" },
      { type: "FineTuned", status: "True", reason: "FineTuned", message: "pod job-a2-sft fine-tuned the model" },
      { type: "Succeeded", status: "True", reason: "TrainingSucceeded", message: "pod job-a2-head finished training" },
    ]);
  });
});
