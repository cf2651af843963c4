// What a gateway counts of its calls, and the one place tokens are summed and priced: the gateway's limits, the
// operator's allowance books, the usage ledger and status.usage all read these.
import { z } from "zod";

const count = z.number().int().nonnegative();
/** Spend, in the currency of the endpoints' pricing. */
export const money = z.number().nonnegative().max(1e15);

/**
 * One gateway process's counters, cumulative since it started: a restarted sidecar starts again from zero under a new
 * startId (report.ts).
 */
export const UsageCountersSchema = z.object({
  requests: count,
  promptTokens: count,
  completionTokens: count,
  /** 429 answers from the upstream (each attempt counts). */
  rateLimited: count,
  retries: count,
  /** Requests that ended in an error answer to the client, whatever the cause. */
  errors: count,
  cacheHits: count,
});
export type UsageCounters = z.infer<typeof UsageCountersSchema>;

export function emptyUsage(): UsageCounters {
  return { requests: 0, promptTokens: 0, completionTokens: 0, rateLimited: 0, retries: 0, errors: 0, cacheHits: 0 };
}

/** The tokens of one call (estimated before it is sent, counted after) or of a process's calls. */
export interface TokenCounts {
  promptTokens: number;
  completionTokens: number;
}

/** Prompt and completion together: what a tokens-per-minute limit and a token budget count. */
export function totalTokens(t: TokenCounts): number {
  return t.promptTokens + t.completionTokens;
}

export const PricesSchema = z.object({
  promptPerMillionTokens: money,
  completionPerMillionTokens: money,
});
export type Prices = z.infer<typeof PricesSchema>;

/** Spend of these tokens at these prices (0 without prices). */
export function costOf(t: TokenCounts, prices: Prices | undefined): number {
  if (!prices) return 0;
  return (
    (t.promptTokens * prices.promptPerMillionTokens + t.completionTokens * prices.completionPerMillionTokens) / 1e6
  );
}
