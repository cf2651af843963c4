// What the report endpoint's routes share as HTTP: their errors, the job's token, request bodies within limits, and
// passing a request on to the leader. The routes themselves are in server.ts.
import { request as httpRequest, type IncomingMessage, type ServerResponse } from "node:http";
import type { V1Secret } from "@kubernetes/client-node";
import type { ZodSafeParseResult } from "zod";
import { fieldName } from "../../api/validate.ts";
import { TOKEN_KEY } from "../../children/support.ts";
import { presentsToken } from "../../contract/job-token.ts";

/** A report is a few hundred bytes, an ask a few KiB. */
const MAX_BODY = 64 * 1024;
/** Set on a request a standby passed on: the receiver serves it or says 503, never passes it on again. */
export const FORWARDED = "x-collab-forwarded";
const FORWARD_TIMEOUT_MS = 10_000;

export class HttpError extends Error {
  readonly status: number;
  readonly headers: Record<string, string>;
  constructor(status: number, message: string, headers: Record<string, string> = {}) {
    super(message);
    this.status = status;
    this.headers = headers;
  }
}

/** The request presents the job's token, as its Secret holds it; 401 otherwise. */
export function authenticate(req: IncomingMessage, secret: V1Secret | undefined): void {
  const expected = secret?.data?.[TOKEN_KEY] ? Buffer.from(secret.data[TOKEN_KEY], "base64") : undefined;
  if (!presentsToken(req.headers.authorization, expected)) {
    throw new HttpError(401, "missing or wrong bearer token");
  }
}

/** Reads at most MAX_BODY bytes within `timeoutMs`; a larger, endless or broken body is refused at once. */
export function readRequestBody(req: IncomingMessage, timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    let size = 0;
    const chunks: Buffer[] = [];
    const fail = (error: HttpError) => {
      clearTimeout(timer);
      req.removeAllListeners("data");
      reject(error);
    };
    const timer = setTimeout(
      () => fail(new HttpError(408, `the request's body did not arrive within ${timeoutMs} ms`)),
      timeoutMs,
    );
    const declared = Number(req.headers["content-length"]);
    if (declared > MAX_BODY) return fail(new HttpError(413, `body larger than ${MAX_BODY} bytes`));
    req.on("data", (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_BODY) fail(new HttpError(413, `body larger than ${MAX_BODY} bytes`));
      else chunks.push(chunk);
    });
    req.on("end", () => {
      clearTimeout(timer);
      resolve(Buffer.concat(chunks).toString("utf8"));
    });
    req.on("error", () => fail(new HttpError(400, "the connection broke before the request's body ended")));
    req.on("close", () => {
      if (!req.complete) fail(new HttpError(400, "the connection closed before the request's body ended"));
    });
  });
}

/** The body as `schema` reads it; 400 with every field's problem otherwise. */
export function parseBody<T>(body: string, schema: { safeParse: (json: unknown) => ZodSafeParseResult<T> }): T {
  let json: unknown;
  try {
    json = JSON.parse(body);
  } catch {
    throw new HttpError(400, "body is not JSON");
  }
  const parsed = schema.safeParse(json);
  if (!parsed.success) {
    throw new HttpError(400, parsed.error.issues.map((i) => `${fieldName(i.path)}: ${i.message}`).join("; "));
  }
  return parsed.data;
}

/**
 * A standby passes any request on to the leader unchanged (any route: the leader answers for what it serves), so
 * job pods may reach either replica through one Service. A failure to reach the leader is a 502 the gateway retries.
 */
export function forward(
  req: IncomingMessage,
  res: ServerResponse,
  leaderUrl: string,
  count: (code: number) => void,
  reply: (status: number, body: unknown) => void,
): void {
  const headers: Record<string, string> = { [FORWARDED]: "1" };
  for (const name of ["authorization", "content-type", "content-length"]) {
    const value = req.headers[name];
    if (typeof value === "string") headers[name] = value;
  }
  const out = httpRequest(
    new URL(req.url ?? "/", leaderUrl),
    { method: req.method, headers, timeout: FORWARD_TIMEOUT_MS },
    (answer) => {
      const code = answer.statusCode ?? 502;
      count(code);
      res.writeHead(code, { "content-type": answer.headers["content-type"] ?? "application/json" });
      answer.pipe(res);
    },
  );
  out.on("timeout", () => out.destroy(new Error("the leader did not answer in time")));
  out.on("error", () => {
    if (!res.headersSent) reply(502, { error: "could not reach the leader; retry" });
    else res.destroy();
  });
  req.pipe(out);
}
