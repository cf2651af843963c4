// The only place that talks to the upstream: the official openai SDK with its own retries switched off (the gateway
// retries, with its limiter and metering in the loop), and the translation of its errors into retry-policy failures.
import OpenAI, { APIConnectionError, APIConnectionTimeoutError, APIError } from "openai";
import { nodeFetch } from "./node-fetch.ts";
import type { Failure } from "./retry-policy.ts";
import { parseRetryAfter } from "./retry-policy.ts";

export interface UpstreamOptions {
  baseURL: string;
  apiKey: string | null;
  timeoutMs: number;
}

export function createUpstreamClient(options: UpstreamOptions): OpenAI {
  return new OpenAI({
    baseURL: options.baseURL,
    // The SDK insists on a key; without a real one the Authorization header is dropped instead of sending a dummy.
    apiKey: options.apiKey ?? "no-key",
    ...(options.apiKey === null ? { defaultHeaders: { Authorization: null } } : {}),
    // Explicit values so the SDK never falls back to OPENAI_* variables of the pod.
    organization: null,
    project: null,
    maxRetries: 0,
    timeout: options.timeoutMs,
    fetch: nodeFetch,
  });
}

export function describeFailure(error: unknown, nowMs: number): Failure {
  if (error instanceof APIConnectionTimeoutError) return { kind: "timeout" };
  if (error instanceof APIError && error.status !== undefined) {
    return {
      kind: "status",
      status: error.status,
      retryAfterMs: error.headers ? parseRetryAfter(error.headers, nowMs) : undefined,
    };
  }
  return error instanceof APIConnectionError ? { kind: "connection" } : { kind: "internal" };
}

/** The upstream's own error object, for answers that pass its 4xx through to the client. */
export function upstreamErrorBody(error: unknown): unknown {
  if (error instanceof APIError && error.error !== undefined) return { error: error.error };
  return undefined;
}
