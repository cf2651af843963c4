// A local OpenAI-compatible upstream for tests and benchmarks. Each request takes the next scripted fault (or answers
// normally when the script is empty) and is recorded, headers included, so tests can check what the gateway sent.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";

export type Fault =
  /** Answers normally (to place faults later in a sequence). */
  | { kind: "ok" }
  | {
      kind: "status";
      status: number;
      retryAfter?: string;
      body?: unknown;
      /** The body as these exact bytes (instead of `body` as JSON). */
      raw?: string;
      headers?: Record<string, string>;
    }
  /** Answers normally, headers and body together, only after delayMs. */
  | { kind: "late"; delayMs: number }
  /** Sends the headers at once and the body only after delayMs. */
  | { kind: "slow"; delayMs: number }
  /** Streams `chunks` content chunks, then destroys the connection. */
  | { kind: "broken-stream"; chunks: number }
  /** Streams `chunks` content chunks, then an error event (as OpenAI does on a server error mid-stream), then ends. */
  | { kind: "stream-error"; chunks: number }
  /** Streams `chunks` content chunks and then nothing more, keeping the connection open. */
  | { kind: "stalled-stream"; chunks: number }
  /** Streams normally, with `"error": null` in every chunk (as some servers do). */
  | { kind: "null-error-stream" }
  /** Sends a 103 Early Hints interim answer before the real one. */
  | { kind: "early-hints" }
  /** Destroys the connection before answering. */
  | { kind: "reset" }
  /** Never answers. */
  | { kind: "hang" };

export interface Recorded {
  headers: IncomingMessage["headers"];
  body: Record<string, unknown>;
  /** When the request arrived and when its connection or answer ended (performance.now()). */
  at: number;
  closedAt?: number;
}

export interface FakeUpstream {
  url: string;
  requests: Recorded[];
  script: (...faults: Fault[]) => void;
  /** Token counts the next answers report. */
  usage: { prompt_tokens: number; completion_tokens: number };
  /** Every answer waits this long first (a slow provider). */
  latencyMs: number;
  close: () => Promise<void>;
}

const ANSWER = "Sure, here is what I think about that.";

function completion(model: unknown, usage: FakeUpstream["usage"], content = ANSWER) {
  return {
    id: "chatcmpl-fake",
    object: "chat.completion",
    created: 1_700_000_000,
    model,
    choices: [{ index: 0, message: { role: "assistant", content }, finish_reason: "stop", logprobs: null }],
    usage: { ...usage, total_tokens: usage.prompt_tokens + usage.completion_tokens },
  };
}

function chunk(model: unknown, delta: Record<string, unknown>, finish: string | null, extra: object = {}) {
  return {
    ...extra,
    id: "chatcmpl-fake",
    object: "chat.completion.chunk",
    created: 1_700_000_000,
    model,
    choices: [{ index: 0, delta, finish_reason: finish }],
  };
}

export interface FakeUpstreamOptions {
  /** `false` keeps nothing per request, for benchmarks that send hundreds of thousands. */
  record?: boolean;
  /** Answer 401 as OpenAI does unless the request carries this key as `Authorization: Bearer`. */
  apiKey?: string;
  /** The models GET /models lists; a chat completion for any other gets OpenAI's 404 model_not_found. */
  models?: string[];
  /** What an answer says, from the request's body (default: the same sentence every time). */
  answer?: (body: Record<string, unknown>) => string;
  /** Where to listen (default: a free port on loopback). */
  host?: string;
  port?: number;
  /** Sees every request first; when it answers (resolves true), the upstream does nothing more with it. */
  intercept?: (req: IncomingMessage, res: ServerResponse) => Promise<boolean>;
}

/** OpenAI's answer to a refused key, which echoes a masked form of it. */
function keyRefused(auth: string | undefined) {
  const key = auth?.replace(/^Bearer /, "") ?? "";
  return {
    error: {
      message: `Incorrect API key provided: ${key.slice(0, 3)}****${key.slice(-4)}. You can find your API key at https://platform.openai.com/account/api-keys.`,
      type: "invalid_request_error",
      param: null,
      code: "invalid_api_key",
    },
  };
}

function modelNotFound(model: unknown) {
  return {
    error: {
      message: `The model \`${String(model)}\` does not exist or you do not have access to it.`,
      type: "invalid_request_error",
      param: null,
      code: "model_not_found",
    },
  };
}

export async function startFakeUpstream(options: FakeUpstreamOptions = {}): Promise<FakeUpstream> {
  const record = options.record ?? true;
  const faults: Fault[] = [];
  const requests: Recorded[] = [];
  const usage = { prompt_tokens: 11, completion_tokens: 7 };
  const state = { latencyMs: 0 };
  const server: Server = createServer(async (req, res) => {
    if (options.intercept && (await options.intercept(req, res))) return;
    const chunks: Buffer[] = [];
    for await (const c of req as AsyncIterable<Buffer>) chunks.push(c);
    const json = (status: number, payload: unknown) =>
      res.writeHead(status, { "content-type": "application/json" }).end(JSON.stringify(payload));
    if (options.apiKey !== undefined && req.headers.authorization !== `Bearer ${options.apiKey}`) {
      json(401, keyRefused(req.headers.authorization));
      return;
    }
    if (req.method === "GET" && req.url?.endsWith("/models")) {
      const data = (options.models ?? []).map((id) => ({
        id,
        object: "model",
        created: 1_700_000_000,
        owned_by: "fake",
      }));
      json(200, { object: "list", data });
      return;
    }
    const body = JSON.parse(Buffer.concat(chunks).toString("utf8") || "{}") as Record<string, unknown>;
    const recorded: Recorded = { headers: req.headers, body, at: performance.now() };
    if (record) requests.push(recorded);
    res.on("close", () => (recorded.closedAt = performance.now()));
    if (options.models && !options.models.includes(String(body.model))) {
      json(404, modelNotFound(body.model));
      return;
    }
    const fault = faults.shift();
    if (fault?.kind === "hang") return;
    if (state.latencyMs > 0) await new Promise((r) => setTimeout(r, state.latencyMs));
    const content = options.answer?.(body) ?? ANSWER;
    if (fault?.kind === "reset") {
      req.socket.destroy();
      return;
    }
    if (fault?.kind === "status") {
      const headers: Record<string, string> = { "content-type": "application/json", ...fault.headers };
      if (fault.retryAfter !== undefined) headers["retry-after"] = fault.retryAfter;
      const payload = fault.body ?? {
        error: { message: `fake ${fault.status}`, type: "fake", code: String(fault.status) },
      };
      res.writeHead(fault.status, headers).end(fault.raw ?? JSON.stringify(payload));
      return;
    }
    if (fault?.kind === "early-hints") res.writeEarlyHints({ link: "</style.css>; rel=preload; as=style" });
    if (body.stream === true) {
      res.writeHead(200, { "content-type": "text/event-stream", "x-request-id": "req-stream" });
      const words = content.split(" ");
      const cut = fault?.kind === "broken-stream" || fault?.kind === "stream-error" || fault?.kind === "stalled-stream";
      const limit = cut ? fault.chunks : words.length;
      const extra = fault?.kind === "null-error-stream" ? { error: null } : {};
      for (const [i, word] of words.slice(0, limit).entries()) {
        const delta = { content: i === 0 ? word : ` ${word}` };
        res.write(`data: ${JSON.stringify(chunk(body.model, delta, null, extra))}\n\n`);
      }
      if (fault?.kind === "stalled-stream") return;
      if (fault?.kind === "stream-error") {
        const error = { message: "The server had an error while processing your request.", type: "server_error" };
        res.end(`data: ${JSON.stringify({ error })}\n\n`);
        return;
      }
      if (fault?.kind === "broken-stream") {
        // Let the written chunks reach the gateway before the connection dies.
        setTimeout(() => req.socket.destroy(), 20);
        return;
      }
      res.write(`data: ${JSON.stringify(chunk(body.model, {}, "stop"))}\n\n`);
      const options = body.stream_options as { include_usage?: boolean } | undefined;
      if (options?.include_usage) {
        const last = { ...chunk(body.model, {}, null), choices: [], usage: completion(body.model, usage).usage };
        res.write(`data: ${JSON.stringify(last)}\n\n`);
      }
      res.end("data: [DONE]\n\n");
      return;
    }
    const text = JSON.stringify(completion(body.model, usage, content));
    if (fault?.kind === "late") {
      const timer = setTimeout(() => {
        res.writeHead(200, { "content-type": "application/json", "x-request-id": "req-late" }).end(text);
      }, fault.delayMs);
      res.on("close", () => clearTimeout(timer));
      return;
    }
    if (fault?.kind === "slow") {
      res.writeHead(200, { "content-type": "application/json" });
      setTimeout(() => res.end(text), fault.delayMs);
      return;
    }
    res
      .writeHead(200, {
        "content-type": "application/json",
        "content-length": Buffer.byteLength(text),
        "x-request-id": "req-ok",
      })
      .end(text);
  });
  server.keepAliveTimeout = 65_000;
  const host = options.host ?? "127.0.0.1";
  await new Promise<void>((resolve) => server.listen(options.port ?? 0, host, resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://${host}:${port}/v1`,
    requests,
    script: (...more) => faults.push(...more),
    usage,
    get latencyMs() {
      return state.latencyMs;
    },
    set latencyMs(ms: number) {
      state.latencyMs = ms;
    },
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
