// A standby's report endpoint passes requests on to the leader (any route, once), and says 503 or 502 when it cannot,
// so the gateway retries. The leader here is a plain HTTP server recording what reaches it; the serving path itself
// runs against the real apiserver in test/integration (progress, report-failover).
import { createServer, type IncomingHttpHeaders, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { KubeConfig } from "@kubernetes/client-node";
import { pino } from "pino";
import { Registry } from "prom-client";
import { afterEach, describe, expect, it } from "vitest";
import type { Caches } from "../../../../src/operator/observe.ts";
import { createReportServer, type ReportRouting } from "../../../../src/operator/report/server.ts";

const servers: Server[] = [];
afterEach(async () => {
  for (const s of servers.splice(0)) await new Promise((r) => s.close(r));
});

async function listen(server: Server): Promise<string> {
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

async function leader() {
  const seen: { method?: string; url?: string; headers: IncomingHttpHeaders; body: string }[] = [];
  const url = await listen(
    createServer(async (req, res) => {
      let body = "";
      for await (const chunk of req) body += chunk;
      seen.push({ method: req.method, url: req.url, headers: req.headers, body });
      res.writeHead(200, { "content-type": "application/json" }).end('{"budgetExceeded":false}');
    }),
  );
  return { url, seen };
}

async function standby(routing: () => ReportRouting, registry = new Registry()) {
  const noCaches = () => {
    throw new Error("a standby reads no cache");
  };
  const server = createReportServer({
    kc: new KubeConfig(),
    caches: noCaches as unknown as () => Caches,
    logger: pino({ level: "silent" }),
    routing,
    registry,
  });
  return { url: await listen(server), registry };
}

const post = (url: string, headers: Record<string, string> = {}) =>
  fetch(`${url}/v1/namespaces/ml/collabtrainingjobs/job/report`, {
    method: "POST",
    headers: { authorization: "Bearer t0k3n", "content-type": "application/json", ...headers },
    body: '{"pod":"p"}',
  });

describe("report endpoint on a standby", () => {
  it("passes the request to the leader unchanged, marked as forwarded, and its answer back", async () => {
    const l = await leader();
    const s = await standby(() => ({ leading: false, leaderUrl: l.url }));
    const res = await post(s.url);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ budgetExceeded: false });
    expect(l.seen).toEqual([
      expect.objectContaining({
        method: "POST",
        url: "/v1/namespaces/ml/collabtrainingjobs/job/report",
        body: '{"pod":"p"}',
        headers: expect.objectContaining({ authorization: "Bearer t0k3n", "x-collab-forwarded": "1" }),
      }),
    ]);
    expect(await s.registry.getSingleMetricAsString("collab_report_requests_total")).toContain(
      'code="200",forwarded="true"',
    );
  });

  it("forwards any route, so later endpoints on this port reach the leader too", async () => {
    const l = await leader();
    const s = await standby(() => ({ leading: false, leaderUrl: l.url }));
    await fetch(`${s.url}/v1/namespaces/ml/collabtrainingjobs/job/allowance`, { method: "POST", body: "{}" });
    expect(l.seen.map((r) => r.url)).toEqual(["/v1/namespaces/ml/collabtrainingjobs/job/allowance"]);
  });

  it("never forwards twice, and says 503 while no leader is known", async () => {
    const l = await leader();
    const s = await standby(() => ({ leading: false, leaderUrl: l.url }));
    expect((await post(s.url, { "x-collab-forwarded": "1" })).status).toBe(503);
    const lost = await standby(() => ({ leading: false }));
    expect((await post(lost.url)).status).toBe(503);
    expect(l.seen).toEqual([]);
  });

  it("says 502 when the leader cannot be reached (it just died): the gateway retries", async () => {
    const gone = await listen(createServer());
    await new Promise((r) => servers.pop()?.close(r));
    const s = await standby(() => ({ leading: false, leaderUrl: gone }));
    expect((await post(s.url)).status).toBe(502);
  });
});
