// Per-job metrics, computed from the jobs' cache at scrape time (never counted along the way), so they never drift
// from what the cluster holds, survive an operator restart, and a finished job's series stay until the job is deleted.
// One prefix, collab_; labels are bounded: namespace and job, and small enums (phase, condition, status, role,
// endpoint, type, split) or a reward metric's name (at most MAX_REWARD_METRICS a job); never a pod name or a message.
// A standby, which has no cache, exports none of them.
//
// jobSamples() is pure: the jobs and the time in, the samples out. registerJobMetrics() binds it to prom-client.
import { Gauge, type Registry } from "prom-client";
import { CONDITION } from "../api/conditions.ts";
import { PHASES, type Status } from "../api/schema.ts";
import { type Cache, nextSlice, type StreamedMetric } from "../runtime/index.ts";

export type Labels = Record<string, string>;

interface MetricSpec {
  type: "gauge" | "counter";
  help: string;
  /** Labels beyond namespace and job. */
  labels: readonly string[];
}

/** Every per-job metric: its name, type, meaning and labels (docs/operator.md, "Metrics", lists the same). */
export const JOB_METRICS = {
  collab_job_phase: {
    type: "gauge",
    help: "1 for the job's status.phase, 0 for the other phases",
    labels: ["phase"],
  },
  collab_job_attempt: {
    type: "gauge",
    help: "status.attempt: the current attempt (moves on every restart)",
    labels: [],
  },
  collab_job_restarts_total: {
    type: "counter",
    help: "Restarts counted against failurePolicy.maxRestarts (status.restarts)",
    labels: [],
  },
  collab_job_disruptions_total: {
    type: "counter",
    help: "Restarts not counted against maxRestarts: disruptions (status.disruptions)",
    labels: [],
  },
  collab_job_condition: {
    type: "gauge",
    help: "1 for each condition's current status (True, False, Unknown), 0 for the others",
    labels: ["condition", "status"],
  },
  collab_job_pods: {
    type: "gauge",
    help: "Pods of the current attempt by role and phase (status.roles)",
    labels: ["role", "phase"],
  },
  collab_job_pods_desired: { type: "gauge", help: "Pods the job wants, by role (status.roles)", labels: ["role"] },
  collab_job_start_timestamp_seconds: {
    type: "gauge",
    help: "status.startTime: when the first pod was bound to a node",
    labels: [],
  },
  collab_job_completion_timestamp_seconds: {
    type: "gauge",
    help: "status.completionTime: when the job finished",
    labels: [],
  },
  collab_job_waiting_for_capacity_seconds: {
    type: "gauge",
    help: "How long the stage has been waiting for capacity (WaitingForCapacity=True); 0 when it is not",
    labels: [],
  },
  collab_job_progress_step: { type: "gauge", help: "The latest training step veRL logged", labels: [] },
  collab_job_progress_total_steps: { type: "gauge", help: "veRL's total training steps", labels: [] },
  collab_job_reward: {
    type: "gauge",
    help: "critic/score/mean of the latest step: CollabLLM's multiturn-aware reward",
    labels: [],
  },
  collab_job_reward_min: { type: "gauge", help: "critic/score/min of the latest step", labels: [] },
  collab_job_reward_max: { type: "gauge", help: "critic/score/max of the latest step", labels: [] },
  collab_job_validation_reward: { type: "gauge", help: "The latest val-core/<source>/reward/mean@N", labels: [] },
  collab_job_reward_metric: {
    type: "gauge",
    help: "A component of the reward by metric (status.progress.rewardMetrics): its weighted, clamped mean over the latest training step's samples or the latest validation's (split)",
    labels: ["metric", "split"],
  },
  collab_job_throughput_tokens_per_second: {
    type: "gauge",
    help: "perf/throughput of the latest step: tokens per second per GPU",
    labels: [],
  },
  collab_job_step_duration_seconds: { type: "gauge", help: "timing_s/step of the latest step", labels: [] },
  collab_job_progress_updated_timestamp_seconds: {
    type: "gauge",
    help: "When the head pod's gateway read the latest step line",
    labels: [],
  },
  collab_job_estimated_completion_timestamp_seconds: {
    type: "gauge",
    help: "status.pace.estimatedCompletionTime: the latest step line's time and the steps left at the recent mean wall time per step",
    labels: [],
  },
  collab_job_checkpoint_step: {
    type: "gauge",
    help: "The step of the latest checkpoint veRL completed (status.progress.checkpointStep)",
    labels: [],
  },
  collab_job_pace_steps: {
    type: "gauge",
    help: "How many recent steps the per-step means and the forecast rest on (status.pace.perStep.steps)",
    labels: [],
  },
  collab_job_pace_step_seconds: {
    type: "gauge",
    help: "Mean wall-clock seconds per step over the recent steps, validation and checkpoints included (status.pace.perStep.seconds)",
    labels: [],
  },
  collab_job_pace_step_tokens: {
    type: "gauge",
    help: "Mean tokens per step over the recent steps, by endpoint (status.pace.perStep)",
    labels: ["endpoint"],
  },
  collab_job_pace_step_cost: {
    type: "gauge",
    help: "Mean spend per step over the recent steps, by endpoint (status.pace.perStep; only endpoints with pricing)",
    labels: ["endpoint"],
  },
  collab_job_projected_tokens: {
    type: "gauge",
    help: "Tokens the run will have used at its last step at the recent pace (status.pace.projectedTokens)",
    labels: [],
  },
  collab_job_projected_cost: {
    type: "gauge",
    help: "Spend at the run's last step at the recent pace (status.pace.projectedCost; only with pricing)",
    labels: [],
  },
  collab_job_budget_sufficient: {
    type: "gauge",
    help: "1 while the projection fits the budget, 0 once it does not (condition BudgetSufficient; only jobs with a budget, once decided)",
    labels: [],
  },
  collab_job_api_requests_total: {
    type: "counter",
    help: "Requests the gateways served, by endpoint (user-simulator, judge)",
    labels: ["endpoint"],
  },
  collab_job_api_tokens_total: {
    type: "counter",
    help: "Tokens the upstream counted, by endpoint and type (prompt, completion)",
    labels: ["endpoint", "type"],
  },
  collab_job_api_errors_total: {
    type: "counter",
    help: "Requests that failed after the gateways' retries, by endpoint",
    labels: ["endpoint"],
  },
  collab_job_api_rate_limited_total: {
    type: "counter",
    help: "429 answers from the upstream, by endpoint",
    labels: ["endpoint"],
  },
  collab_job_api_retries_total: {
    type: "counter",
    help: "Upstream attempts retried, by endpoint",
    labels: ["endpoint"],
  },
  collab_job_api_cache_hits_total: {
    type: "counter",
    help: "Answers served from the gateways' temperature-0 cache, by endpoint",
    labels: ["endpoint"],
  },
  collab_job_api_cost_total: {
    type: "counter",
    help: "Spend at the endpoint's spec pricing, by endpoint (only endpoints with pricing)",
    labels: ["endpoint"],
  },
  collab_job_budget_cost: { type: "gauge", help: "spec.budget.maxCost (only jobs with a cost budget)", labels: [] },
  collab_job_budget_used_cost: {
    type: "gauge",
    help: "Spend against the cost budget (status.usage.totalCost; only jobs with pricing)",
    labels: [],
  },
  collab_job_budget_tokens: { type: "gauge", help: "spec.budget.maxTokens (only jobs with a budget)", labels: [] },
  collab_job_budget_used_tokens: {
    type: "gauge",
    help: "Tokens spent against the budget (simulator + judge, status.usage.totalTokens)",
    labels: [],
  },
  collab_job_budget_remaining_tokens: {
    type: "gauge",
    help: "Tokens left in the budget, never below 0 (only jobs with a budget)",
    labels: [],
  },
  collab_job_budget_exceeded: {
    type: "gauge",
    help: "1 while the BudgetExceeded condition is True (only jobs with a budget)",
    labels: [],
  },
} as const satisfies Record<string, MetricSpec>;

export type JobMetricName = keyof typeof JOB_METRICS;

export interface Sample {
  name: JobMetricName;
  labels: Labels;
  value: number;
}

/** A job as the cache holds it: only what the metrics read. */
interface CachedJob {
  metadata?: { name?: string; namespace?: string };
  spec?: { budget?: { maxTokens?: number; maxCost?: number } };
  status?: Status;
}

const ENDPOINTS = [
  ["user-simulator", "userSimulator"],
  ["judge", "judge"],
] as const;
const POD_PHASES = ["pending", "running", "succeeded", "failed"] as const;
const STATUSES = ["True", "False", "Unknown"] as const;

export function jobSamples(jobs: readonly CachedJob[], now: Date): Sample[] {
  return jobs.flatMap((job) => samplesOf(job, now));
}

function samplesOf(job: CachedJob, now: Date): Sample[] {
  const id = { namespace: job.metadata?.namespace ?? "", job: job.metadata?.name ?? "" };
  const out: Sample[] = [];
  const add = (name: JobMetricName, value: number | undefined, labels: Labels = {}) => {
    if (value !== undefined && Number.isFinite(value)) out.push({ name, labels: { ...id, ...labels }, value });
  };
  const seconds = (time: string | undefined) => (time ? Date.parse(time) / 1000 : undefined);
  const status = job.status ?? {};
  const phase = status.phase ?? "Pending";
  for (const p of PHASES) add("collab_job_phase", p === phase ? 1 : 0, { phase: p });
  add("collab_job_attempt", status.attempt ?? 0);
  add("collab_job_restarts_total", status.restarts ?? 0);
  add("collab_job_disruptions_total", status.disruptions ?? 0);
  for (const c of status.conditions ?? []) {
    for (const s of STATUSES) add("collab_job_condition", c.status === s ? 1 : 0, { condition: c.type, status: s });
  }
  for (const role of status.roles ?? []) {
    add("collab_job_pods_desired", role.desired, { role: role.name });
    for (const p of POD_PHASES) add("collab_job_pods", role[p], { role: role.name, phase: capitalized(p) });
  }
  add("collab_job_start_timestamp_seconds", seconds(status.startTime));
  add("collab_job_completion_timestamp_seconds", seconds(status.completionTime));
  const waiting = status.conditions?.find((c) => c.type === CONDITION.waitingForCapacity && c.status === "True");
  add(
    "collab_job_waiting_for_capacity_seconds",
    waiting ? Math.max(0, now.getTime() / 1000 - (seconds(waiting.lastTransitionTime) ?? now.getTime() / 1000)) : 0,
  );
  const progress = status.progress;
  if (progress) {
    add("collab_job_progress_step", progress.step);
    add("collab_job_progress_total_steps", progress.totalSteps);
    add("collab_job_reward", progress.reward);
    add("collab_job_reward_min", progress.rewardMin);
    add("collab_job_reward_max", progress.rewardMax);
    add("collab_job_validation_reward", progress.validationReward);
    for (const [metric, means] of Object.entries(progress.rewardMetrics ?? {})) {
      add("collab_job_reward_metric", means.training, { metric, split: "training" });
      add("collab_job_reward_metric", means.validation, { metric, split: "validation" });
    }
    add("collab_job_throughput_tokens_per_second", progress.throughput);
    add("collab_job_step_duration_seconds", progress.stepSeconds);
    add("collab_job_progress_updated_timestamp_seconds", seconds(progress.lastUpdateTime));
    add("collab_job_checkpoint_step", progress.checkpointStep);
  }
  const pace = status.pace;
  if (pace) {
    add("collab_job_pace_steps", pace.perStep.steps);
    add("collab_job_pace_step_seconds", pace.perStep.seconds);
    for (const [endpoint, field] of ENDPOINTS) {
      add("collab_job_pace_step_tokens", pace.perStep[field].tokens, { endpoint });
      add("collab_job_pace_step_cost", pace.perStep[field].cost, { endpoint });
    }
    add("collab_job_projected_tokens", pace.projectedTokens);
    add("collab_job_projected_cost", pace.projectedCost);
    add("collab_job_estimated_completion_timestamp_seconds", seconds(pace.estimatedCompletionTime));
  }
  const sufficient = status.conditions?.find((c) => c.type === CONDITION.budgetSufficient && c.status !== "Unknown");
  if (sufficient) add("collab_job_budget_sufficient", sufficient.status === "True" ? 1 : 0);
  const usage = status.usage;
  for (const [endpoint, field] of ENDPOINTS) {
    const u = usage?.[field];
    if (!u) continue;
    add("collab_job_api_requests_total", u.requests, { endpoint });
    add("collab_job_api_tokens_total", u.promptTokens, { endpoint, type: "prompt" });
    add("collab_job_api_tokens_total", u.completionTokens, { endpoint, type: "completion" });
    add("collab_job_api_errors_total", u.errors, { endpoint });
    add("collab_job_api_rate_limited_total", u.rateLimited, { endpoint });
    add("collab_job_api_retries_total", u.retries, { endpoint });
    add("collab_job_api_cache_hits_total", u.cacheHits ?? 0, { endpoint });
    add("collab_job_api_cost_total", u.cost, { endpoint });
  }
  add("collab_job_budget_used_cost", usage?.totalCost);
  add("collab_job_budget_cost", job.spec?.budget?.maxCost);
  const budget = job.spec?.budget?.maxTokens;
  const used = usage?.totalTokens ?? 0;
  add("collab_job_budget_used_tokens", used);
  if (budget !== undefined) {
    add("collab_job_budget_tokens", budget);
    add("collab_job_budget_remaining_tokens", Math.max(0, budget - used));
    const exceeded = status.conditions?.some((c) => c.type === CONDITION.budgetExceeded && c.status === "True");
    add("collab_job_budget_exceeded", exceeded ? 1 : 0);
  }
  return out;
}

function capitalized(s: string): string {
  return s.charAt(0).toUpperCase() + s.slice(1);
}

/**
 * Registers the per-job metrics, and collab_jobs{phase} (jobs by phase), on `registry`. Every scrape reads the cache
 * once for all of them. Thousands of jobs make hundreds of thousands of series, and prom-client's own path (Gauge.set
 * hashes each sample's labels, then every metric is formatted in one go) held the event loop for the whole scrape.
 * So the lines are written here, a few milliseconds of jobs at a time with the loop free in between (nextSlice), and
 * they are kept a block at a time (see PreformattedSample): handing prom-client each series with its labels formatted
 * still held the loop per metric (its per-series label handling, and the garbage of a small string per series).
 * docs/operator.md ("Scale and memory") has the figures. The runtime's /metrics streams them (exposition());
 * prom-client's get() serves the same blocks.
 */
export function registerJobMetrics(registry: Registry, jobs: () => Cache, now: () => Date = () => new Date()): void {
  // The lines of one scrape are computed once and shared by its metrics. The runtime's streamed /metrics names its
  // scrape (it reads the metrics one after another, for as long as the client takes); prom-client's own readers ask
  // for every metric at once, and share the lines of the last 100 ms.
  const byScrape = new WeakMap<object, Promise<Map<JobMetricName, PreformattedSample[]>>>();
  const linesOf = (scrape: object) => {
    let lines = byScrape.get(scrape);
    if (!lines) {
      lines = preformatted(jobs(), now());
      byScrape.set(scrape, lines);
    }
    return lines;
  };
  let recent: { at: number; scrape: object } | undefined;
  const recentScrape = () => {
    const at = now().getTime();
    if (!recent || at - recent.at > 100) recent = { at, scrape: {} };
    return recent.scrape;
  };
  for (const [name, spec] of Object.entries(JOB_METRICS) as [JobMetricName, MetricSpec][]) {
    const metric = { name, help: spec.help, type: spec.type, aggregator: "sum" as const };
    const streamed: StreamedMetric = {
      name,
      // The runtime's /metrics writes these a block at a time (prom-client's text, never one string of them all).
      async *exposition(pass: object) {
        yield `# HELP ${name} ${escapedHelp(spec.help)}\n# TYPE ${name} ${spec.type}`;
        for (const block of (await linesOf(pass)).get(name) ?? [])
          yield `\n${block.metricName} ${valueText(block.value)}`;
      },
    };
    registry.registerMetric({
      ...metric,
      ...streamed,
      get: async () => ({ ...metric, values: (await linesOf(recentScrape())).get(name) ?? [] }),
      reset: () => {},
    } as unknown as Gauge);
  }
  new Gauge({
    name: "collab_jobs",
    help: "CollabTrainingJobs by status.phase (jobs without a phase yet count as Pending)",
    labelNames: ["phase"],
    registers: [registry],
    collect() {
      this.reset();
      const cache = jobs();
      if (!cache.hasSynced()) return; // a standby has no cache; report nothing rather than zeros
      for (const phase of PHASES) this.set({ phase }, 0);
      for (const job of cache.list()) this.inc({ phase: (job as CachedJob).status?.phase ?? "Pending" });
    },
  });
}

/**
 * A sample as prom-client prints it: `${metricName} ${value}`. Each carries a block of series: metricName is every
 * line of the block but the last, whole, then the last one's name and labels; value is the last one's value. So
 * prom-client's loop over samples runs once per block, and the text is the same as one sample per series.
 */
interface PreformattedSample {
  metricName: string;
  value: number;
}

/** Series per block: a few hundred KiB of text, small enough to join in well under a millisecond. */
const BLOCK = 2000;

/** HELP text as prom-client escapes it (backslash, newline). */
function escapedHelp(help: string): string {
  return help.replace(/\\/g, "\\\\").replace(/\n/g, "\\n");
}

/** A number as the exposition format writes it (prom-client's spelling of NaN and the infinities). */
function valueText(v: number): string {
  if (Number.isNaN(v)) return "Nan";
  if (!Number.isFinite(v)) return v < 0 ? "-Inf" : "+Inf";
  return `${v}`;
}

/** Every job's samples by metric, in blocks; none without a synced cache (a standby). */
async function preformatted(cache: Cache, at: Date): Promise<Map<JobMetricName, PreformattedSample[]>> {
  const byName = new Map<JobMetricName, PreformattedSample[]>();
  if (!cache.hasSynced()) return byName;
  // The lines of each metric's block being filled: every line whole, and the last one's name and value apart.
  const open = new Map<JobMetricName, { lines: string[]; last: { series: string; value: number } }>();
  const close = (name: JobMetricName) => {
    const block = open.get(name);
    if (!block) return;
    const { lines, last } = block;
    const metricName = lines.length > 0 ? `${lines.join("\n")}\n${last.series}` : last.series;
    const list = byName.get(name);
    if (list) list.push({ metricName, value: last.value });
    else byName.set(name, [{ metricName, value: last.value }]);
    open.delete(name);
  };
  for (const job of cache.list() as CachedJob[]) {
    for (const s of jobSamples([job], at)) {
      const series = `${s.name}{${labelText(s.labels)}}`;
      const block = open.get(s.name);
      if (!block) {
        open.set(s.name, { lines: [], last: { series, value: s.value } });
        continue;
      }
      block.lines.push(`${block.last.series} ${valueText(block.last.value)}`);
      block.last = { series, value: s.value };
      if (block.lines.length + 1 >= BLOCK) close(s.name);
    }
    await nextSlice();
  }
  for (const name of [...open.keys()]) close(name);
  return byName;
}

/** Labels in the exposition format: values escaped as the format asks (backslash, double quote, newline). */
function labelText(labels: Labels): string {
  return Object.entries(labels)
    .map(([k, v]) => `${k}="${v.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n")}"`)
    .join(",");
}
