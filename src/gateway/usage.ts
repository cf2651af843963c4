// Pure usage accounting for one gateway process (one role): counters that only grow, a pre-request token estimate
// for the limiter, and the budget check. Prometheus and the operator report both read these same counters.

export interface Usage {
  requests: number;
  promptTokens: number;
  completionTokens: number;
  /** 429 answers from the upstream (each attempt counts). */
  rateLimited: number;
  retries: number;
  /** Requests that ended in an error answer to the client, whatever the cause. */
  errors: number;
  cacheHits: number;
}

export function emptyUsage(): Usage {
  return { requests: 0, promptTokens: 0, completionTokens: 0, rateLimited: 0, retries: 0, errors: 0, cacheHits: 0 };
}

// Used when a request sets no max_tokens and the gateway has no default: a guess at a typical answer.
const UNKNOWN_COMPLETION_TOKENS = 1024;

/**
 * Estimates the tokens a chat request will use, before it is sent: ~4 characters a token for the prompt (a
 * conservative rule of thumb for English with BPE tokenizers), counted on the request's JSON as sent (so the few
 * parameters around the messages count too, and nothing is serialised twice), plus the completion's upper bound. The
 * limiter charges this, and corrects it from the upstream's usage afterwards.
 */
export function estimateTokens(body: Record<string, unknown>, json: string): { prompt: number; completion: number } {
  const limit = body.max_completion_tokens ?? body.max_tokens;
  return {
    prompt: Math.ceil(json.length / 4),
    completion: typeof limit === "number" && limit > 0 ? limit : UNKNOWN_COMPLETION_TOKENS,
  };
}

export function totalTokens(usage: Usage): number {
  return usage.promptTokens + usage.completionTokens;
}

/** budget 0 means no budget. */
export function overBudget(usage: Usage, budget: number): boolean {
  return budget > 0 && totalTokens(usage) >= budget;
}
