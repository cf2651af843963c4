// Raw JSON requests through client-node's own HTTP stack (auth, TLS and dispatcher from the KubeConfig). The generated
// typed clients turn timestamps into Date objects, rename fields (`exec` becomes `_exec`) and pick a patch content type
// for you; a controller that caches watch events (raw JSON) and sends apply patches wants the wire format instead.
import {
  ApiException,
  HttpMethod,
  IsomorphicFetchHttpLibrary,
  type KubeConfig,
  RequestContext,
} from "@kubernetes/client-node";

export interface RawRequest {
  method: "GET" | "POST" | "PUT" | "PATCH" | "DELETE";
  path: string;
  query?: Record<string, string | number | boolean | undefined>;
  body?: unknown;
  contentType?: string;
  signal?: AbortSignal;
}

const http = new IsomorphicFetchHttpLibrary();

/** Sends one request and returns the parsed JSON body; a non-2xx status throws client-node's ApiException. */
export async function request<T = unknown>(kc: KubeConfig, req: RawRequest): Promise<T> {
  const cluster = kc.getCurrentCluster();
  if (!cluster) throw new Error("kubeconfig has no current cluster");
  const url = new URL(cluster.server.replace(/\/$/, "") + req.path);
  for (const [k, v] of Object.entries(req.query ?? {})) if (v !== undefined) url.searchParams.set(k, String(v));
  const ctx = new RequestContext(url.toString(), HttpMethod[req.method]);
  ctx.setHeaderParam("Accept", "application/json");
  if (req.body !== undefined) {
    ctx.setHeaderParam("Content-Type", req.contentType ?? "application/json");
    ctx.setBody(JSON.stringify(req.body));
  }
  if (req.signal) ctx.setSignal(req.signal);
  await kc.applySecurityAuthentication(ctx);
  const res = await http.send(ctx).toPromise();
  const text = await res.body.text();
  const parsed = text === "" ? undefined : parseJson(text);
  if (res.httpStatusCode < 200 || res.httpStatusCode >= 300) {
    throw new ApiException(res.httpStatusCode, `${req.method} ${req.path}`, parsed, res.headers);
  }
  return parsed as T;
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
  if (err instanceof ApiException) return err.code;
  const e = err as { statusCode?: unknown; code?: unknown } | undefined;
  if (typeof e?.statusCode === "number") return e.statusCode;
  return typeof e?.code === "number" ? e.code : undefined;
}
