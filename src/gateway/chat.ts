// POST /v1/chat/completions: model mapping and defaults, budget, cache, admission through the limiter, and the
// upstream call with retries, for plain and streamed answers. Each upstream attempt takes its own limiter ticket,
// because the upstream counts attempts, not client requests; a backoff sleep holds no concurrency slot.

import { once } from "node:events";
import type { IncomingMessage, ServerResponse } from "node:http";
import { StringDecoder } from "node:string_decoder";
import { setTimeout as sleep } from "node:timers/promises";
import type { Logger } from "pino";
import type { TokenCounts, UsageCounters } from "../contract/usage.ts";
import { type AdmissionQueue, NeverFitsError, QueueFullError } from "./admission.ts";
import { BudgetExhaustedError } from "./allowance.ts";
import { cacheKey, type LruCache } from "./cache.ts";
import type { GatewayConfig } from "./config.ts";
import { type BodyBudget, type BodyLimits, errorBody, HttpError, readJson, sendError, sendJson } from "./http.ts";
import type { GatewayMetrics } from "./metrics.ts";
import type { Redact } from "./redact.ts";
import { type Backoff, holdDelay, isRetryable, nextDelay } from "./retry-policy.ts";
import { SseReader } from "./sse.ts";
import {
  type AnswerHeaders,
  type AttemptOptions,
  describeFailure,
  type UpstreamClient,
  UpstreamError,
} from "./upstream.ts";
import { estimateTokens } from "./usage.ts";

type ChatBody = Record<string, unknown> & { messages: unknown[]; stream?: unknown; stream_options?: unknown };
type TokenCount = { prompt_tokens?: number; completion_tokens?: number } | null | undefined;
/** The parts of a completion or chunk the gateway reads. */
type Answer = {
  usage?: TokenCount;
  choices?: { delta?: { content?: unknown } }[];
  error?: unknown;
};

export interface ChatDeps {
  config: GatewayConfig;
  /** Request bytes all requests in flight may hold together, and each request's own limits. */
  bodyBudget: BodyBudget;
  bodyLimits: BodyLimits;
  upstream: UpstreamClient;
  queue: AdmissionQueue;
  usage: UsageCounters;
  /** Plain answers by request, as the upstream's bytes. */
  cache: LruCache<Buffer> | undefined;
  metrics: GatewayMetrics;
  log: Logger;
  redact: Redact;
  backoff: Backoff;
  random: () => number;
  budgetExceeded: () => boolean;
  /** Why calls are refused while budgetExceeded() says so. */
  budgetMessage: () => string;
}

/** Thrown when a streamed answer broke after bytes reached the client: nothing can be retried or re-sent. */
class StreamBrokenError extends Error {}

/**
 * What one request sends upstream, computed once for all its attempts. The parsed body is not kept: for a large
 * request it is a second copy of the payload.
 */
interface Outgoing {
  payload: string;
  stream: boolean;
  /** The client asked for the usage chunk of a stream itself. */
  clientWantsUsage: boolean;
  /** Tokens charged to the limiter before the answer says how many were used: prompt estimate and max_tokens. */
  estimate: TokenCounts;
}

/**
 * Sent with an answer the gateway already retried as its policy allows (or that retrying cannot help): the openai SDK
 * and litellm then raise at once instead of multiplying the attempts (the SDK's own 2 retries, litellm's
 * num_retries), so `retries` in the spec means what it says.
 */
const NO_RETRY = { "x-should-retry": "false" };

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
  const reservation = deps.bodyBudget.reservation();
  usage.requests++;
  try {
    const { outgoing, key } = await readRequest(deps, req, reservation);
    if (deps.budgetExceeded()) throw budgetError(deps.budgetMessage());
    const cached = key ? deps.cache!.get(key) : undefined;
    if (cached) {
      usage.cacheHits++;
      sendAnswer(res, cached, undefined);
      return;
    }
    const signal = abort.signal;
    let retriesDone = 0;
    for (let tries = 0; ; tries++) {
      try {
        await attempt(deps, outgoing, signal, deadline, res, key, tries > 0);
        return;
      } catch (error) {
        if (clientGone) return;
        if (error instanceof HttpError || error instanceof StreamBrokenError) throw error;
        if (signal.aborted) throw deadlineError(config);
        const failure = describeFailure(error);
        if (failure.kind === "status" && failure.status === 429) usage.rateLimited++;
        const remainingMs = deadline - performance.now();
        const held = holdDelay(deps.backoff, failure, remainingMs);
        const delay = held ?? nextDelay(deps.backoff, retriesDone, failure, remainingMs, deps.random);
        if (delay === null) throw error;
        if (held === null) retriesDone++;
        deps.log.debug({ failure, retriesDone, delay, held: held !== null }, "retrying upstream");
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
    reservation.release();
    deps.metrics.latency.observe((performance.now() - started) / 1000);
  }
}

/**
 * The request as it goes upstream, and its cache key. The parsed body stays inside: for a large request it is a
 * second copy of the payload, which should not live through the upstream call.
 */
async function readRequest(
  deps: ChatDeps,
  req: IncomingMessage,
  reservation: { add: (bytes: number) => boolean },
): Promise<{ outgoing: Outgoing; key: string | undefined }> {
  const body = prepare(deps.config, await readJson(req, deps.bodyLimits, reservation));
  const outgoing = outgoingOf(body);
  if (deps.config.logRequestBodies) deps.log.debug({ body }, "request body");
  return { outgoing, key: deps.cache ? cacheKey(body, outgoing.payload) : undefined };
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
    NO_RETRY,
  );
}

/** OpenAI's own shape for a spent quota: litellm raises RateLimitError, which the recipe handles by backing off. */
function budgetError(message: string): HttpError {
  return new HttpError(429, "insufficient_quota", "budget_exceeded", message, NO_RETRY);
}

async function admit(queue: AdmissionQueue, need: TokenCounts, signal: AbortSignal) {
  try {
    return await queue.acquire(need, signal);
  } catch (error) {
    if (error instanceof QueueFullError) {
      // When the limiter's window opens for the head of the queue, and with it a place in the queue.
      throw new HttpError(429, "rate_limit_exceeded", "gateway_queue_full", error.message, {
        "retry-after": String(Math.ceil(error.retryAfterMs / 1000)),
        "retry-after-ms": String(error.retryAfterMs),
      });
    }
    if (error instanceof NeverFitsError) {
      throw new HttpError(400, "invalid_request_error", "request_too_large", error.message);
    }
    if (error instanceof BudgetExhaustedError) throw budgetError(error.message);
    throw error;
  }
}

/**
 * The body as sent upstream. A stream always asks for usage, so it is metered; the usage chunk is passed on only when
 * the client asked for it too.
 */
function outgoingOf(body: ChatBody): Outgoing {
  const stream = body.stream === true;
  const sent = stream
    ? { ...body, stream_options: { ...(body.stream_options as object | undefined), include_usage: true } }
    : body;
  let payload: string;
  try {
    payload = JSON.stringify(sent);
  } catch (error) {
    // JSON.parse takes any depth; writing it out again recurses, and runs out of stack some thousand levels down.
    if (error instanceof RangeError) {
      throw new HttpError(400, "invalid_request_error", "invalid_json", "request body is nested too deeply");
    }
    throw error;
  }
  return {
    payload,
    stream,
    clientWantsUsage: (body.stream_options as { include_usage?: unknown } | undefined)?.include_usage === true,
    estimate: estimateTokens(body, payload),
  };
}

async function attempt(
  deps: ChatDeps,
  outgoing: Outgoing,
  signal: AbortSignal,
  deadline: number,
  res: ServerResponse,
  key: string | undefined,
  retry: boolean,
): Promise<void> {
  const ticket = await admit(deps.queue, outgoing.estimate, signal);
  // Counted once it is admitted and goes out: a retry cut short by the deadline or a full queue was never sent.
  if (retry) deps.usage.retries++;
  // A failed attempt used no tokens; a broken stream is charged its estimate.
  let spent: TokenCounts = { promptTokens: 0, completionTokens: 0 };
  const sent = performance.now();
  let failure: string | undefined;
  try {
    const options: AttemptOptions = {
      signal,
      timeoutMs: Math.ceil(Math.max(1, Math.min(deps.config.timeoutMs, deadline - performance.now()))),
    };
    if (outgoing.stream) {
      try {
        spent = await stream(deps, outgoing, options, res);
      } catch (error) {
        // Once bytes went out the upstream has used tokens, but how many is unknown.
        if (res.headersSent) spent = outgoing.estimate;
        throw error;
      }
      return;
    }
    const { bytes, headers } = await deps.upstream.complete(outgoing.payload, options);
    // Passed on first, byte for byte; metering reads it afterwards, off the client's critical path.
    sendAnswer(res, bytes, headers.requestId);
    const answer = parseAnswer(bytes);
    if (!answer)
      deps.log.warn({ role: deps.config.role }, "upstream answer is not a JSON object; metered at the estimate");
    spent = record(deps, answer?.usage, outgoing.estimate);
    if (key && answer) deps.cache!.set(key, bytes);
  } catch (error) {
    failure = errorType(error, signal);
    throw error;
  } finally {
    deps.queue.release(ticket, spent);
    deps.metrics.operation((performance.now() - sent) / 1000, failure);
  }
}

/**
 * `error.type` of a failed upstream call: the HTTP status the upstream answered, `timeout`, `connection`, or
 * `stream_broken` (the answer broke after it had started), `cancelled` (the client left or the deadline passed), and
 * `_OTHER` (the conventions' fallback) for anything else.
 */
function errorType(error: unknown, signal: AbortSignal): string {
  if (error instanceof StreamBrokenError) return "stream_broken";
  if (signal.aborted) return "cancelled";
  const failure = describeFailure(error);
  if (failure.kind === "status") return String(failure.status);
  return failure.kind === "internal" ? "_OTHER" : failure.kind;
}

function parseAnswer(text: Buffer | string): Answer | undefined {
  try {
    const answer: unknown = JSON.parse(text.toString());
    return typeof answer === "object" && answer !== null ? (answer as Answer) : undefined;
  } catch {
    return undefined;
  }
}

/** The upstream's answer, byte for byte, with its request id. */
function sendAnswer(res: ServerResponse, bytes: Buffer, requestId: string | undefined): void {
  res.writeHead(200, {
    "content-type": "application/json",
    "content-length": bytes.length,
    ...(requestId ? { "x-request-id": requestId } : {}),
  });
  res.end(bytes);
}

/**
 * Adds the upstream's token counts to the usage and metrics and returns them. Without counts: the whole estimate for
 * a plain answer; the prompt estimate and the streamed characters / 4 for a stream.
 */
function record(deps: ChatDeps, counts: TokenCount, estimate: TokenCounts, completionChars?: number): TokenCounts {
  const promptTokens = counts?.prompt_tokens ?? estimate.promptTokens;
  const completionTokens =
    counts?.completion_tokens ??
    (completionChars === undefined ? estimate.completionTokens : Math.ceil(completionChars / 4));
  deps.usage.promptTokens += promptTokens;
  deps.usage.completionTokens += completionTokens;
  deps.metrics.tokens(promptTokens, completionTokens);
  return { promptTokens, completionTokens };
}

/** Relays the upstream's events unchanged (but for the usage chunk the client did not ask for), metering them. */
async function stream(deps: ChatDeps, outgoing: Outgoing, options: AttemptOptions, res: ServerResponse) {
  const { clientWantsUsage } = outgoing;
  let requestId: string | undefined;
  const events = new SseReader();
  const decoder = new StringDecoder("utf8");
  let counts: TokenCount;
  let chars = 0;
  const start = () => {
    if (res.headersSent) return;
    res.writeHead(200, {
      "content-type": "text/event-stream",
      "cache-control": "no-cache",
      ...(requestId ? { "x-request-id": requestId } : {}),
    });
  };
  const relay = (chunk: Buffer) => {
    for (const data of events.push(decoder.write(chunk))) {
      if (data === "[DONE]") continue;
      const answer = parseAnswer(data);
      // Truthy, as the openai SDK and litellm test it: some servers send `"error": null` in every chunk.
      if (answer?.error) {
        // An error event: before anything reached the client it is a failed attempt like any other.
        if (!res.headersSent) {
          const failure = { kind: "status", status: 502, retryAfterMs: undefined } as const;
          throw new UpstreamError(failure, "upstream sent an error event", Buffer.from(data));
        }
        res.write(sseEvent(deps.redact(data)));
        throw new StreamBrokenError(deps.redact(`upstream sent an error event: ${data}`));
      }
      if (answer?.usage) counts = answer.usage;
      for (const choice of answer?.choices ?? []) {
        const content = choice.delta?.content;
        if (typeof content === "string") chars += content.length;
      }
      if (answer?.choices?.length === 0 && answer.usage && !clientWantsUsage) continue;
      start();
      res.write(sseEvent(data));
    }
    // A slow client pauses the upstream instead of piling its answer up in memory.
    return res.writableNeedDrain ? once(res, "drain") : undefined;
  };
  try {
    await deps.upstream.stream(outgoing.payload, options, relay, (headers: AnswerHeaders) => {
      requestId = headers.requestId;
    });
  } catch (error) {
    // Nothing reached the client yet: a failed attempt, for the retry loop to judge.
    if (!res.headersSent) throw error;
    // Bytes went out: the stream ends here, with an error event, and what was streamed is metered.
    const why = options.signal.aborted
      ? `no end of the answer within the gateway's deadline of ${deps.config.deadlineMs / 1000} s`
      : (error as Error).message;
    const message = deps.redact(`upstream stream broke: ${why}`);
    if (error instanceof StreamBrokenError) res.end();
    else res.end(sseEvent(JSON.stringify(errorBody("upstream_error", "stream_broken", message))));
    record(deps, counts, outgoing.estimate, chars);
    throw error instanceof StreamBrokenError ? error : new StreamBrokenError(message);
  }
  start();
  res.end("data: [DONE]\n\n");
  return record(deps, counts, outgoing.estimate, chars);
}

/** One event carrying `data`; a payload of several lines needs a `data:` field per line. */
function sseEvent(data: string): string {
  return `data: ${data.replaceAll("\n", "\ndata: ")}\n\n`;
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
  const failure = describeFailure(error);
  const message = deps.redact((error as Error).message ?? String(error));
  deps.log.warn({ role: deps.config.role, failure, error: message }, "upstream request failed");
  // What the gateway retried as far as its policy allows: the client should not try the same again at once.
  const noRetry = isRetryable(failure) ? NO_RETRY : {};
  if (failure.kind === "status") {
    passUpstreamError(deps, res, error, failure.status, message, noRetry);
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
      noRetry,
    ),
  );
}

/**
 * The upstream's own error answer, so clients react to it as they would without the gateway: its status, its bytes
 * when they are a JSON object (redacted: some upstreams echo the key they were given), its content type and
 * x-request-id. Any other body (a proxy's HTML page) is quoted in the message of an OpenAI-shaped error.
 */
function passUpstreamError(
  deps: ChatDeps,
  res: ServerResponse,
  error: unknown,
  status: number,
  message: string,
  extra: Record<string, string>,
): void {
  const upstream = error instanceof UpstreamError ? error : undefined;
  const text = upstream?.body?.toString("utf8") ?? "";
  const redacted = deps.redact(text);
  const headers = { ...(upstream?.headers?.requestId ? { "x-request-id": upstream.headers.requestId } : {}), ...extra };
  if (parseAnswer(redacted)) {
    const bytes = redacted === text ? (upstream?.body as Buffer) : Buffer.from(redacted);
    res.writeHead(status, {
      "content-type": upstream?.headers?.contentType ?? "application/json",
      "content-length": bytes.length,
      ...headers,
    });
    res.end(bytes);
    return;
  }
  const quoted = redacted ? `${message}: ${redacted.slice(0, 2000)}` : message;
  sendJson(res, status, errorBody("upstream_error", "upstream_error", quoted), headers);
}
