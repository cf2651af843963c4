// Per-job metrics scraped from a running operator: phase, attempt, progress and reward, API usage by endpoint,
// budget; they stay once the job finished and go with the job.
import { describe, expect, it } from "vitest";
import { custom } from "./kube.ts";
import {
  eventually,
  finishPod,
  getJob,
  jobApi,
  judgeReport,
  type OperatorProcess,
  trainingJob,
  waitForPhase,
} from "./operator.ts";

/** The value of the series `name` whose labels include `labels`, from a Prometheus text exposition. */
function series(text: string, name: string, labels: Record<string, string>): number | undefined {
  for (const line of text.split("\n")) {
    const m = /^([a-z_]+)\{(.*)\} (\S+)$/.exec(line);
    if (!m || m[1] !== name) continue;
    const have = Object.fromEntries([...(m[2] as string).matchAll(/(\w+)="([^"]*)"/g)].map((l) => [l[1], l[2]]));
    if (Object.entries(labels).every(([k, v]) => have[k] === v)) return Number(m[3]);
  }
  return undefined;
}

async function scrape(operator: OperatorProcess): Promise<string> {
  return (await fetch(`http://127.0.0.1:${await operator.metricsPort()}/metrics`)).text();
}

describe("per-job metrics", () => {
  it("exports a job's phase, progress, reward, usage and budget, keeps them once it finished, drops them with it", async () => {
    const { ns, operator, token, reportURL: url } = await trainingJob("metrics", { budget: { maxTokens: 1000 } });
    const report = judgeReport(
      "job-a0-head",
      { requests: 7, promptTokens: 300, completionTokens: 50, rateLimited: 2, retries: 3, errors: 1 },
      {
        progress: {
          step: 5,
          totalSteps: 60,
          stepOfTotal: "5/60",
          reward: 0.42,
          rewardMin: -0.1,
          rewardMax: 0.9,
          validationReward: 0.5,
          rewardMetrics: {
            accuracy: { training: 0.3, validation: 0.4 },
            interactivity: { training: 0.15 },
            token_amount: { training: -0.03, validation: -0.02 },
          },
          stepSeconds: 90,
          throughput: 1523.7,
          checkpointStep: 4,
          lastUpdateTime: "2026-11-22T10:00:01Z",
        },
      },
    );
    const post = (what: string, body: unknown) =>
      eventually(what, async () => {
        const r = await fetch(url, {
          method: "POST",
          headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
          body: JSON.stringify(body),
        });
        return r.status === 200;
      });
    await post("the report taken", report);
    await eventually("progress on the status", async () => (await getJob(ns, "job")).status?.progress?.step === 5);

    const job = { namespace: ns, job: "job" };
    const text = await eventually("the job's metrics", async () => {
      const t = await scrape(operator);
      return series(t, "collab_job_progress_step", job) === 5 ? t : undefined;
    });
    expect(series(text, "collab_job_phase", { ...job, phase: "Training" })).toBe(1);
    expect(series(text, "collab_job_phase", { ...job, phase: "Preparing" })).toBe(0);
    expect(series(text, "collab_job_attempt", job)).toBe(0);
    expect(series(text, "collab_job_restarts_total", job)).toBe(0);
    expect(series(text, "collab_job_progress_total_steps", job)).toBe(60);
    expect(series(text, "collab_job_reward", job)).toBe(0.42);
    expect(series(text, "collab_job_reward_min", job)).toBe(-0.1);
    expect(series(text, "collab_job_reward_max", job)).toBe(0.9);
    expect(series(text, "collab_job_validation_reward", job)).toBe(0.5);
    expect(series(text, "collab_job_reward_metric", { ...job, metric: "accuracy", split: "training" })).toBe(0.3);
    expect(series(text, "collab_job_reward_metric", { ...job, metric: "accuracy", split: "validation" })).toBe(0.4);
    expect(series(text, "collab_job_reward_metric", { ...job, metric: "interactivity", split: "training" })).toBe(0.15);
    expect(series(text, "collab_job_reward_metric", { ...job, metric: "interactivity", split: "validation" })).toBe(
      undefined,
    );
    expect(series(text, "collab_job_reward_metric", { ...job, metric: "token_amount", split: "validation" })).toBe(
      -0.02,
    );
    expect(series(text, "collab_job_throughput_tokens_per_second", job)).toBe(1523.7);
    expect(series(text, "collab_job_checkpoint_step", job)).toBe(4);
    expect(series(text, "collab_job_api_requests_total", { ...job, endpoint: "judge" })).toBe(7);
    expect(series(text, "collab_job_api_tokens_total", { ...job, endpoint: "judge", type: "prompt" })).toBe(300);
    expect(series(text, "collab_job_api_rate_limited_total", { ...job, endpoint: "judge" })).toBe(2);
    expect(series(text, "collab_job_api_errors_total", { ...job, endpoint: "judge" })).toBe(1);
    expect(series(text, "collab_job_budget_used_tokens", job)).toBe(350);
    expect(series(text, "collab_job_budget_remaining_tokens", job)).toBe(650);
    expect(series(text, "collab_job_pods", { ...job, role: "head", phase: "Running" })).toBe(1);
    expect(series(text, "collab_job_condition", { ...job, condition: "DatasetReady", status: "True" })).toBe(1);
    expect(series(text, "collab_job_waiting_for_capacity_seconds", job)).toBe(0);
    expect(series(text, "collab_jobs", { phase: "Training" })).toBe(1);
    expect(text).toContain("# TYPE collab_job_api_requests_total counter");
    expect(text).not.toContain("job-a0-head"); // no pod name in any label

    // The trainer's last step line, then its exit 0: a run that reached its total is one that succeeded.
    const last = { ...report, progress: { ...report.progress, step: 60, stepOfTotal: "60/60" } };
    await post("the last step's report taken", last);
    await eventually(
      "the last step on the status",
      async () => (await getJob(ns, "job")).status?.progress?.step === 60,
    );
    await finishPod(ns, "job-a0-head", "Succeeded");
    await waitForPhase(ns, "job", "Succeeded");
    const finished = await eventually("the finished job's metrics", async () => {
      const t = await scrape(operator);
      return series(t, "collab_job_phase", { ...job, phase: "Succeeded" }) === 1 ? t : undefined;
    });
    expect(series(finished, "collab_job_reward", job)).toBe(0.42);
    expect(series(finished, "collab_job_completion_timestamp_seconds", job)).toBeGreaterThan(0);

    await custom.deleteNamespacedCustomObject({ ...jobApi, namespace: ns, name: "job" });
    await eventually("the job's series gone", async () => !(await scrape(operator)).includes(`namespace="${ns}"`));
  }, 120_000);
});
