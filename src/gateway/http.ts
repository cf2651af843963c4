// Small HTTP helpers for the gateway server: bodies, OpenAI-shaped error answers, bearer-token checks.
import { timingSafeEqual } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";

const MAX_BODY_BYTES = 32 * 1024 * 1024;

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

export function readJson(req: IncomingMessage): Promise<unknown> {
  // Events, not an async iterator: this runs on every request, and the iterator costs more than the parse.
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on("data", (chunk: Buffer) => {
      size += chunk.length;
      // Past the limit the rest is read and dropped, so the 413 answer can still be sent.
      if (size <= MAX_BODY_BYTES) chunks.push(chunk);
    });
    req.on("error", reject);
    req.on("end", () => {
      if (size > MAX_BODY_BYTES) {
        reject(new HttpError(413, "invalid_request_error", "body_too_large", "body too large"));
        return;
      }
      try {
        resolve(JSON.parse(Buffer.concat(chunks).toString("utf8")));
      } catch {
        reject(new HttpError(400, "invalid_request_error", "invalid_json", "request body is not valid JSON"));
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
  res.writeHead(status, {
    "content-type": "application/json",
    "content-length": Buffer.byteLength(text),
    ...headers,
  });
  res.end(text);
}

export function errorBody(type: string, code: string, message: string): { error: Record<string, unknown> } {
  return { error: { message, type, code, param: null } };
}

export function sendError(res: ServerResponse, error: HttpError): void {
  sendJson(res, error.status, errorBody(error.type, error.code, error.message), error.headers);
}

/** The credentials of an `Authorization: Bearer <token>` header; the scheme is case-insensitive (RFC 9110 §11.1). */
export function bearerToken(header: string | undefined): string | undefined {
  const match = /^bearer +(.*)$/i.exec(header ?? "");
  return match ? (match[1] as string).trim() : undefined;
}

/** Constant-time comparison, so response timing does not leak how much of a guessed token was right. */
export function hasBearer(req: IncomingMessage, token: string): boolean {
  const given = Buffer.from(bearerToken(req.headers.authorization) ?? "");
  const want = Buffer.from(token);
  return given.length === want.length && timingSafeEqual(given, want);
}
