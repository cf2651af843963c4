// Prometheus view of a gateway. Counters are read from the Usage record at scrape time, so there is one source of
// truth for /metrics and the operator report, and the request path pays only for the latency histogram.
import { Counter, Gauge, Histogram, Registry } from "prom-client";
import type { Usage } from "./usage.ts";

export interface MetricsSource {
  role: string;
  usage: Usage;
  waiting: () => number;
  inFlight: () => number;
  budgetExceeded: () => boolean;
}

export interface GatewayMetrics {
  registry: Registry;
  /** This role's latency histogram (a labelled child, so the request path does not hash labels). */
  latency: { observe: (seconds: number) => void };
}

const COUNTERS: [name: string, help: string, read: (u: Usage) => number][] = [
  ["requests_total", "Chat completion requests received", (u) => u.requests],
  ["upstream_rate_limited_total", "429 answers from the upstream", (u) => u.rateLimited],
  ["retries_total", "Upstream retries", (u) => u.retries],
  ["errors_total", "Requests answered with an error", (u) => u.errors],
  ["cache_hits_total", "Requests answered from the cache", (u) => u.cacheHits],
];

export function createMetrics(source: MetricsSource): GatewayMetrics {
  const registry = new Registry();
  const role = { role: source.role };
  for (const [name, help, read] of COUNTERS) {
    new Counter({
      name: `collab_gateway_${name}`,
      help,
      labelNames: ["role"],
      registers: [registry],
      collect() {
        this.reset();
        this.inc(role, read(source.usage));
      },
    });
  }
  new Counter({
    name: "collab_gateway_tokens_total",
    help: "Tokens reported by the upstream",
    labelNames: ["role", "kind"],
    registers: [registry],
    collect() {
      this.reset();
      this.inc({ ...role, kind: "prompt" }, source.usage.promptTokens);
      this.inc({ ...role, kind: "completion" }, source.usage.completionTokens);
    },
  });
  const gauges: [name: string, help: string, read: () => number][] = [
    ["queue_waiting", "Requests waiting for the rate limiter", source.waiting],
    ["in_flight", "Requests admitted and not finished", source.inFlight],
    ["budget_exceeded", "1 when the token budget is used up", () => (source.budgetExceeded() ? 1 : 0)],
  ];
  for (const [name, help, read] of gauges) {
    new Gauge({
      name: `collab_gateway_${name}`,
      help,
      labelNames: ["role"],
      registers: [registry],
      collect() {
        this.set(role, read());
      },
    });
  }
  const latency = new Histogram({
    name: "collab_gateway_request_duration_seconds",
    help: "Time from request to the end of the answer, queueing and retries included",
    labelNames: ["role"],
    buckets: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300],
    registers: [registry],
  });
  return { registry, latency: latency.labels(role) };
}
