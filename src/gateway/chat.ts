// POST /v1/chat/completions: model mapping and defaults, budget, cache, admission through the limiter, and the
// upstream call with retries, for plain and streamed answers. Each upstream attempt takes its own limiter ticket,
// because the upstream counts attempts, not client requests; a backoff sleep holds no concurrency slot.
import type { IncomingMessage, ServerResponse } from "node:http";
import { setTimeout as sleep } from "node:timers/promises";
import type OpenAI from "openai";
import type { Logger } from "pino";
import { type AdmissionQueue, NeverFitsError, QueueFullError } from "./admission.ts";
import { cacheKey, type LruCache } from "./cache.ts";
import type { GatewayConfig } from "./config.ts";
import { errorBody, HttpError, readJson, sendError, sendJson } from "./http.ts";
import type { GatewayMetrics } from "./metrics.ts";
import type { Redact } from "./redact.ts";
import { type Backoff, nextDelay } from "./retry-policy.ts";
import { describeFailure, upstreamErrorBody } from "./upstream.ts";
import { estimateTokens, type Usage } from "./usage.ts";

type ChatBody = Record<string, unknown> & { messages: unknown[]; stream?: unknown; stream_options?: unknown };
type Completion = OpenAI.Chat.Completions.ChatCompletion;
type Chunk = OpenAI.Chat.Completions.ChatCompletionChunk;
type TokenCount = { prompt_tokens?: number; completion_tokens?: number } | null | undefined;

export interface ChatDeps {
  config: GatewayConfig;
  client: OpenAI;
  queue: AdmissionQueue;
  usage: Usage;
  cache: LruCache<Completion> | undefined;
  metrics: GatewayMetrics;
  log: Logger;
  redact: Redact;
  backoff: Backoff;
  random: () => number;
  budgetExceeded: () => boolean;
}

/** Thrown when a streamed answer broke after bytes reached the client: nothing can be retried or re-sent. */
class StreamBrokenError extends Error {}

export async function handleChat(deps: ChatDeps, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const { config, usage } = deps;
  const started = performance.now();
  const deadline = started + config.deadlineMs;
  // One signal ends the request's upstream work: the client going away, or the overall deadline.
  const abort = new AbortController();
  let clientGone = false;
  res.on("close", () => {
    if (res.writableFinished) return;
    clientGone = true;
    abort.abort(new Error("client went away"));
  });
  const deadlineTimer = setTimeout(() => abort.abort(deadlineError(config)), config.deadlineMs);
  usage.requests++;
  try {
    const body = prepare(config, await readJson(req));
    if (config.logRequestBodies) deps.log.debug({ body }, "request body");
    if (deps.budgetExceeded()) {
      throw new HttpError(
        429,
        "insufficient_quota",
        "budget_exceeded",
        `the job's token budget is used up (this pod's share: ${config.budgetTokens} tokens); no more requests are sent upstream`,
      );
    }
    const key = deps.cache ? cacheKey(body) : undefined;
    const cached = key ? deps.cache!.get(key) : undefined;
    if (cached) {
      usage.cacheHits++;
      sendJson(res, 200, cached);
      return;
    }
    const signal = abort.signal;
    const estimate = estimateTokens(body);
    for (let retriesDone = 0; ; retriesDone++) {
      try {
        await attempt(deps, body, estimate.prompt + estimate.completion, signal, deadline, res, key);
        return;
      } catch (error) {
        if (clientGone) return;
        if (error instanceof HttpError || error instanceof StreamBrokenError) throw error;
        if (signal.aborted) throw deadlineError(config);
        const failure = describeFailure(error, Date.now());
        if (failure.kind === "status" && failure.status === 429) usage.rateLimited++;
        const delay = nextDelay(deps.backoff, retriesDone, failure, deadline - performance.now(), deps.random);
        if (delay === null) throw error;
        usage.retries++;
        deps.log.debug({ failure, retriesDone, delay }, "retrying upstream");
        try {
          await sleep(delay, undefined, { signal });
        } catch {
          if (clientGone) return;
          throw deadlineError(config);
        }
      }
    }
  } catch (error) {
    usage.errors++;
    if (!clientGone) answerError(deps, res, error);
  } finally {
    clearTimeout(deadlineTimer);
    deps.metrics.latency.observe({ role: config.role }, (performance.now() - started) / 1000);
  }
}

/** Validates the body, maps the model name and fills in the role's default parameters. */
function prepare(config: GatewayConfig, raw: unknown): ChatBody {
  if (typeof raw !== "object" || raw === null || !Array.isArray((raw as { messages?: unknown }).messages)) {
    throw new HttpError(400, "invalid_request_error", "invalid_body", "body must be an object with a messages array");
  }
  const body = { ...(raw as ChatBody) };
  if (body.model !== config.model && body.model !== config.upstreamModel) {
    throw new HttpError(
      404,
      "invalid_request_error",
      "model_not_found",
      `model ${JSON.stringify(body.model)} is not served here; use ${JSON.stringify(config.model)}`,
    );
  }
  body.model = config.upstreamModel;
  if (body.temperature === undefined && config.temperature !== undefined) body.temperature = config.temperature;
  if (body.max_tokens === undefined && body.max_completion_tokens === undefined && config.maxTokens !== undefined) {
    body.max_tokens = config.maxTokens;
  }
  return body;
}

function deadlineError(config: GatewayConfig): HttpError {
  return new HttpError(
    504,
    "timeout",
    "deadline_exceeded",
    `no answer within the gateway's deadline of ${config.deadlineMs / 1000} s`,
  );
}

async function admit(queue: AdmissionQueue, tokens: number, signal: AbortSignal) {
  try {
    return await queue.acquire(tokens, signal);
  } catch (error) {
    if (error instanceof QueueFullError) {
      throw new HttpError(429, "rate_limit_exceeded", "gateway_queue_full", error.message, { "retry-after": "1" });
    }
    if (error instanceof NeverFitsError) {
      throw new HttpError(400, "invalid_request_error", "request_too_large", error.message);
    }
    throw error;
  }
}

async function attempt(
  deps: ChatDeps,
  body: ChatBody,
  tokens: number,
  signal: AbortSignal,
  deadline: number,
  res: ServerResponse,
  key: string | undefined,
): Promise<void> {
  const ticket = await admit(deps.queue, tokens, signal);
  // A failed attempt used no tokens; a broken stream is charged its estimate.
  let spent = 0;
  try {
    const options = {
      signal,
      timeout: Math.ceil(Math.max(1, Math.min(deps.config.timeoutMs, deadline - performance.now()))),
    };
    if (body.stream === true) {
      spent = tokens;
      spent = await stream(deps, body, options, res);
      return;
    }
    const completion = await deps.client.chat.completions.create(
      body as unknown as OpenAI.Chat.Completions.ChatCompletionCreateParamsNonStreaming,
      options,
    );
    spent = record(deps.usage, completion.usage, tokens);
    if (key) deps.cache!.set(key, completion);
    sendJson(res, 200, completion);
  } finally {
    deps.queue.release(ticket, spent);
  }
}

/** Adds the upstream's token counts to the usage (the estimate when it sent none) and returns their sum. */
function record(usage: Usage, counts: TokenCount, estimate: number, completionChars = 0): number {
  const prompt = counts?.prompt_tokens ?? estimate;
  const completion = counts?.completion_tokens ?? Math.ceil(completionChars / 4);
  usage.promptTokens += prompt;
  usage.completionTokens += completion;
  return prompt + completion;
}

async function stream(
  deps: ChatDeps,
  body: ChatBody,
  options: { signal: AbortSignal; timeout: number },
  res: ServerResponse,
): Promise<number> {
  // Always ask for usage so the stream is metered; the usage chunk is only passed on when the client asked too.
  const clientWantsUsage = (body.stream_options as { include_usage?: unknown } | undefined)?.include_usage === true;
  const upstream = await deps.client.chat.completions.create(
    {
      ...(body as unknown as OpenAI.Chat.Completions.ChatCompletionCreateParamsStreaming),
      stream: true,
      stream_options: { ...(body.stream_options as object | undefined), include_usage: true },
    },
    options,
  );
  let counts: TokenCount;
  let chars = 0;
  try {
    for await (const chunk of upstream as AsyncIterable<Chunk>) {
      if (chunk.usage) counts = chunk.usage;
      for (const choice of chunk.choices) chars += choice.delta?.content?.length ?? 0;
      if (chunk.choices.length === 0 && chunk.usage && !clientWantsUsage) continue;
      if (!res.headersSent) {
        res.writeHead(200, {
          "content-type": "text/event-stream",
          "cache-control": "no-cache",
          connection: "keep-alive",
        });
      }
      res.write(`data: ${JSON.stringify(chunk)}\n\n`);
    }
  } catch (error) {
    if (!res.headersSent) throw error; // nothing reached the client: the caller may retry
    const message = deps.redact(`upstream stream broke: ${(error as Error).message}`);
    res.end(`data: ${JSON.stringify(errorBody("upstream_error", "stream_broken", message))}\n\n`);
    record(deps.usage, counts, estimateTokens(body).prompt, chars);
    throw new StreamBrokenError(message);
  }
  if (!res.headersSent) res.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-cache" });
  res.end("data: [DONE]\n\n");
  return record(deps.usage, counts, estimateTokens(body).prompt, chars);
}

function answerError(deps: ChatDeps, res: ServerResponse, error: unknown): void {
  if (error instanceof StreamBrokenError) {
    deps.log.warn({ role: deps.config.role, error: error.message }, "stream broke after the answer had started");
    return;
  }
  if (error instanceof HttpError) {
    if (error.status >= 500 || error.code === "budget_exceeded") deps.log.warn({ code: error.code }, error.message);
    sendError(res, error);
    return;
  }
  const failure = describeFailure(error, Date.now());
  const message = deps.redact((error as Error).message ?? String(error));
  deps.log.warn({ role: deps.config.role, failure, error: message }, "upstream request failed");
  if (failure.kind === "status") {
    // The upstream's own answer, status and error object, so clients react to it as they would without the gateway.
    const raw = upstreamErrorBody(error);
    const passed = raw
      ? JSON.parse(deps.redact(JSON.stringify(raw)))
      : errorBody("upstream_error", "upstream_error", message);
    sendJson(res, failure.status, passed);
    return;
  }
  if (failure.kind === "internal") {
    sendError(res, new HttpError(500, "server_error", "internal", `gateway error: ${message}`));
    return;
  }
  const timeout = failure.kind === "timeout";
  sendError(
    res,
    new HttpError(
      timeout ? 504 : 502,
      timeout ? "timeout" : "upstream_error",
      timeout ? "upstream_timeout" : "upstream_unreachable",
      `upstream ${timeout ? "timed out" : "connection failed"}: ${message}`,
    ),
  );
}
