// Per-job metrics from the jobs' cache: what each status field becomes, with bounded labels only.
import { Registry } from "prom-client";
import { describe, expect, it } from "vitest";
import type { Status } from "../../../src/api/schema.ts";
import { JOB_METRICS, jobSamples, registerJobMetrics, type Sample } from "../../../src/operator/job-metrics.ts";
import { type Cache, exposition } from "../../../src/runtime/index.ts";

const NOW = new Date("2026-11-22T10:00:00Z");

const status: Status = {
  phase: "Training",
  attempt: 2,
  restarts: 1,
  disruptions: 1,
  startTime: "2026-11-22T08:00:00Z",
  conditions: [
    {
      type: "WaitingForCapacity",
      status: "True",
      reason: "ScaleUpTriggered",
      message: "pod job-a2-worker-1: 0/8 nodes are available",
      lastTransitionTime: "2026-11-22T09:58:20Z",
    },
    {
      type: "BudgetExceeded",
      status: "False",
      reason: "WithinBudget",
      message: "",
      lastTransitionTime: "2026-11-22T08:00:00Z",
    },
  ],
  roles: [
    { name: "head", desired: 1, pending: 0, running: 1, succeeded: 0, failed: 0 },
    { name: "worker", desired: 3, pending: 1, running: 2, succeeded: 0, failed: 0 },
  ],
  progress: {
    step: 37,
    totalSteps: 400,
    stepOfTotal: "37/400",
    reward: 0.412,
    rewardMin: -0.2,
    rewardMax: 0.95,
    validationReward: 0.39,
    rewardMetrics: {
      accuracy: { training: 0.3, validation: 0.25 },
      interactivity: { training: 0.14 },
      token_amount: { training: -0.028, validation: -0.03 },
    },
    stepSeconds: 96.5,
    throughput: 1523.7,
    lastUpdateTime: "2026-11-22T09:59:00Z",
    estimatedCompletionTime: "2026-11-23T19:43:00Z",
  },
  usage: {
    userSimulator: {
      requests: 1200,
      promptTokens: 90_000,
      completionTokens: 30_000,
      rateLimited: 12,
      retries: 15,
      errors: 2,
      cacheHits: 0,
    },
    judge: {
      requests: 800,
      promptTokens: 50_000,
      completionTokens: 8000,
      rateLimited: 0,
      retries: 1,
      errors: 0,
      cacheHits: 40,
    },
    totalTokens: 178_000,
  },
};

const job = (extra: object = {}) => ({
  metadata: { name: "math-hard", namespace: "ml" },
  spec: { budget: { maxTokens: 200_000 } },
  status,
  ...extra,
});

const value = (samples: Sample[], name: string, labels: Record<string, string> = {}) =>
  samples.find(
    (s) =>
      s.name === name &&
      Object.entries({ namespace: "ml", job: "math-hard", ...labels }).every(([k, v]) => s.labels[k] === v),
  )?.value;

describe("per-job metrics", () => {
  const samples = jobSamples([job()], NOW);

  it("says the phase as one series per phase, 1 for the current one", () => {
    const phases = samples.filter((s) => s.name === "collab_job_phase");
    expect(phases).toHaveLength(8);
    expect(phases.filter((s) => s.value === 1).map((s) => s.labels.phase)).toEqual(["Training"]);
  });

  it.each([
    ["collab_job_attempt", {}, 2],
    ["collab_job_restarts_total", {}, 1],
    ["collab_job_disruptions_total", {}, 1],
    ["collab_job_progress_step", {}, 37],
    ["collab_job_progress_total_steps", {}, 400],
    ["collab_job_reward", {}, 0.412],
    ["collab_job_validation_reward", {}, 0.39],
    ["collab_job_reward_min", {}, -0.2],
    ["collab_job_reward_max", {}, 0.95],
    ["collab_job_reward_metric", { metric: "accuracy", split: "training" }, 0.3],
    ["collab_job_reward_metric", { metric: "accuracy", split: "validation" }, 0.25],
    ["collab_job_reward_metric", { metric: "token_amount", split: "training" }, -0.028],
    ["collab_job_throughput_tokens_per_second", {}, 1523.7],
    ["collab_job_step_duration_seconds", {}, 96.5],
    ["collab_job_progress_updated_timestamp_seconds", {}, Date.parse("2026-11-22T09:59:00Z") / 1000],
    ["collab_job_start_timestamp_seconds", {}, Date.parse("2026-11-22T08:00:00Z") / 1000],
    ["collab_job_waiting_for_capacity_seconds", {}, 100],
    ["collab_job_api_requests_total", { endpoint: "user-simulator" }, 1200],
    ["collab_job_api_requests_total", { endpoint: "judge" }, 800],
    ["collab_job_api_tokens_total", { endpoint: "user-simulator", type: "prompt" }, 90_000],
    ["collab_job_api_tokens_total", { endpoint: "judge", type: "completion" }, 8000],
    ["collab_job_api_rate_limited_total", { endpoint: "user-simulator" }, 12],
    ["collab_job_api_errors_total", { endpoint: "user-simulator" }, 2],
    ["collab_job_api_cache_hits_total", { endpoint: "judge" }, 40],
    ["collab_job_budget_tokens", {}, 200_000],
    ["collab_job_budget_used_tokens", {}, 178_000],
    ["collab_job_budget_remaining_tokens", {}, 22_000],
    ["collab_job_budget_exceeded", {}, 0],
    ["collab_job_pods", { role: "worker", phase: "Pending" }, 1],
    ["collab_job_pods", { role: "worker", phase: "Running" }, 2],
    ["collab_job_pods_desired", { role: "worker" }, 3],
    ["collab_job_condition", { condition: "WaitingForCapacity", status: "True" }, 1],
    ["collab_job_condition", { condition: "WaitingForCapacity", status: "False" }, 0],
  ])("%s%o = %d", (name, labels, expected) => {
    expect(value(samples, name, labels)).toBe(expected);
  });

  it("exports the spend at the spec's prices, and the cost budget", () => {
    const priced = jobSamples(
      [
        job({
          spec: { budget: { maxCost: 25 } },
          status: {
            ...status,
            usage: { ...status.usage, judge: { ...status.usage!.judge!, cost: 1.5 }, totalCost: 1.5 },
          },
        }),
      ],
      NOW,
    );
    expect(value(priced, "collab_job_api_cost_total", { endpoint: "judge" })).toBe(1.5);
    expect(value(priced, "collab_job_api_cost_total", { endpoint: "user-simulator" })).toBeUndefined();
    expect(value(priced, "collab_job_budget_used_cost")).toBe(1.5);
    expect(value(priced, "collab_job_budget_cost")).toBe(25);
    expect(value(samples, "collab_job_budget_cost")).toBeUndefined();
  });

  it("exports a reward metric for each split it has, and none for a split it lacks", () => {
    const components = samples.filter((s) => s.name === "collab_job_reward_metric").map((s) => s.labels);
    expect(components.map((l) => `${l.metric}/${l.split}`)).toEqual([
      "accuracy/training",
      "accuracy/validation",
      "interactivity/training",
      "token_amount/training",
      "token_amount/validation",
    ]);
  });

  it("labels with namespace, job and small enums only: no pod name, no message", () => {
    for (const s of samples) {
      const spec = JOB_METRICS[s.name];
      expect(Object.keys(s.labels).sort()).toEqual(["job", "namespace", ...spec.labels].sort());
      expect(JSON.stringify(s.labels)).not.toMatch(/job-a2|nodes are available/);
    }
  });

  it("leaves out what a job does not have yet, and budget series for a job without a budget", () => {
    const fresh = jobSamples([{ metadata: { name: "new", namespace: "ml" }, spec: {} }], NOW);
    expect(fresh.filter((s) => s.name === "collab_job_phase" && s.value === 1).map((s) => s.labels.phase)).toEqual([
      "Pending",
    ]);
    const names = new Set(fresh.map((s) => s.name));
    expect(names.has("collab_job_reward")).toBe(false);
    expect(names.has("collab_job_budget_remaining_tokens")).toBe(false);
    expect(fresh.find((s) => s.name === "collab_job_waiting_for_capacity_seconds")?.value).toBe(0);
  });

  it("never reports a negative remaining budget", () => {
    const over = jobSamples([job({ spec: { budget: { maxTokens: 100 } } })], NOW);
    expect(value(over, "collab_job_budget_remaining_tokens")).toBe(0);
  });
});

describe("the scrape", () => {
  it("prints one line per sample, in blocks of thousands of series, names and values exactly as computed", async () => {
    // 1,500 jobs: about 90,000 series, several blocks for the per-condition and per-phase metrics.
    const jobs = Array.from({ length: 1500 }, (_, i) => ({
      ...job(),
      metadata: { name: `job-${i}`, namespace: `ns-${i % 7}` },
      status: { ...status, attempt: i, progress: { ...status.progress, reward: i % 3 === 0 ? -0.5 : i / 7 } },
    }));
    const cache = { hasSynced: () => true, list: () => jobs } as unknown as Cache;
    const registry = new Registry();
    registerJobMetrics(
      registry,
      () => cache,
      () => NOW,
    );
    const text = await registry.metrics();
    const printed = text.split("\n").filter((l) => l.startsWith("collab_job_"));
    const expected = jobSamples(jobs, NOW).map(
      (s) =>
        `${s.name}{${Object.entries(s.labels)
          .map(([k, v]) => `${k}="${v}"`)
          .join(",")}} ${s.value}`,
    );
    expect(printed.length).toBe(expected.length);
    expect(new Set(printed)).toEqual(new Set(expected));
    // What the runtime's /metrics streams is the same text, a piece at a time.
    let streamed = "";
    for await (const piece of exposition(registry)) streamed += piece;
    expect(streamed).toBe(text);
    // Each metric's lines stay under its own HELP and TYPE.
    for (const name of Object.keys(JOB_METRICS)) {
      const at = text.indexOf(`# TYPE ${name} `);
      const next = text.indexOf("# HELP", at);
      const section = text.slice(at, next < 0 ? undefined : next);
      expect(section.split("\n").filter((l) => l.startsWith(`${name}{`)).length).toBe(
        expected.filter((l) => l.startsWith(`${name}{`)).length,
      );
    }
  }, 60_000); // 90,000 series formatted three ways: seconds of CPU, more on a loaded machine
});
