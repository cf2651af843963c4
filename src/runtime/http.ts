// Raw JSON requests and watches to the apiserver over one keep-alive connection pool per kubeconfig.
//
// Why not client-node's request path: it builds a new undici Agent for every request (`applySecurityAuthentication`
// -> `createDispatcher`) and re-reads the certificate files, so every request opened a new TLS connection
// (docs/runtime.md, "HTTP", has what that cost). Here an https.Agent with keep-alive is made once per kubeconfig, watches included (a watch holds one pooled socket for its
// life and gives it back when the server ends it), with LIFO reuse so a few warm sockets serve everything. Bodies are
// raw JSON both ways: the typed clients turn timestamps into Date objects, rename fields (`exec` becomes `_exec`) and
// pick patch content types for you; a controller that caches watch events (raw JSON) wants the wire format.
//
// Credentials: client certificates, bearer tokens (inline or token-file), basic auth, impersonation and the
// service account's token file (re-read every minute, as client-go does) are read here. Anything else (exec plugins,
// OIDC and other auth providers) is asked of client-node's KubeConfig per request, loading client-node on first use
// only; an exec plugin that returns a client certificate instead of a token is not supported. `proxy-url` is not.

import { readFileSync } from "node:fs";
import { Agent as HttpAgent, request as httpRequest, type IncomingMessage } from "node:http";
import { Agent as HttpsAgent, request as httpsRequest } from "node:https";
import { createSecureContext } from "node:tls";
import type { Cluster, User } from "@kubernetes/client-node";
import type { KubeConfig } from "./kubeconfig.ts";

export interface RawRequest {
  method: "GET" | "POST" | "PUT" | "PATCH" | "DELETE";
  path: string;
  query?: Record<string, string | number | boolean | undefined>;
  body?: unknown;
  contentType?: string;
  signal?: AbortSignal;
}

/** A non-2xx answer: `code` is the HTTP status, `body` the parsed Status object (or the text). */
export class ApiError extends Error {
  readonly code: number;
  readonly body: unknown;
  constructor(code: number, what: string, body: unknown) {
    const message = (body as { message?: unknown } | undefined)?.message;
    super(`${what}: HTTP ${code}${typeof message === "string" ? `: ${message}` : ""}`);
    this.name = "ApiError";
    this.code = code;
    this.body = body;
  }
}

/** Told about every request a connection sends: for metrics. `code` is 0 when no answer came. */
export type RequestObserver = (method: string, code: number, seconds: number) => void;

interface Connection {
  server: URL;
  agent: HttpAgent;
  send: typeof httpRequest;
  headers: () => Promise<Record<string, string>>;
  observers: RequestObserver[];
}

const connections = new WeakMap<KubeConfig, Connection>();

function connection(kc: KubeConfig): Connection {
  let conn = connections.get(kc);
  if (!conn) {
    conn = connect(kc);
    connections.set(kc, conn);
  }
  return conn;
}

const fileOrData = (file: string | undefined, data: string | undefined) =>
  data ? Buffer.from(data, "base64") : file ? readFileSync(file) : undefined;

function connect(kc: KubeConfig): Connection {
  const cluster = kc.getCurrentCluster();
  if (!cluster) throw new Error("kubeconfig has no current cluster");
  const user = kc.getCurrentUser() ?? { name: "" };
  if (cluster.proxyUrl) throw new Error(`kubeconfig cluster ${cluster.name}: proxy-url is not supported`);
  const server = new URL(cluster.server);
  const tls = server.protocol === "https:";
  if (!tls && !cluster.skipTLSVerify) {
    throw new Error(`kubeconfig cluster ${cluster.name}: plain http needs insecure-skip-tls-verify`);
  }
  const pool = { keepAlive: true, scheduling: "lifo" as const };
  // One TLS context for every connection: given only ca/cert/key, each new socket parses them into a context of its
  // own (about 1 ms), and an operator watching 20 namespaces opens some 200 watches at once at start.
  const agent = tls
    ? new HttpsAgent({
        ...pool,
        secureContext: createSecureContext({
          ca: fileOrData(cluster.caFile, cluster.caData),
          cert: fileOrData(user.certFile, user.certData),
          key: fileOrData(user.keyFile, user.keyData),
        }),
        rejectUnauthorized: !cluster.skipTLSVerify,
        ...(cluster.tlsServerName ? { servername: cluster.tlsServerName } : {}),
      })
    : new HttpAgent(pool);
  return {
    server,
    agent,
    send: tls ? httpsRequest : httpRequest,
    headers: credentials(kc, cluster, user),
    observers: [],
  };
}

const TOKEN_FILE_REFRESH_MS = 60_000;

/** The credential headers of `user`, as a function called before every request. */
function credentials(kc: KubeConfig, cluster: Cluster, user: User): () => Promise<Record<string, string>> {
  const fixed: Record<string, string> = {};
  if (user.impersonateUser) fixed["Impersonate-User"] = user.impersonateUser;
  const tokenFile = user.authProvider?.config?.tokenFile as string | undefined;
  if (user.exec || (user.authProvider && !tokenFile)) return delegated(kc, cluster, user);
  if (user.token) fixed.Authorization = `Bearer ${user.token}`;
  else if (user.username) {
    fixed.Authorization = `Basic ${Buffer.from(`${user.username}:${user.password ?? ""}`).toString("base64")}`;
  }
  if (!tokenFile) return async () => fixed;
  let token = "";
  let readAt = Number.NEGATIVE_INFINITY;
  return async () => {
    if (Date.now() - readAt > TOKEN_FILE_REFRESH_MS) {
      token = readFileSync(tokenFile, "utf8").trim();
      readAt = Date.now();
    }
    return { ...fixed, Authorization: `Bearer ${token}` };
  };
}

/** Headers from client-node's own authenticators (exec plugins, OIDC, ...), loaded the first time they are needed. */
function delegated(kc: KubeConfig, cluster: Cluster, user: User): () => Promise<Record<string, string>> {
  type Lib = typeof import("@kubernetes/client-node");
  let loaded: Promise<{ lib: Lib; full: InstanceType<Lib["KubeConfig"]> }> | undefined;
  const load = async () => {
    const lib = await import("@kubernetes/client-node");
    if (kc instanceof lib.KubeConfig) return { lib, full: kc };
    const full = new lib.KubeConfig();
    full.loadFromClusterAndUser(cluster, user);
    return { lib, full };
  };
  return async () => {
    loaded ??= load();
    const { lib, full } = await loaded;
    const ctx = new lib.RequestContext(cluster.server, lib.HttpMethod.GET);
    await full.applySecurityAuthentication(ctx);
    return ctx.getHeaders();
  };
}

/** Calls `observer` for every request sent with `kc` (watches included, counted when their answer starts). */
export function observeRequests(kc: KubeConfig, observer: RequestObserver): void {
  connection(kc).observers.push(observer);
}

function withQuery(path: string, query: RawRequest["query"]): string {
  const params = new URLSearchParams();
  for (const [k, v] of Object.entries(query ?? {})) if (v !== undefined) params.set(k, String(v));
  const qs = params.toString();
  return `${path}${qs ? `?${qs}` : ""}`;
}

/**
 * Sends a request and resolves with the response once its headers arrived (the body is the caller's to read). A
 * request that fails on a pooled socket the server had just closed is sent once more on a fresh one: nothing reached
 * the server, so this is safe for every method (Node's documented keep-alive race).
 */
export async function send(kc: KubeConfig, req: RawRequest, accept = "application/json"): Promise<IncomingMessage> {
  const conn = connection(kc);
  const payload = req.body === undefined ? undefined : JSON.stringify(req.body);
  const headers: Record<string, string | number> = {
    ...(await conn.headers()),
    Accept: accept,
    "User-Agent": "collab-operator-runtime",
  };
  if (payload !== undefined) {
    headers["Content-Type"] = req.contentType ?? "application/json";
    headers["Content-Length"] = Buffer.byteLength(payload);
  }
  const path = withQuery(req.path, req.query);
  const started = performance.now();
  const observe = (code: number) => {
    for (const o of conn.observers) o(req.method, code, (performance.now() - started) / 1000);
  };
  for (let attempt = 0; ; attempt++) {
    try {
      const res = await new Promise<IncomingMessage>((resolve, reject) => {
        const r = conn.send(
          {
            protocol: conn.server.protocol,
            hostname: conn.server.hostname.replace(/^\[|\]$/g, ""),
            port: conn.server.port,
            method: req.method,
            path: `${conn.server.pathname.replace(/\/$/, "")}${path}`,
            headers,
            agent: conn.agent,
            signal: req.signal,
          },
          resolve,
        );
        r.on("error", (err: NodeJS.ErrnoException) => {
          if (attempt === 0 && r.reusedSocket && (err.code === "ECONNRESET" || err.code === "EPIPE")) {
            reject(new StaleSocket(err));
          } else reject(err);
        });
        r.end(payload);
      });
      observe(res.statusCode ?? 0);
      return res;
    } catch (err) {
      if (err instanceof StaleSocket) continue;
      observe(0);
      throw err;
    }
  }
}

class StaleSocket extends Error {
  constructor(cause: Error) {
    super("pooled socket closed by the server", { cause });
  }
}

/** Shares no closure with a body reader, so it keeps nothing of the body alive. */
const ignoreLateError = () => {};

/** The whole body as text. */
export function readBody(res: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    // Decoded chunk by chunk into V8 strings: a Buffer.concat of a 2 MiB list page left malloc'd memory behind.
    let text = "";
    // The listeners go once the body is read: a pooled socket keeps its last request and response reachable until
    // it is reused, and through these closures the whole body (a heap snapshot held the last 2 MiB list page of
    // every informer).
    const settle = (done: () => void) => {
      res.off("data", onData).off("end", onEnd).off("error", onError).off("aborted", onAborted);
      res.on("error", ignoreLateError); // an 'error' without a listener would throw
      done();
    };
    const onData = (chunk: string) => {
      text += chunk;
    };
    const onEnd = () => settle(() => resolve(text));
    const onError = (err: Error) => settle(() => reject(err));
    const onAborted = () => settle(() => reject(new Error("response aborted")));
    res.setEncoding("utf8");
    res.on("data", onData).on("end", onEnd).on("error", onError).on("aborted", onAborted);
  });
}

/** Sends one request and returns the body as text; a non-2xx status throws ApiError. */
export async function requestText(kc: KubeConfig, req: RawRequest): Promise<string> {
  const res = await send(kc, req);
  const text = await readBody(res);
  const code = res.statusCode ?? 0;
  if (code < 200 || code >= 300) throw new ApiError(code, `${req.method} ${req.path}`, parseJson(text));
  return text;
}

/** Sends one request and returns the parsed JSON body; a non-2xx status throws ApiError. */
export async function request<T = unknown>(kc: KubeConfig, req: RawRequest): Promise<T> {
  const text = await requestText(kc, req);
  return (text === "" ? undefined : parseJson(text)) as T;
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

/** The HTTP status of an API error (including a Status object in a watch ERROR event), or undefined. */
export function statusCode(err: unknown): number | undefined {
  const e = err as { statusCode?: unknown; code?: unknown } | undefined;
  if (typeof e?.statusCode === "number") return e.statusCode;
  return typeof e?.code === "number" ? e.code : undefined;
}
