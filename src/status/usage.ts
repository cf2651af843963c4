// What the gateways report becomes status.usage, status.progress and the BudgetExceeded condition. Pure.
//
// Usage counters are cumulative per gateway process (pod, role, startId). The operator keeps the latest report of
// each in a ledger (the job's usage ConfigMap, one key per process), so a restarted sidecar or operator loses nothing:
// a role's total is the sum over the ledger.
import type { Condition, Status } from "../api/schema.ts";
import type { GatewayReport, Progress, UsageCounters } from "../gateway/report.ts";
import { setCondition } from "./conditions.ts";

export const BUDGET_CONDITION = "BudgetExceeded";

/** ConfigMap-safe key of one gateway process. */
export function ledgerKey(report: Pick<GatewayReport, "pod" | "role" | "startId">): string {
  return `${report.pod}.${report.role}.${report.startId}`;
}

export function ledgerEntry(report: GatewayReport): string {
  return JSON.stringify(report.usage[report.role] ?? {});
}

const ZERO: UsageCounters = {
  requests: 0,
  promptTokens: 0,
  completionTokens: 0,
  rateLimited: 0,
  retries: 0,
  errors: 0,
  cacheHits: 0,
};

export function usageTotals(ledger: Record<string, string>): NonNullable<Status["usage"]> {
  const sums: Record<"user-simulator" | "judge", UsageCounters> = { "user-simulator": { ...ZERO }, judge: { ...ZERO } };
  for (const [key, value] of Object.entries(ledger)) {
    const role = key.includes(".user-simulator.") ? "user-simulator" : key.includes(".judge.") ? "judge" : undefined;
    if (!role) continue;
    let counters: Partial<UsageCounters>;
    try {
      counters = JSON.parse(value) as Partial<UsageCounters>;
    } catch {
      continue; // a damaged entry must not stop accounting for the others
    }
    for (const k of Object.keys(ZERO) as (keyof UsageCounters)[]) sums[role][k] += Number(counters[k] ?? 0) || 0;
  }
  const tokens = (u: UsageCounters) => u.promptTokens + u.completionTokens;
  return {
    userSimulator: { ...sums["user-simulator"] },
    judge: { ...sums.judge },
    totalTokens: tokens(sums["user-simulator"]) + tokens(sums.judge),
  };
}

/** status.progress from the head's latest parsed step, with an ETA from the last step's duration. */
export function progressStatus(progress: Progress): NonNullable<Status["progress"]> {
  const { step, totalSteps, epoch, reward, validationReward, stepSeconds, updatedAt } = progress;
  const remaining = totalSteps !== undefined && stepSeconds !== undefined ? Math.max(0, totalSteps - step) : undefined;
  const eta =
    remaining !== undefined && stepSeconds !== undefined
      ? new Date(Date.parse(updatedAt) + remaining * stepSeconds * 1000).toISOString().replace(/\.\d{3}Z$/, "Z")
      : undefined;
  return {
    step,
    ...(totalSteps !== undefined ? { totalSteps, stepOfTotal: `${step}/${totalSteps}` } : { stepOfTotal: `${step}` }),
    ...(epoch !== undefined ? { epoch } : {}),
    ...(reward !== undefined ? { reward } : {}),
    ...(validationReward !== undefined ? { validationReward } : {}),
    ...(stepSeconds !== undefined ? { stepSeconds } : {}),
    ...(eta ? { estimatedCompletionTime: eta } : {}),
    lastUpdateTime: updatedAt.replace(/\.\d+Z$/, "Z"),
  };
}

/** The BudgetExceeded condition, or none when the job has no budget. */
export function budgetConditions(
  previous: readonly Condition[],
  totalTokens: number,
  budget: number | undefined,
  now: string,
  generation: number | undefined,
): Condition[] {
  if (budget === undefined) return [];
  const exceeded = totalTokens >= budget;
  return setCondition(
    previous.filter((c) => c.type === BUDGET_CONDITION),
    exceeded
      ? {
          type: BUDGET_CONDITION,
          status: "True",
          reason: "TokenBudgetSpent",
          message: `${totalTokens} tokens used of a budget of ${budget}; the gateways refuse further calls (raise spec.budget.maxTokens to continue)`,
        }
      : {
          type: BUDGET_CONDITION,
          status: "False",
          reason: "WithinBudget",
          message: `${totalTokens} of ${budget} tokens used`,
        },
    now,
    generation,
  );
}
