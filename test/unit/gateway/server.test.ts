// The gateway as the official openai SDK sees it: auth, model mapping, defaults, plain and streamed answers.
import OpenAI from "openai";
import { afterEach, describe, expect, it } from "vitest";
import { type Pair, startPair, UPSTREAM_KEY } from "./harness.ts";

let pair: Pair;
afterEach(async () => pair?.close());

const ask = { model: "judge", messages: [{ role: "user" as const, content: "Rate this conversation." }] };

describe("gateway server", () => {
  it("forwards a chat completion with the real key, the upstream model and default parameters", async () => {
    pair = await startPair(["--temperature", "0.3", "--max-tokens", "512"]);
    const answer = await pair.client.chat.completions.create(ask);
    expect(answer.choices[0]?.message.content).toContain("Sure");
    expect(answer.usage?.prompt_tokens).toBe(11);
    const sent = pair.upstream.requests[0]!;
    expect(sent.headers.authorization).toBe(`Bearer ${UPSTREAM_KEY}`);
    expect(sent.body).toMatchObject({ model: "gpt-4o-mini", temperature: 0.3, max_tokens: 512 });
  });

  it("keeps the parameters a request sets itself", async () => {
    pair = await startPair(["--temperature", "0.3", "--max-tokens", "512"]);
    await pair.client.chat.completions.create({ ...ask, temperature: 1, max_completion_tokens: 64 });
    const sent = pair.upstream.requests[0]!.body;
    expect(sent).toMatchObject({ temperature: 1, max_completion_tokens: 64 });
    expect(sent.max_tokens).toBeUndefined();
  });

  it("refuses requests without the job token, and never sends them upstream", async () => {
    pair = await startPair();
    const stranger = new OpenAI({ baseURL: `${pair.gateway.url}/v1`, apiKey: "wrong-token", maxRetries: 0 });
    await expect(stranger.chat.completions.create(ask)).rejects.toMatchObject({ status: 401 });
    await expect(stranger.models.list()).rejects.toMatchObject({ status: 401 });
    expect(pair.upstream.requests).toHaveLength(0);
  });

  it("lists the served model and refuses others", async () => {
    pair = await startPair(["--model", "simulator-alias"]);
    const models = await pair.client.models.list();
    expect(models.data.map((m) => m.id)).toEqual(["simulator-alias", "gpt-4o-mini"]);
    await expect(pair.client.chat.completions.create({ ...ask, model: "gpt-5" })).rejects.toMatchObject({
      status: 404,
      code: "model_not_found",
    });
  });

  it("streams an answer and meters it from the upstream's usage chunk", async () => {
    pair = await startPair();
    const stream = await pair.client.chat.completions.create({ ...ask, stream: true });
    let text = "";
    for await (const chunk of stream) {
      expect(chunk.usage ?? undefined).toBeUndefined(); // the client did not ask for usage
      text += chunk.choices[0]?.delta.content ?? "";
    }
    expect(text).toBe("Sure, here is what I think about that.");
    expect(pair.gateway.buildReport().usage.judge).toMatchObject({
      requests: 1,
      promptTokens: 11,
      completionTokens: 7,
    });
  });

  it("passes the usage chunk on when the client asks for it", async () => {
    pair = await startPair();
    const stream = await pair.client.chat.completions.create({
      ...ask,
      stream: true,
      stream_options: { include_usage: true },
    });
    let usage: OpenAI.CompletionUsage | undefined | null;
    for await (const chunk of stream) usage = chunk.usage ?? usage;
    expect(usage?.completion_tokens).toBe(7);
  });

  it("serves /healthz and /metrics without a token", async () => {
    pair = await startPair();
    await pair.client.chat.completions.create(ask);
    expect((await fetch(`${pair.gateway.url}/healthz`)).status).toBe(200);
    const metrics = await (await fetch(`${pair.gateway.url}/metrics`)).text();
    expect(metrics).toContain('collab_gateway_requests_total{role="judge"} 1');
    expect(metrics).toContain('collab_gateway_tokens_total{role="judge",kind="completion"} 7');
    expect(metrics).toContain("collab_gateway_request_duration_seconds_bucket");
  });

  it("sends no Authorization header upstream when there is no key", async () => {
    pair = await startPair([], { COLLAB_GATEWAY_UPSTREAM_API_KEY: "" });
    await pair.client.chat.completions.create(ask);
    expect(pair.upstream.requests[0]!.headers.authorization).toBeUndefined();
  });
});
