// The gateway's HTTP surface: /healthz and /metrics are open (loopback only, nothing secret in them); everything
// under /v1 needs the job's token.
import { createServer, type Server, type ServerResponse } from "node:http";
import { presentsToken } from "../contract/job-token.ts";
import { type ChatDeps, handleChat } from "./chat.ts";
import { HttpError, sendError, sendJson } from "./http.ts";
import type { GatewayMetrics } from "./metrics.ts";

export function createGatewayServer(deps: ChatDeps): Server {
  const { config } = deps;
  const modelIds = [...new Set([config.model, config.upstreamModel])];
  const models = {
    object: "list",
    data: modelIds.map((id) => ({ id, object: "model", created: 0, owned_by: "collab-operator" })),
  };
  const server = createServer((req, res) => {
    const path = (req.url ?? "/").split("?", 1)[0];
    const route = `${req.method} ${path}`;
    if (route === "GET /healthz") {
      sendHealthy(res);
      return;
    }
    if (route === "GET /metrics") {
      serveMetrics(deps.metrics, res);
      return;
    }
    if (!path?.startsWith("/v1/")) {
      sendError(res, new HttpError(404, "invalid_request_error", "not_found", `no route ${route}`));
      return;
    }
    if (!presentsToken(req.headers.authorization, config.token)) {
      sendError(
        res,
        new HttpError(
          401,
          "invalid_request_error",
          "invalid_api_key",
          "missing or wrong bearer token for this gateway",
        ),
      );
      return;
    }
    if (route === "GET /v1/models") {
      sendJson(res, 200, models);
      return;
    }
    if (route === "POST /v1/chat/completions") {
      handleChat(deps, req, res).catch((error) => {
        deps.log.error({ error: deps.redact(String(error)) }, "unexpected failure in a chat request");
        if (!res.headersSent) sendError(res, new HttpError(500, "server_error", "internal", "internal gateway error"));
        else res.destroy();
      });
      return;
    }
    sendError(res, new HttpError(404, "invalid_request_error", "not_found", `no route ${route}`));
  });
  // Upstream calls can legitimately take minutes; the client's own timeout governs the connection.
  server.requestTimeout = 0;
  server.keepAliveTimeout = 65_000;
  return server;
}

function sendHealthy(res: ServerResponse): void {
  res.writeHead(200, { "content-type": "text/plain" }).end("ok\n");
}

function serveMetrics(metrics: GatewayMetrics, res: ServerResponse): void {
  metrics.registry.metrics().then((text) => {
    res.writeHead(200, { "content-type": metrics.registry.contentType }).end(text);
  });
}

/**
 * The listener on the pod IP (`--metrics-listen`): GET /metrics for Prometheus and GET /healthz for the kubelet's
 * probes (it is opened once the chat API listens), and nothing else, so no request of the chat API is reachable from
 * outside the pod.
 */
export function createMetricsServer(metrics: GatewayMetrics): Server {
  return createServer((req, res) => {
    const route = `${req.method} ${(req.url ?? "/").split("?", 1)[0]}`;
    if (route === "GET /metrics") serveMetrics(metrics, res);
    else if (route === "GET /healthz") sendHealthy(res);
    else
      sendError(
        res,
        new HttpError(404, "invalid_request_error", "not_found", "only GET /metrics and /healthz are served here"),
      );
  });
}
