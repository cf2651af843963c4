// A lean `fetch` for the openai SDK's `fetch` option, on node:http(s) with keep-alive agents. Node's built-in fetch
// (undici's WHATWG implementation) cost about half of the gateway's CPU per request in profiles; this transport
// buffers plain answers in one piece and streams only event streams, which is all the SDK needs from it.
import { Agent as HttpAgent, request as httpRequest, type IncomingMessage } from "node:http";
import { Agent as HttpsAgent, request as httpsRequest } from "node:https";
import { Readable } from "node:stream";

const httpAgent = new HttpAgent({ keepAlive: true, maxSockets: Number.POSITIVE_INFINITY });
const httpsAgent = new HttpsAgent({ keepAlive: true, maxSockets: Number.POSITIVE_INFINITY });

function abortError(signal: AbortSignal): Error {
  // The SDK recognises aborts (its own timeouts included) by this name.
  return Object.assign(new Error("This operation was aborted", { cause: signal.reason }), { name: "AbortError" });
}

function headersOf(res: IncomingMessage): Headers {
  const headers = new Headers();
  for (let i = 0; i < res.rawHeaders.length; i += 2) headers.append(res.rawHeaders[i]!, res.rawHeaders[i + 1]!);
  return headers;
}

/**
 * The part of Response the SDK reads for a buffered answer (status, headers, text/json), without the cost of a
 * WHATWG body stream for bytes that are already all here.
 */
class BufferedResponse {
  readonly status: number;
  readonly statusText: string;
  readonly ok: boolean;
  readonly headers: Headers;
  readonly url = "";
  readonly body = null;
  private readonly bytes: Buffer;

  constructor(bytes: Buffer, init: { status: number; statusText: string; headers: Headers }) {
    this.bytes = bytes;
    this.status = init.status;
    this.statusText = init.statusText;
    this.ok = init.status >= 200 && init.status < 300;
    this.headers = init.headers;
  }

  async text(): Promise<string> {
    return this.bytes.toString("utf8");
  }

  async json(): Promise<unknown> {
    return JSON.parse(this.bytes.toString("utf8"));
  }
}

export function nodeFetch(input: string | URL | Request, init: RequestInit = {}): Promise<Response> {
  const url = new URL(typeof input === "string" || input instanceof URL ? input : input.url);
  const secure = url.protocol === "https:";
  const signal = init.signal ?? undefined;
  const body = init.body ?? undefined;
  if (body !== undefined && typeof body !== "string" && !(body instanceof Uint8Array)) {
    return Promise.reject(new TypeError("nodeFetch sends string or byte bodies only"));
  }
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(abortError(signal));
    const headers: Record<string, string> = {};
    new Headers(init.headers).forEach((value, key) => {
      headers[key] = value;
    });
    // Without a length node:http sends the body chunked, in extra writes that cost ~0.25 ms per request on loopback.
    if (body !== undefined) headers["content-length"] ??= String(Buffer.byteLength(body));
    const req = (secure ? httpsRequest : httpRequest)(url, {
      method: init.method ?? "GET",
      headers,
      agent: secure ? httpsAgent : httpAgent,
    });
    const onAbort = () => req.destroy(abortError(signal!));
    signal?.addEventListener("abort", onAbort, { once: true });
    req.on("error", (error) => {
      signal?.removeEventListener("abort", onAbort);
      reject(error.name === "AbortError" ? error : new TypeError("fetch failed", { cause: error }));
    });
    req.on("response", (res) => {
      const init = { status: res.statusCode ?? 502, statusText: res.statusMessage ?? "", headers: headersOf(res) };
      if (res.headers["content-type"]?.includes("text/event-stream")) {
        res.on("close", () => signal?.removeEventListener("abort", onAbort));
        // A connection that dies mid-stream must surface as an error, not as a clean end of the answer.
        res.on("aborted", () => res.destroy(new TypeError("terminated")));
        resolve(new Response(Readable.toWeb(res) as ReadableStream, init));
        return;
      }
      const chunks: Buffer[] = [];
      res.on("data", (chunk: Buffer) => chunks.push(chunk));
      res.on("end", () => {
        signal?.removeEventListener("abort", onAbort);
        resolve(new BufferedResponse(Buffer.concat(chunks), init) as unknown as Response);
      });
      res.on("error", (error) => reject(new TypeError("fetch failed", { cause: error })));
    });
    req.end(body);
  });
}
