// Small HTTP helpers for the gateway server: bodies and OpenAI-shaped error answers.
import type { IncomingMessage, ServerResponse } from "node:http";

export class HttpError extends Error {
  readonly status: number;
  readonly type: string;
  readonly code: string;
  readonly headers: Record<string, string>;

  constructor(status: number, type: string, code: string, message: string, headers: Record<string, string> = {}) {
    super(message);
    this.status = status;
    this.type = type;
    this.code = code;
    this.headers = headers;
  }
}

/**
 * The request bytes all requests in flight may hold together. A body is counted from its first byte (or from its
 * declared length) until its request ends, since its parsed and re-serialised copies live that long: this bounds the
 * gateway's memory below its container's limit whatever clients send at once.
 */
export class BodyBudget {
  readonly limit: number;
  #inUse = 0;

  constructor(limit: number) {
    this.limit = limit;
  }

  get inUse(): number {
    return this.#inUse;
  }

  /** One request's share, released once when the request ends. */
  reservation(): { add: (bytes: number) => boolean; release: () => void } {
    let held = 0;
    return {
      add: (bytes) => {
        if (this.#inUse + bytes > this.limit) return false;
        this.#inUse += bytes;
        held += bytes;
        return true;
      },
      release: () => {
        this.#inUse -= held;
        held = 0;
      },
    };
  }
}

export interface BodyLimits {
  /** Largest body of one request. */
  maxBytes: number;
  /** The whole body must have arrived by then (a body that trickles in is cut off). */
  timeoutMs: number;
}

/**
 * Reads a JSON body within the request's limits, counting it against the budget through `reservation`. Errors are
 * answered before the rest of the body is read: 413 (too large, by its declared length or as it arrives), 503 (the
 * budget is spent by other requests), 408 (too slow), 400 (not JSON).
 */
export function readJson(
  req: IncomingMessage,
  limits: BodyLimits,
  reservation: { add: (bytes: number) => boolean },
): Promise<unknown> {
  // Events, not an async iterator: this runs on every request, and the iterator costs more than the parse.
  return new Promise((resolve, reject) => {
    const tooLarge = () =>
      new HttpError(
        413,
        "invalid_request_error",
        "body_too_large",
        `request body larger than ${limits.maxBytes} bytes`,
      );
    const busy = () =>
      new HttpError(
        503,
        "server_error",
        "gateway_busy",
        "the gateway holds as many request bytes as its memory allows; retry shortly",
        { "retry-after": "1" },
      );
    const declared = Number(req.headers["content-length"]);
    const known = Number.isSafeInteger(declared) && declared >= 0;
    if (known && declared > limits.maxBytes) return reject(tooLarge());
    if (known && !reservation.add(declared)) return reject(busy());
    // A declared length is read into one buffer of that size: no list of chunks and no concatenated copy of it.
    let whole = known ? Buffer.allocUnsafe(declared) : undefined;
    let chunks: Buffer[] = [];
    let size = 0;
    let done = false;
    const finish = (error?: HttpError, value?: unknown) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      req.removeListener("data", onData);
      if (error) reject(error);
      else resolve(value);
    };
    const timer = setTimeout(
      () =>
        finish(
          new HttpError(
            408,
            "invalid_request_error",
            "body_timeout",
            `request body did not arrive within ${limits.timeoutMs} ms`,
          ),
        ),
      limits.timeoutMs,
    );
    const onData = (chunk: Buffer) => {
      if (size + chunk.length > limits.maxBytes) return finish(tooLarge());
      if (whole) {
        chunk.copy(whole, size);
      } else {
        if (!reservation.add(chunk.length)) return finish(busy());
        chunks.push(chunk);
      }
      size += chunk.length;
    };
    req.on("data", onData);
    req.on("error", () => finish(new HttpError(400, "invalid_request_error", "body_broken", "request body broke off")));
    req.on("end", () => {
      const bytes = whole ? whole.subarray(0, size) : Buffer.concat(chunks);
      // The request object outlives its body by the whole upstream call: let go of the raw bytes now.
      whole = undefined;
      chunks = [];
      try {
        finish(undefined, JSON.parse(bytes.toString("utf8")));
      } catch {
        finish(new HttpError(400, "invalid_request_error", "invalid_json", "request body is not valid JSON"));
      }
    });
  });
}

export function sendJson(
  res: ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): void {
  const text = JSON.stringify(body);
  // An answer before the whole body was read (too large, too slow, a wrong token) ends the connection: the rest of
  // the body is read and dropped for a moment, so the client sees the answer rather than a reset, but never for long.
  const unread = !res.req.complete;
  res.writeHead(status, {
    "content-type": "application/json",
    "content-length": Buffer.byteLength(text),
    ...(unread ? { connection: "close" } : {}),
    ...headers,
  });
  res.end(text);
  if (unread) {
    res.req.resume();
    setTimeout(() => res.req.complete || res.req.destroy(), 1000).unref();
  }
}

export function errorBody(type: string, code: string, message: string): { error: Record<string, unknown> } {
  return { error: { message, type, code, param: null } };
}

export function sendError(res: ServerResponse, error: HttpError): void {
  sendJson(res, error.status, errorBody(error.type, error.code, error.message), error.headers);
}
