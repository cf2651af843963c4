// The gateway's OpenTelemetry GenAI metrics, as Prometheus scrapes them from /metrics: token usage per answer and the
// duration of each upstream call, failed ones with their error type.
import { afterEach, describe, expect, it } from "vitest";
import { providerName } from "../../../src/gateway/metrics.ts";
import { type Pair, startPair } from "./harness.ts";

let pair: Pair | undefined;
afterEach(async () => {
  await pair?.close();
  pair = undefined;
});

const ask = { model: "judge", messages: [{ role: "user" as const, content: "Rate this conversation." }] };

/** Samples of a scrape by series (name and labels as written), e.g. `gen_ai_client_token_usage_sum{...}`. */
async function scrape(url: string): Promise<Map<string, number>> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const samples = new Map<string, number>();
  for (const line of text.split("\n")) {
    if (line === "" || line.startsWith("#")) continue;
    const at = line.lastIndexOf(" ");
    samples.set(line.slice(0, at), Number(line.slice(at + 1)));
  }
  return samples;
}

/** The one sample of `name` whose labels include all of `labels` (and, when `without` names one, not that label). */
function sample(samples: Map<string, number>, name: string, labels: Record<string, string>, without?: string) {
  const found = [...samples].filter(([series]) => {
    if (!series.startsWith(`${name}{`)) return false;
    if (without && series.includes(`${without}=`)) return false;
    return Object.entries(labels).every(([key, value]) => series.includes(`${key}="${value}"`));
  });
  expect(found.map(([series]) => series)).toHaveLength(1);
  return found[0]![1];
}

describe("gateway GenAI metrics", () => {
  it("counts each answer's input and output tokens in gen_ai_client_token_usage, with the spec's attributes", async () => {
    pair = await startPair();
    await pair.client.chat.completions.create(ask);
    await pair.client.chat.completions.create({ ...ask, stream: true }).then(async (s) => {
      for await (const _ of s);
    });
    const samples = await scrape(pair.gateway.url);
    const port = new URL(pair.upstream.url).port;
    const attributes = {
      gen_ai_operation_name: "chat",
      gen_ai_provider_name: "openai_compatible",
      gen_ai_request_model: "gpt-4o-mini",
      server_address: "127.0.0.1",
      server_port: port,
      role: "judge",
    };
    const input = { ...attributes, gen_ai_token_type: "input" };
    const output = { ...attributes, gen_ai_token_type: "output" };
    expect(sample(samples, "gen_ai_client_token_usage_count", input)).toBe(2);
    expect(sample(samples, "gen_ai_client_token_usage_sum", input)).toBe(22);
    expect(sample(samples, "gen_ai_client_token_usage_sum", output)).toBe(14);
    // The spec's boundaries: 11 tokens fall in (4, 16].
    expect(sample(samples, "gen_ai_client_token_usage_bucket", { ...input, le: "4" })).toBe(0);
    expect(sample(samples, "gen_ai_client_token_usage_bucket", { ...input, le: "16" })).toBe(2);
    expect(sample(samples, "gen_ai_client_token_usage_bucket", { ...input, le: "67108864" })).toBe(2);
    expect(sample(samples, "gen_ai_client_operation_duration_seconds_count", attributes, "error_type")).toBe(2);
    expect(sample(samples, "gen_ai_client_operation_duration_seconds_bucket", { ...attributes, le: "81.92" })).toBe(2);
  });

  it("times every upstream attempt, a failed one with its error type, and counts no tokens for it", async () => {
    pair = await startPair(["--retries", "3", "--timeout-seconds", "0.2"]);
    pair.upstream.script(
      { kind: "status", status: 429, retryAfter: "0" },
      { kind: "status", status: 503 },
      { kind: "hang" },
    );
    await pair.client.chat.completions.create(ask);
    const samples = await scrape(pair.gateway.url);
    const count = "gen_ai_client_operation_duration_seconds_count";
    expect(sample(samples, count, { error_type: "429" })).toBe(1);
    expect(sample(samples, count, { error_type: "503" })).toBe(1);
    expect(sample(samples, count, { error_type: "timeout" })).toBe(1);
    expect(sample(samples, count, { role: "judge" }, "error_type")).toBe(1);
    expect(sample(samples, "gen_ai_client_token_usage_count", { gen_ai_token_type: "input" })).toBe(1);
  });

  it("names the provider from the upstream's host, and a custom value for any other OpenAI-compatible server", () => {
    expect(providerName("https://api.openai.com/v1")).toBe("openai");
    expect(providerName("https://my-res.openai.azure.com/openai/v1")).toBe("azure.ai.openai");
    expect(providerName("https://api.anthropic.com/v1/")).toBe("anthropic");
    expect(providerName("https://generativelanguage.googleapis.com/v1beta/openai")).toBe("gcp.gemini");
    expect(providerName("https://bedrock-runtime.us-west-2.amazonaws.com/openai/v1")).toBe("aws.bedrock");
    expect(providerName("http://vllm.models.svc:8000/v1")).toBe("openai_compatible");
    expect(providerName("https://api.openai.com.evil.example/v1")).toBe("openai_compatible");
  });
});

describe("gateway metrics listener (--metrics-listen)", () => {
  it("serves /metrics and /healthz (the kubelet's probes) and nothing else, so the chat API stays on loopback", async () => {
    pair = await startPair(["--metrics-listen", "127.0.0.1:0"]);
    await pair.client.chat.completions.create(ask);
    const url = pair.gateway.metricsUrl!;
    const samples = await scrape(url);
    expect(sample(samples, "gen_ai_client_token_usage_count", { gen_ai_token_type: "output" })).toBe(1);
    expect(sample(samples, "collab_gateway_requests_total", { role: "judge" })).toBe(1);
    expect(await (await fetch(`${url}/healthz`)).text()).toBe("ok\n");
    for (const path of ["/v1/models", "/v1/chat/completions"]) {
      expect((await fetch(`${url}${path}`, { headers: { authorization: "Bearer x" } })).status).toBe(404);
    }
    expect((await fetch(`${url}/v1/chat/completions`, { method: "POST", body: "{}" })).status).toBe(404);
    expect(pair.upstream.requests).toHaveLength(1);
  });
});
