// What the gateways report becomes status.usage, status.progress (as the head's gateway reported it), status.pace and
// the conditions BudgetExceeded and BudgetSufficient (pace.ts). Pure: the report endpoint (server.ts) reads and
// writes, this decides.
//
// Usage counters are cumulative per gateway process (pod, role, startId). The operator keeps the latest report of
// each in a ledger (the job's usage ConfigMap, one key per process: ledger-store.ts), so a restarted sidecar or
// operator loses nothing: a role's total is the sum over the ledger.

import { CONDITION, REPORTED_CONDITIONS } from "../../api/conditions.ts";
import type { Condition, Pace, Progress, Spec, Status } from "../../api/schema.ts";
import type { BudgetAmount } from "../../contract/allowance.ts";
import type { EndpointRole } from "../../contract/gateway-settings.ts";
import type { GatewayReport } from "../../contract/report.ts";
import { costOf, emptyUsage, type Prices, totalTokens, type UsageCounters } from "../../contract/usage.ts";
import { setCondition } from "../../kube/conditions.ts";
import { sameData } from "../../kube/json.ts";
import { type ByEndpoint, forecastCondition, type Mark, money, paceOf, projectedNeed } from "./pace.ts";
import type { ServedSpend } from "./served-spend.ts";

/** ConfigMap-safe key of one gateway process. */
export function ledgerKey(report: Pick<GatewayReport, "pod" | "role" | "startId">): string {
  return `${report.pod}.${report.role}.${report.startId}`;
}

export function ledgerEntry(report: GatewayReport): string {
  return JSON.stringify(report.usage[report.role] ?? {});
}

/** One gateway process's latest counters in the ledger. */
export interface LedgerEntry {
  role: EndpointRole;
  usage: UsageCounters;
}

/** The ledger's entries, parsed; a damaged entry is left out rather than stopping the accounting of the others. */
export function parseLedger(ledger: Record<string, string>): Map<string, LedgerEntry> {
  const entries = new Map<string, LedgerEntry>();
  for (const [key, value] of Object.entries(ledger)) {
    const role = key.includes(".user-simulator.") ? "user-simulator" : key.includes(".judge.") ? "judge" : undefined;
    if (!role) continue;
    let counters: Partial<UsageCounters>;
    try {
      counters = JSON.parse(value) as Partial<UsageCounters>;
    } catch {
      continue;
    }
    const usage = emptyUsage();
    for (const k of Object.keys(usage) as (keyof UsageCounters)[]) usage[k] = Number(counters[k] ?? 0) || 0;
    entries.set(key, { role, usage });
  }
  return entries;
}

export type EndpointPrices = Record<EndpointRole, Prices | undefined>;

/** An endpoint's token prices from its pricing: none when it has only perGpuHour (a served role). */
function tokenPrices(pricing: Spec["judge"]["pricing"]): Prices | undefined {
  if (pricing?.promptPerMillionTokens === undefined) return undefined;
  return {
    promptPerMillionTokens: pricing.promptPerMillionTokens,
    completionPerMillionTokens: pricing.completionPerMillionTokens ?? 0,
  };
}

/** Each endpoint's token prices from the spec (undefined: its tokens cost nothing). */
export function endpointPrices(spec: Pick<Spec, "userSimulator" | "judge">): EndpointPrices {
  return { "user-simulator": tokenPrices(spec.userSimulator.pricing), judge: tokenPrices(spec.judge.pricing) };
}

/** Each endpoint's counters summed over the ledger's gateway processes. */
function roleSums(entries: ReadonlyMap<string, LedgerEntry>): Record<EndpointRole, UsageCounters> {
  const sums: Record<EndpointRole, UsageCounters> = { "user-simulator": emptyUsage(), judge: emptyUsage() };
  for (const { role, usage } of entries.values()) {
    for (const k of Object.keys(usage) as (keyof UsageCounters)[]) sums[role][k] += usage[k];
  }
  return sums;
}

/**
 * Tokens and spend by endpoint: what a step mark records (pace.ts). The spend is the tokens at their prices and, for
 * a served role, its server's GPU-hours at its perGpuHour (served), so a step's cost covers paid and served calls.
 */
export function usageByEndpoint(
  entries: ReadonlyMap<string, LedgerEntry>,
  prices: EndpointPrices,
  served: ServedSpend = {},
): ByEndpoint {
  const sums = roleSums(entries);
  const of = (role: EndpointRole) => ({
    tokens: totalTokens(sums[role]),
    cost: costOf(sums[role], prices[role]) + (served[role]?.cost ?? 0),
  });
  return { "user-simulator": of("user-simulator"), judge: of("judge") };
}

/**
 * status.usage: each endpoint's counters summed over the ledger, and its spend: its tokens at its token prices, and
 * for a served role its server's GPU-hours at its perGpuHour (served).
 */
export function usageTotals(
  spec: Pick<Spec, "userSimulator" | "judge">,
  entries: ReadonlyMap<string, LedgerEntry>,
  served: ServedSpend,
): NonNullable<Status["usage"]> {
  const prices = endpointPrices(spec);
  const sums = roleSums(entries);
  const priced = spec.userSimulator.pricing !== undefined || spec.judge.pricing !== undefined;
  const endpoint = (role: EndpointRole) => {
    const u = sums[role];
    const p = prices[role];
    const gpu = served[role];
    const cost = p || gpu?.cost !== undefined ? costOf(u, p) + (gpu?.cost ?? 0) : undefined;
    return { ...u, ...(cost !== undefined ? { cost } : {}), ...(gpu ? { gpuHours: gpu.gpuHours } : {}) };
  };
  const userSimulator = endpoint("user-simulator");
  const judge = endpoint("judge");
  return {
    userSimulator,
    judge,
    totalTokens: totalTokens(sums["user-simulator"]) + totalTokens(sums.judge),
    ...(priced ? { totalCost: (userSimulator.cost ?? 0) + (judge.cost ?? 0) } : {}),
  };
}

/** The job's budget: 0 for a kind it does not have. */
export function jobBudget(budget: { maxTokens?: number; maxCost?: number }): BudgetAmount {
  return { tokens: budget.maxTokens ?? 0, cost: budget.maxCost ?? 0 };
}

/** A call the operator could not give budget for: what it needed, and which kind of budget fell short. */
export interface RefusedCall {
  need: BudgetAmount;
  tokens: boolean;
  cost: boolean;
}

/**
 * The BudgetExceeded condition, or none when the job has no budget. True once the tokens or the spend reached the
 * budget, or when what is left cannot cover a call the gateways wanted to make (`refused`): calls reserve their
 * worst case, so a budget is usually declared spent a little before it is used up. The message says, once the
 * forecast has enough steps, what the run still needs beyond the budget.
 */
export function budgetConditions(
  previous: readonly Condition[],
  usage: NonNullable<Status["usage"]>,
  budget: Spec["budget"],
  refused: RefusedCall | undefined,
  pace: Pace | undefined,
  now: string,
  generation: number | undefined,
): Condition[] {
  const amount = jobBudget(budget);
  if (amount.tokens === 0 && amount.cost === 0) return [];
  const tokens = usage.totalTokens ?? 0;
  const cost = usage.totalCost ?? 0;
  const tokensOut = amount.tokens > 0 && (tokens >= amount.tokens || refused?.tokens === true);
  const costOut = amount.cost > 0 && (cost >= amount.cost || refused?.cost === true);
  const used = [
    ...(amount.tokens > 0 ? [`${tokens} of ${amount.tokens} tokens`] : []),
    ...(amount.cost > 0 ? [`${money(cost)} of ${money(amount.cost)} (spend)`] : []),
  ].join(" and ");
  const lacking = refused
    ? `; the next call needs ${refused.tokens ? `${refused.need.tokens} tokens` : money(refused.need.cost)}, more than is left`
    : "";
  const raise = [...(tokensOut ? ["spec.budget.maxTokens"] : []), ...(costOut ? ["spec.budget.maxCost"] : [])].join(
    " or ",
  );
  const need = projectedNeed(pace, amount);
  return setCondition(
    previous.filter((c) => c.type === CONDITION.budgetExceeded),
    tokensOut || costOut
      ? {
          type: CONDITION.budgetExceeded,
          status: "True",
          reason: tokensOut ? "TokenBudgetSpent" : "CostBudgetSpent",
          message: `${used} used${lacking}; the gateways refuse further calls (raise ${raise} to continue: they resume by themselves)${AFTER_SPENT[budget.onExhausted]}${need ? `; ${need}` : ""}`,
        }
      : { type: CONDITION.budgetExceeded, status: "False", reason: "WithinBudget", message: `${used} used` },
    now,
    generation,
  );
}

/** What the training stage does meanwhile (the planner acts on it: plan/budget.ts). */
const AFTER_SPENT: Record<Spec["budget"]["onExhausted"], string> = {
  Release: "; the job's pods are let go until then (spec.budget.onExhausted: Release)",
  Wait: "",
  Stop: "; the job stops (spec.budget.onExhausted: Stop)",
};

/** The fields of the job's status the report endpoint owns (one writer per field). */
export type ReportedStatus = Pick<Status, "usage" | "progress" | "pace" | "conditions">;

/** An Event the report endpoint records about the job, after the status write that shows it. */
export interface ReportedEvent {
  type: "Normal" | "Warning";
  reason: string;
  message: string;
}

/**
 * What the report endpoint owns of the job's status once a report is in the ledger, whether that differs from what
 * the job shows, the job-wide budget verdict the gateway gets back, and the Events its conditions' changes call for.
 * Everything the endpoint owns is sent every time: server-side apply removes what the writer stops sending (so a
 * BudgetExceeded goes with the budget).
 */
export function reportedStatus(input: {
  job: { spec: Pick<Spec, "userSimulator" | "judge" | "budget">; status?: Status | undefined; generation?: number };
  ledger: ReadonlyMap<string, LedgerEntry>;
  /** The served roles' GPU-hours and their cost, as of now. */
  served: ServedSpend;
  refused: RefusedCall | undefined;
  progress: Progress | undefined;
  /** The step marks after this report (pace.ts). */
  marks: readonly Mark[];
  now: string;
}): { status: ReportedStatus; changed: boolean; budgetExceeded: boolean; events: ReportedEvent[] } {
  const { job, ledger, refused, now } = input;
  const previous: Status = job.status ?? {};
  const usage = usageTotals(job.spec, ledger, input.served);
  // The head's gateway reports progress in the status's own shape; the other gateways report none.
  const progress = input.progress ?? previous.progress;
  const priced = job.spec.userSimulator.pricing !== undefined || job.spec.judge.pricing !== undefined;
  const pace = paceOf(input.marks, progress?.totalSteps, priced);
  const before = (previous.conditions ?? []).filter((c) => REPORTED_CONDITIONS.includes(c.type));
  const conditions = [
    ...budgetConditions(before, usage, job.spec.budget, refused, pace, now, job.generation),
    ...forecastCondition(before, pace, jobBudget(job.spec.budget), now, job.generation),
  ];
  const status = {
    usage,
    ...(progress ? { progress } : {}),
    ...(pace ? { pace } : {}),
    ...(conditions.length > 0 ? { conditions } : {}),
  };
  const current = {
    usage: previous.usage,
    ...(previous.progress ? { progress: previous.progress } : {}),
    ...(previous.pace ? { pace: previous.pace } : {}),
    ...(before.length > 0 ? { conditions: before } : {}),
  };
  return {
    status,
    changed: !sameData(current, status),
    budgetExceeded: conditions.some((c) => c.type === CONDITION.budgetExceeded && c.status === "True"),
    events: reportedTransitions(before, conditions),
  };
}

/**
 * Events for the report endpoint's conditions: the budget spent (Warning) or raised again, the projection going over
 * the budget (Warning) or back within it. Each is told once, when its condition changes; Unknown tells nothing.
 */
export function reportedTransitions(before: readonly Condition[], after: readonly Condition[]): ReportedEvent[] {
  return after.flatMap((c): ReportedEvent[] => {
    const old = before.find((b) => b.type === c.type);
    if (old && old.status === c.status && old.reason === c.reason) return [];
    const bad =
      (c.type === CONDITION.budgetExceeded && c.status === "True") ||
      (c.type === CONDITION.budgetSufficient && c.status === "False");
    // A good state is news only as the end of a bad one.
    const wasBad =
      old !== undefined &&
      ((old.type === CONDITION.budgetExceeded && old.status === "True") ||
        (old.type === CONDITION.budgetSufficient && old.status === "False"));
    if (!bad && !(wasBad && c.status !== "Unknown")) return [];
    return [{ type: bad ? "Warning" : "Normal", reason: c.reason, message: c.message }];
  });
}
