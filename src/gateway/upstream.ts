// The only place that talks to the upstream: one chat-completions attempt on a keep-alive connection pool (undici,
// the Node.js project's HTTP client), sending what the openai SDK sends on the wire (JSON body, `Authorization:
// Bearer <key>` when there is a key), and classifying every way it can fail for the retry policy. The gateway
// retries, meters and answers; this module does neither.
//
// Why not the openai SDK, as first built: its per-request machinery (header objects, request controllers, response
// wrappers) more than tripled the gateway's CPU per request and kept it from its latency target. Why undici's
// low-level dispatch and not its request(): request() objects outlive every young-generation GC and pile up until a
// full GC, whose pauses were the gateway's p99. Measurements in docs/gateway.md.
import { type Dispatcher, Pool } from "undici";
import { type Failure, parseRetryAfter } from "./retry-policy.ts";

export interface UpstreamOptions {
  /** OpenAI-compatible base URL, e.g. https://api.openai.com/v1; `/chat/completions` is appended. */
  baseURL: string;
  apiKey: string | null;
  /** The longest wait for a new connection to be established. */
  connectTimeoutMs: number;
}

export interface AttemptOptions {
  /** Ends the attempt: the client went away or the request's deadline passed. */
  signal: AbortSignal;
  /** The longest wait for a connection and the answer to start, and then for each next piece of it. */
  timeoutMs: number;
}

/** What the gateway passes on of the upstream's answer besides its body. */
export interface AnswerHeaders {
  contentType: string | undefined;
  /** The upstream's x-request-id, the handle its support asks for. */
  requestId: string | undefined;
}

/**
 * Takes each piece of a streamed 2xx answer as it arrives. A returned promise pauses the upstream until it settles
 * (the client is slower than the upstream); a throw or rejection ends the attempt with that error.
 */
export type Relay = (chunk: Buffer) => Promise<unknown> | undefined;

/** One failed attempt, classified for the retry policy; `body` and `headers` are the upstream's own error answer. */
export class UpstreamError extends Error {
  readonly failure: Failure;
  readonly body: Buffer | undefined;
  readonly headers: AnswerHeaders | undefined;

  constructor(failure: Failure, message: string, body?: Buffer, headers?: AnswerHeaders) {
    super(message);
    this.failure = failure;
    this.body = body;
    this.headers = headers;
  }
}

export interface UpstreamClient {
  /** Resolves with the bytes of a 2xx answer and its headers. */
  complete(payload: string, options: AttemptOptions): Promise<{ bytes: Buffer; headers: AnswerHeaders }>;
  /**
   * Passes the bytes of a 2xx answer to `relay` as they arrive, after `onStart` got its headers; resolves when the
   * answer is complete.
   */
  stream(
    payload: string,
    options: AttemptOptions,
    relay: Relay,
    onStart?: (headers: AnswerHeaders) => void,
  ): Promise<void>;
  close(): Promise<void>;
}

export function describeFailure(error: unknown): Failure {
  return error instanceof UpstreamError ? error.failure : { kind: "internal" };
}

const TIMEOUT_CODES = new Set(["UND_ERR_HEADERS_TIMEOUT", "UND_ERR_BODY_TIMEOUT", "UND_ERR_CONNECT_TIMEOUT"]);
// Errors about the request itself: sending it again would fail the same way.
const INTERNAL_CODES = new Set(["UND_ERR_INVALID_ARG", "UND_ERR_NOT_SUPPORTED", "UND_ERR_REQ_CONTENT_LENGTH_MISMATCH"]);

/** An undici or socket error as an attempt failure: timeouts, request bugs, and everything else is the connection. */
function transportError(error: Error): UpstreamError {
  const { code } = error as { code?: string };
  if (code && TIMEOUT_CODES.has(code)) return new UpstreamError({ kind: "timeout" }, `timed out: ${error.message}`);
  if (code && INTERNAL_CODES.has(code)) return new UpstreamError({ kind: "internal" }, `bad request: ${error.message}`);
  return new UpstreamError({ kind: "connection" }, `connection failed: ${error.message}`);
}

function firstHeader(value: string | string[] | undefined): string | null {
  return Array.isArray(value) ? (value[0] ?? null) : (value ?? null);
}

export function createUpstreamClient(options: UpstreamOptions): UpstreamClient {
  const url = new URL(`${options.baseURL.replace(/\/+$/, "")}/chat/completions`);
  const pool = new Pool(url.origin, { connect: { timeout: options.connectTimeoutMs } });
  const path = url.pathname + url.search;
  const requestHeaders: Record<string, string> = {
    "content-type": "application/json",
    accept: "application/json",
    "user-agent": "collab-operator-gateway",
  };
  if (options.apiKey !== null) requestHeaders.authorization = `Bearer ${options.apiKey}`;

  /**
   * One exchange; resolves with the body of a 2xx answer (empty when a relay took it). The attempt's timeout is a
   * timer of our own, restarted by each piece of the answer: undici's headersTimeout and bodyTimeout run on a coarse
   * clock that fires up to half a second late, long enough for an answer to arrive and be thrown away.
   */
  function send(
    payload: string,
    { signal, timeoutMs }: AttemptOptions,
    relay?: Relay,
    onStart?: (headers: AnswerHeaders) => void,
  ): Promise<{ bytes: Buffer; headers: AnswerHeaders }> {
    return new Promise((resolve, reject) => {
      const aborted = () => new Error("attempt aborted", { cause: signal.reason });
      if (signal.aborted) {
        reject(aborted());
        return;
      }
      let controller: Dispatcher.DispatchController | undefined;
      let failure: Extract<Failure, { kind: "status" }> | undefined;
      let headers: AnswerHeaders = { contentType: undefined, requestId: undefined };
      let relayError: unknown;
      let timedOut: UpstreamError | undefined;
      let settled = false;
      const chunks: Buffer[] = [];
      // Before the request has a connection there is nothing to abort yet: the attempt ends now, and the request is
      // dropped when its turn comes (onRequestStart).
      const onAbort = () => (controller ? controller.abort(aborted()) : settle(aborted()));
      let paused = false;
      const timer = setTimeout(() => {
        if (paused) return; // resuming restarts the timer
        timedOut = new UpstreamError({ kind: "timeout" }, `timed out: no answer for ${timeoutMs} ms`);
        if (controller) controller.abort(timedOut);
        else settle(timedOut);
      }, timeoutMs);
      const settle = (error?: unknown) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        signal.removeEventListener("abort", onAbort);
        if (error === undefined) resolve({ bytes: Buffer.concat(chunks), headers });
        else reject(error);
      };
      const fail = (error: unknown) => {
        relayError = error;
        controller?.abort(error instanceof Error ? error : new Error(String(error)));
      };
      signal.addEventListener("abort", onAbort, { once: true });
      const request: Dispatcher.DispatchOptions = {
        path,
        method: "POST",
        headers: requestHeaders,
        body: payload,
        headersTimeout: 0,
        bodyTimeout: 0,
      };
      pool.dispatch(request, {
        onRequestStart(c) {
          controller = c;
          if (signal.aborted) onAbort();
          else if (timedOut) c.abort(timedOut);
        },
        onResponseStart(_c, status, answerHeaders) {
          // 1xx interim answers (103 Early Hints) come before the real one.
          if (status < 200) return;
          timer.refresh();
          const header = (name: string) => firstHeader(answerHeaders[name]);
          headers = {
            contentType: header("content-type") ?? undefined,
            requestId: header("x-request-id") ?? undefined,
          };
          if (status < 300) {
            onStart?.(headers);
            return;
          }
          failure = { kind: "status", status, retryAfterMs: parseRetryAfter({ get: header }, Date.now()) };
        },
        onResponseData(c, chunk) {
          timer.refresh();
          if (!relay || failure) {
            chunks.push(chunk);
            return;
          }
          try {
            const wait = relay(chunk);
            if (wait) {
              // A client reading slowly is not the upstream stalling: no timeout while paused.
              paused = true;
              c.pause();
              wait.then(() => {
                paused = false;
                timer.refresh();
                c.resume();
              }, fail);
            }
          } catch (error) {
            fail(error);
          }
        },
        onResponseEnd() {
          if (!failure) settle();
          else
            settle(new UpstreamError(failure, `upstream answered ${failure.status}`, Buffer.concat(chunks), headers));
        },
        onResponseError(_c, error) {
          settle(relayError ?? timedOut ?? (signal.aborted ? aborted() : transportError(error)));
        },
      });
    });
  }

  return {
    complete: (payload, options) => send(payload, options),
    stream: async (payload, options, relay, onStart) => {
      await send(payload, options, relay, onStart);
    },
    close: () => pool.close(),
  };
}
