// Pure usage accounting for one gateway process (one role): a pre-request token estimate for the limiter, and the
// budget check of a pod's static share. The counters themselves (contract/usage.ts) only grow; Prometheus and the
// operator's report both read them.
import { type TokenCounts, totalTokens, type UsageCounters } from "../contract/usage.ts";

// Used when a request sets no max_tokens and the gateway has no default: a guess at a typical answer.
const UNKNOWN_COMPLETION_TOKENS = 1024;

/**
 * Estimates the tokens a chat request will use, before it is sent: ~4 characters a token for the prompt (a
 * conservative rule of thumb for English with BPE tokenizers), counted on the request's JSON as sent (so the few
 * parameters around the messages count too, and nothing is serialised twice), plus the completion's upper bound. The
 * limiter charges this, and corrects it from the upstream's usage afterwards.
 */
export function estimateTokens(body: Record<string, unknown>, json: string): TokenCounts {
  const limit = body.max_completion_tokens ?? body.max_tokens;
  return {
    promptTokens: Math.ceil(json.length / 4),
    completionTokens: typeof limit === "number" && limit > 0 ? limit : UNKNOWN_COMPLETION_TOKENS,
  };
}

/** budget 0 means no budget. */
export function overBudget(usage: UsageCounters, budget: number): boolean {
  return budget > 0 && totalTokens(usage) >= budget;
}
