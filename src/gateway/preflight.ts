// The endpoint preflight's check (`collab-operator preflight`, src/cli/preflight.ts): one endpoint as the gateway will
// use it, before the job takes any GPU. It sends `GET /models` (is it reachable, which models does it serve) and one
// chat completion of max_tokens 1 through the gateway's own upstream client, and decides the verdict
// (preflight-verdict.ts) that the command writes to the termination log, where the operator reads it.
import { Agent, request } from "undici";
import type { PreflightVerdict } from "../contract/preflight-verdict.ts";
import type { PreflightConfig } from "./config.ts";
import { type Answer, verdict } from "./preflight-verdict.ts";
import { makeRedactor } from "./redact.ts";
import { createUpstreamClient, type UpstreamClient, UpstreamError } from "./upstream.ts";

/** Waits before the retries of a 5xx answer; a Retry-After up to MAX_RETRY_AFTER_MS is honoured instead. */
const SERVER_ERROR_WAITS_MS = [1000, 2000];
const MAX_RETRY_AFTER_MS = 10_000;
const TIMEOUT_CODES = new Set(["UND_ERR_HEADERS_TIMEOUT", "UND_ERR_BODY_TIMEOUT", "UND_ERR_CONNECT_TIMEOUT"]);

export interface CheckOptions {
  /** For tests: shorter waits between retries of a 5xx. */
  serverErrorWaitsMs?: readonly number[];
}

export async function check(config: PreflightConfig, options: CheckOptions = {}): Promise<PreflightVerdict> {
  const models = await listModels(config);
  const completion =
    models.kind === "answer" ? await complete(config, options.serverErrorWaitsMs ?? SERVER_ERROR_WAITS_MS) : undefined;
  const result = verdict({
    endpoint: config.role,
    model: config.upstreamModel,
    baseURL: config.upstreamBaseUrl,
    timeoutSeconds: config.timeoutMs / 1000,
    withKey: config.upstreamApiKey !== null,
    models,
    completion: completion?.answer,
    attempts: completion?.attempts ?? 0,
    seconds: completion?.seconds,
  });
  // A provider may echo the key, in part or in full, in its error message: it never reaches the pod's status.
  return { ...result, message: makeRedactor([config.upstreamApiKey])(result.message) };
}

async function listModels(config: PreflightConfig): Promise<Answer> {
  const headers: Record<string, string> = { accept: "application/json", "user-agent": "collab-operator-preflight" };
  if (config.upstreamApiKey !== null) headers.authorization = `Bearer ${config.upstreamApiKey}`;
  const url = `${config.upstreamBaseUrl.replace(/\/+$/, "")}/models`;
  const timeout = config.timeoutMs;
  const dispatcher = new Agent({ connect: { timeout } });
  try {
    const response = await request(url, { headers, headersTimeout: timeout, bodyTimeout: timeout, dispatcher });
    return { kind: "answer", status: response.statusCode, body: await response.body.text() };
  } catch (error) {
    const { code, message } = error as Error & { code?: string };
    if (code && TIMEOUT_CODES.has(code)) return { kind: "timeout", message };
    return { kind: "connection", code, message };
  } finally {
    await dispatcher.close();
  }
}

/** The completion, through the gateway's upstream client. A 5xx is tried again; any other answer decides. */
async function complete(
  config: PreflightConfig,
  waitsMs: readonly number[],
): Promise<{ answer: Answer; attempts: number; seconds: number }> {
  const upstream = createUpstreamClient({
    baseURL: config.upstreamBaseUrl,
    apiKey: config.upstreamApiKey,
    connectTimeoutMs: config.timeoutMs,
  });
  const messages = [{ role: "user", content: "Reply with OK." }];
  // Reasoning models refuse max_tokens and want max_completion_tokens (litellm translates it for them).
  let limit: Record<string, number> = { max_tokens: 1 };
  try {
    for (let attempts = 1; ; attempts++) {
      const started = performance.now();
      const answer = await send(upstream, JSON.stringify({ model: config.upstreamModel, messages, ...limit }), config);
      const seconds = (performance.now() - started) / 1000;
      if (refusesMaxTokens(answer) && "max_tokens" in limit) {
        limit = { max_completion_tokens: 1 };
        continue;
      }
      const wait = answer.kind === "answer" && answer.status >= 500 ? waitsMs[attempts - 1] : undefined;
      if (wait === undefined) return { answer, attempts, seconds };
      const retryAfter = answer.kind === "answer" ? answer.retryAfterMs : undefined;
      await new Promise((resolve) => setTimeout(resolve, Math.min(retryAfter ?? wait, MAX_RETRY_AFTER_MS)));
    }
  } finally {
    await upstream.close();
  }
}

function refusesMaxTokens(answer: Answer): boolean {
  return answer.kind === "answer" && answer.status === 400 && /max_completion_tokens/.test(answer.body);
}

async function send(upstream: UpstreamClient, payload: string, config: PreflightConfig): Promise<Answer> {
  const signal = AbortSignal.timeout(2 * config.timeoutMs);
  try {
    const { bytes } = await upstream.complete(payload, { signal, timeoutMs: config.timeoutMs });
    return { kind: "answer", status: 200, body: bytes.toString("utf8") };
  } catch (error) {
    const message = (error as Error).message;
    if (!(error instanceof UpstreamError)) {
      return signal.aborted ? { kind: "timeout", message } : { kind: "connection", code: undefined, message };
    }
    const { failure } = error;
    if (failure.kind === "status") {
      const body = error.body?.toString("utf8") ?? "";
      return { kind: "answer", status: failure.status, body, retryAfterMs: failure.retryAfterMs };
    }
    if (failure.kind === "timeout") return { kind: "timeout", message };
    // The socket error's code is in undici's message ("connect ECONNREFUSED 10.0.0.1:8000").
    return { kind: "connection", code: /\b(E[A-Z]+)\b/.exec(message)?.[1], message };
  }
}
