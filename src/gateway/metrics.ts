// Prometheus view of a gateway. Its counters are read at scrape time from the process's usage counters, so there is
// one source of truth for /metrics and the operator report, and the request path pays only for the latency histogram.
import { Counter, Gauge, Histogram, Registry } from "prom-client";
import type { UsageCounters } from "../contract/usage.ts";

export interface MetricsSource {
  role: string;
  /** The upstream's base URL and the model sent to it, for the GenAI attributes. */
  upstreamBaseUrl: string;
  upstreamModel: string;
  usage: UsageCounters;
  waiting: () => number;
  inFlight: () => number;
  budgetExceeded: () => boolean;
}

export interface GatewayMetrics {
  registry: Registry;
  /** This role's latency histogram (a labelled child, so the request path does not hash labels). */
  latency: { observe: (seconds: number) => void };
  /** One upstream call (an attempt) as OpenTelemetry's GenAI conventions time a client operation; errorType on failure. */
  operation: (seconds: number, errorType?: string) => void;
  /** Tokens one answer used, as metered (the upstream's usage, or the estimate when it sent none). */
  tokens: (input: number, output: number) => void;
}

// OpenTelemetry semantic conventions for generative AI, client metrics: the names and bucket boundaries the spec gives
// (https://opentelemetry.io/docs/specs/semconv/gen-ai/gen-ai-metrics/), named as OpenTelemetry's Prometheus exporter
// writes them (dots become underscores; a unit of seconds adds `_seconds`, `{token}` adds nothing).
const TOKEN_BUCKETS = [1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216, 67108864];
const DURATION_BUCKETS = [0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92];

/** Hosts of OpenAI-compatible APIs whose provider has a well-known `gen_ai.provider.name`. */
const PROVIDERS: [host: RegExp, name: string][] = [
  [/^api\.openai\.com$/, "openai"],
  [/\.openai\.azure\.com$/, "azure.ai.openai"],
  [/^api\.anthropic\.com$/, "anthropic"],
  [/^api\.mistral\.ai$/, "mistral_ai"],
  [/^api\.groq\.com$/, "groq"],
  [/^api\.deepseek\.com$/, "deepseek"],
  [/^api\.x\.ai$/, "x_ai"],
  [/^api\.perplexity\.ai$/, "perplexity"],
  [/^generativelanguage\.googleapis\.com$/, "gcp.gemini"],
  [/^bedrock-runtime\.[a-z0-9-]+\.amazonaws\.com$/, "aws.bedrock"],
];

/**
 * `gen_ai.provider.name` for an upstream: the well-known name of its host's provider, else `openai_compatible` (a
 * custom value, as the conventions allow: an in-cluster vLLM or a proxy speaks OpenAI's protocol but is not OpenAI).
 */
export function providerName(baseUrl: string): string {
  const host = new URL(baseUrl).hostname.toLowerCase();
  return PROVIDERS.find(([pattern]) => pattern.test(host))?.[1] ?? "openai_compatible";
}

function serverOf(baseUrl: string): { server_address: string; server_port: string } {
  const url = new URL(baseUrl);
  return { server_address: url.hostname, server_port: url.port || (url.protocol === "https:" ? "443" : "80") };
}

const COUNTERS: [name: string, help: string, read: (u: UsageCounters) => number][] = [
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
  const genAi = {
    gen_ai_operation_name: "chat",
    gen_ai_provider_name: providerName(source.upstreamBaseUrl),
    gen_ai_request_model: source.upstreamModel,
    ...serverOf(source.upstreamBaseUrl),
    ...role,
  };
  const genAiLabels = Object.keys(genAi);
  const tokenUsage = new Histogram({
    name: "gen_ai_client_token_usage",
    help: "Number of input and output tokens used (OpenTelemetry gen_ai.client.token.usage)",
    labelNames: [...genAiLabels, "gen_ai_token_type"],
    buckets: TOKEN_BUCKETS,
    registers: [registry],
  });
  const input = tokenUsage.labels({ ...genAi, gen_ai_token_type: "input" });
  const output = tokenUsage.labels({ ...genAi, gen_ai_token_type: "output" });
  const duration = new Histogram({
    name: "gen_ai_client_operation_duration_seconds",
    help: "Duration of one upstream call (OpenTelemetry gen_ai.client.operation.duration)",
    labelNames: [...genAiLabels, "error_type"],
    buckets: DURATION_BUCKETS,
    registers: [registry],
  });
  const succeeded = duration.labels(genAi);
  return {
    registry,
    latency: latency.labels(role),
    operation: (seconds, errorType) =>
      errorType === undefined
        ? succeeded.observe(seconds)
        : duration.observe({ ...genAi, error_type: errorType }, seconds),
    tokens: (inputTokens, outputTokens) => {
      input.observe(inputTokens);
      output.observe(outputTokens);
    },
  };
}
