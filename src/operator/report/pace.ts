// Cost and pace of a run (docs/operator.md, "Cost and pace"): what a step costs by endpoint and how long it takes, and
// where the run is heading, from two things the report endpoint already has: the step lines the head's gateway
// reports (status.progress) and the usage ledger. Pure: the report endpoint (server.ts) reads and writes.
//
// A mark is the job's usage, by endpoint, at the moment the gateway read a step line. The difference of two marks is
// what the steps between them used; their times, how long they took. The marks of the recent steps are kept in the
// usage ledger's ConfigMap (ledger-store.ts), so a restarted operator carries on where the last one stopped. Usage
// reaches the operator a little after it is spent (each gateway reports it every few seconds): a mark may miss the
// latest calls, which the next one then counts, so the mean over several steps is off by at most that lag once.
import { CONDITION } from "../../api/conditions.ts";
import type { Condition, Pace, Progress } from "../../api/schema.ts";
import { addSeconds, secondsBetween } from "../../api/time.ts";
import type { BudgetAmount } from "../../contract/allowance.ts";
import { ENDPOINT_ROLES, type EndpointRole } from "../../contract/gateway-settings.ts";
import { type ConditionInput, setCondition } from "../../kube/conditions.ts";

/** Tokens and spend by endpoint. */
export type ByEndpoint = Record<EndpointRole, { tokens: number; cost: number }>;

/** The job's cumulative usage when the gateway read step `step`'s line at `time`. */
export interface Mark {
  step: number;
  time: string;
  usage: ByEndpoint;
}

/** The forecast waits for this many steps: fewer make a noisy mean (one validation step doubles it). */
export const MIN_FORECAST_STEPS = 3;
/** A projection that went over the budget is back within it once under this share (no flapping at the line). */
const BACK_WITHIN = 0.95;

/**
 * How many recent steps the means are taken over: 10, or the smallest multiple of the validation period above it
 * (at most 50), so the mean holds as many validation steps (which call the endpoints too) as the run will have.
 */
export function paceWindow(validateEvery: number): number {
  if (validateEvery <= 0 || validateEvery >= 50) return 10;
  return Math.min(50, Math.ceil(10 / validateEvery) * validateEvery);
}

/**
 * The marks once this progress is taken in: a new mark for a step line not seen before (a new step, or a step the
 * trainer did again after a restart, read at another time). A step at or below the latest mark starts the marks
 * anew: the trainer resumed from a checkpoint, and the time in between was the restart's, not a step's.
 */
export function nextMarks(
  marks: readonly Mark[],
  progress: Progress | undefined,
  usage: ByEndpoint,
  window: number,
): readonly Mark[] {
  if (progress?.step === undefined || progress.lastUpdateTime === undefined) return marks;
  const last = marks.at(-1);
  if (last && last.step === progress.step && last.time === progress.lastUpdateTime) return marks;
  const mark = { step: progress.step, time: progress.lastUpdateTime, usage };
  if (last && (progress.step <= last.step || secondsBetween(last.time, mark.time) < 0)) return [mark];
  return [...marks, mark].slice(-(window + 1));
}

/** The means of the steps between two marks. */
function between(from: Mark, to: Mark, priced: boolean) {
  const steps = to.step - from.step;
  const per = (role: EndpointRole) => {
    const tokens = Math.max(0, to.usage[role].tokens - from.usage[role].tokens) / steps;
    const cost = Math.max(0, to.usage[role].cost - from.usage[role].cost) / steps;
    return priced ? { tokens, cost } : { tokens };
  };
  const userSimulator = per("user-simulator");
  const judge = per("judge");
  return {
    steps,
    seconds: Math.max(0, secondsBetween(from.time, to.time)) / steps,
    tokens: userSimulator.tokens + judge.tokens,
    ...(priced ? { cost: (userSimulator.cost ?? 0) + (judge.cost ?? 0) } : {}),
    userSimulator,
    judge,
  };
}

/** status.pace from the marks: none before two marks of one run of the trainer. */
export function paceOf(marks: readonly Mark[], totalSteps: number | undefined, priced: boolean): Pace | undefined {
  if (marks.length < 2) return undefined;
  const first = marks[0]!;
  const last = marks.at(-1)!;
  const previous = marks.at(-2)!;
  let longestSeconds = 0;
  for (let i = 1; i < marks.length; i++) {
    longestSeconds = Math.max(longestSeconds, between(marks[i - 1]!, marks[i]!, priced).seconds);
  }
  const perStep = { ...between(first, last, priced), longestSeconds };
  const lastStep = { step: last.step, ...between(previous, last, priced) };
  if (totalSteps === undefined) return { lastStep, perStep };
  const stepsLeft = Math.max(0, totalSteps - last.step);
  const spent = (key: "tokens" | "cost") => ENDPOINT_ROLES.reduce((sum, role) => sum + last.usage[role][key], 0);
  return {
    lastStep,
    perStep,
    stepsLeft,
    projectedTokens: spent("tokens") + stepsLeft * perStep.tokens,
    ...(priced ? { projectedCost: spent("cost") + stepsLeft * (perStep.cost ?? 0) } : {}),
    estimatedCompletionTime: addSeconds(last.time, stepsLeft * perStep.seconds),
  };
}

/**
 * BudgetSufficient, only for a job with a budget: whether the projection fits it. Unknown until the means rest on
 * MIN_FORECAST_STEPS steps (a decided one stands meanwhile, after a restart); False once the projected tokens or spend pass the budget (the report endpoint records a
 * Warning Event then, once), True again once they are back under 95% of it.
 */
export function forecastCondition(
  previous: readonly Condition[],
  pace: Pace | undefined,
  budget: BudgetAmount,
  now: string,
  generation: number | undefined,
): Condition[] {
  if (budget.tokens === 0 && budget.cost === 0) return [];
  const was = previous.filter((c) => c.type === CONDITION.budgetSufficient);
  const set = (c: Omit<ConditionInput, "type">) =>
    setCondition(was, { type: CONDITION.budgetSufficient, ...c }, now, generation);
  const steps = pace?.perStep.steps ?? 0;
  if (!pace || steps < MIN_FORECAST_STEPS || pace.stepsLeft === undefined) {
    // A decided forecast stands while a restarted trainer's new marks are too few: its Event is told once per change.
    if (was.some((c) => c.status !== "Unknown")) return was;
    return set({
      status: "Unknown",
      reason: "Estimating",
      message: `the forecast waits for ${MIN_FORECAST_STEPS} steps of this run of the trainer with their usage (${steps} so far)`,
    });
  }
  const wasOver = was.some((c) => c.status === "False");
  const over = passes(pace, budget, 1) || (wasOver && passes(pace, budget, BACK_WITHIN));
  const basis = `over the last ${steps} steps, ${perStepText(pace)} a step`;
  if (over) {
    return set({
      status: "False",
      reason: "ProjectedOverBudget",
      message: `at the recent pace (${basis}) the run needs ${needs(pace, budget).join(" and ")}${runsOutAt(pace, budget)}; raise spec.budget, or expect the gateways to refuse calls from then on`,
    });
  }
  return set({
    status: "True",
    reason: "ProjectionFits",
    message: `at the recent pace (${basis}) the run needs ${needs(pace, budget).join(" and ")}`,
  });
}

/** Whether the projection passes `share` of any kind of budget the job has. */
function passes(pace: Pace, budget: BudgetAmount, share: number): boolean {
  return (
    (budget.tokens > 0 && (pace.projectedTokens ?? 0) > budget.tokens * share) ||
    (budget.cost > 0 && (pace.projectedCost ?? 0) > budget.cost * share)
  );
}

function kinds(budget: BudgetAmount): ("tokens" | "cost")[] {
  return [...(budget.tokens > 0 ? ["tokens" as const] : []), ...(budget.cost > 0 ? ["cost" as const] : [])];
}

function needs(pace: Pace, budget: BudgetAmount): string[] {
  return kinds(budget).map((kind) =>
    kind === "tokens"
      ? `${Math.round(pace.projectedTokens ?? 0)} of the budget's ${budget.tokens} tokens (spec.budget.maxTokens)`
      : `${money(pace.projectedCost)} of the budget's ${money(budget.cost)} (spec.budget.maxCost)`,
  );
}

/** ": it runs out around step N of M", from the latest step and the means. */
function runsOutAt(pace: Pace, budget: BudgetAmount): string {
  const total = pace.lastStep.step + (pace.stepsLeft ?? 0);
  const left = kinds(budget).map((kind) => {
    const spentAtLast =
      kind === "tokens"
        ? (pace.projectedTokens ?? 0) - (pace.stepsLeft ?? 0) * pace.perStep.tokens
        : (pace.projectedCost ?? 0) - (pace.stepsLeft ?? 0) * (pace.perStep.cost ?? 0);
    const perStep = kind === "tokens" ? pace.perStep.tokens : (pace.perStep.cost ?? 0);
    const room = (kind === "tokens" ? budget.tokens : budget.cost) - spentAtLast;
    return perStep > 0 ? Math.floor(room / perStep) : Number.POSITIVE_INFINITY;
  });
  const steps = Math.min(...left);
  if (!Number.isFinite(steps)) return "";
  return `: it runs out around step ${pace.lastStep.step + Math.max(0, steps) + 1} of ${total}`;
}

/** What a run still needs beyond the budget to reach its last step, for BudgetExceeded's message; none unknown. */
export function projectedNeed(pace: Pace | undefined, budget: BudgetAmount): string | undefined {
  if (!pace || pace.stepsLeft === undefined || pace.perStep.steps < MIN_FORECAST_STEPS) return undefined;
  const more = kinds(budget).flatMap((kind) => {
    const beyond =
      kind === "tokens" ? (pace.projectedTokens ?? 0) - budget.tokens : (pace.projectedCost ?? 0) - budget.cost;
    if (beyond <= 0) return [];
    return [kind === "tokens" ? `${Math.ceil(beyond)} tokens` : money(beyond)];
  });
  if (more.length === 0) return undefined;
  return `at the recent pace (over the last ${pace.perStep.steps} steps) its ${pace.stepsLeft} steps left need about ${more.join(" and ")} more than the budget`;
}

function perStepText(pace: Pace): string {
  const tokens = `${Math.round(pace.perStep.tokens)} tokens`;
  return pace.perStep.cost === undefined ? tokens : `${money(pace.perStep.cost)} and ${tokens}`;
}

/** Spend as people read it: two decimals, more for amounts below a cent. */
export function money(amount: number | undefined): string {
  const a = amount ?? 0;
  return a >= 0.01 || a === 0 ? a.toFixed(2) : a.toPrecision(2);
}
