// The gateway against a misbehaving upstream, through the official openai SDK: retries, pass-through, deadlines,
// broken streams, the queue, the budget and the cache. After every test the gateway's log is scraped for secrets.
import { afterEach, describe, expect, it } from "vitest";
import { closeAndScrape, JOB_TOKEN, type Pair, startPair, UPSTREAM_KEY } from "./harness.ts";

let pair: Pair;
afterEach(() => closeAndScrape(pair));

const ask = { model: "judge", messages: [{ role: "user" as const, content: "Score it." }] };
const usage = () => pair.gateway.buildReport().usage.judge!;

/** Streams an answer through the SDK: the text that arrived, and the error that ended the stream early, if any. */
async function readStream(params: { max_tokens?: number } = {}): Promise<{ text: string; error?: Error }> {
  let text = "";
  try {
    for await (const chunk of await pair.client.chat.completions.create({ ...ask, ...params, stream: true })) {
      text += chunk.choices[0]?.delta.content ?? "";
    }
    return { text };
  } catch (error) {
    return { text, error: error as Error };
  }
}

describe("gateway under upstream faults", () => {
  it("retries a 429 after its Retry-After and counts it", async () => {
    pair = await startPair();
    pair.upstream.script({ kind: "status", status: 429, retryAfter: "1" });
    const answer = await pair.client.chat.completions.create(ask);
    expect(answer.choices[0]?.message.content).toContain("Sure");
    expect(pair.upstream.requests).toHaveLength(2);
    expect(usage()).toMatchObject({ requests: 1, rateLimited: 1, retries: 1, errors: 0 });
  });

  it("retries 5xx at most --retries times, then answers with the upstream's error", async () => {
    pair = await startPair(["--retries", "2"]);
    pair.upstream.script(...Array(5).fill({ kind: "status", status: 503 }));
    await expect(pair.client.chat.completions.create(ask)).rejects.toMatchObject({ status: 503 });
    expect(pair.upstream.requests).toHaveLength(3);
    expect(usage()).toMatchObject({ retries: 2, errors: 1 });
  });

  it("holds a served upstream's calls while no replica answers (--hold-unavailable): those tries are no retries", async () => {
    pair = await startPair(["--retries", "1", "--hold-unavailable"]);
    pair.upstream.script(...Array(5).fill({ kind: "status", status: 503 }));
    const answer = await pair.client.chat.completions.create(ask);
    expect(answer.choices[0]?.message.content).toContain("Sure");
    expect(pair.upstream.requests).toHaveLength(6);
    expect(usage()).toMatchObject({ requests: 1, errors: 0 });
    // A server that answers with an error of its own is not unavailable: --retries applies.
    pair.upstream.script(...Array(3).fill({ kind: "status", status: 500 }));
    await expect(pair.client.chat.completions.create(ask)).rejects.toMatchObject({ status: 500 });
    expect(pair.upstream.requests).toHaveLength(8);
  });

  it("passes other 4xx through unchanged, without retrying", async () => {
    pair = await startPair();
    const error = { message: "context too long", type: "invalid_request_error", param: "messages", code: "ctx" };
    pair.upstream.script({ kind: "status", status: 400, body: { error, provider: "fake" } });
    const failure = await pair.client.chat.completions.create(ask).catch((e) => e);
    expect(failure).toMatchObject({ status: 400, error });
    expect(pair.upstream.requests).toHaveLength(1);
    // The whole body, fields beyond `error` included, as a raw client sees it.
    pair.upstream.script({ kind: "status", status: 400, body: { error, provider: "fake" } });
    const raw = await fetch(`${pair.gateway.url}/v1/chat/completions`, {
      method: "POST",
      headers: { authorization: `Bearer ${JOB_TOKEN}`, "content-type": "application/json" },
      body: JSON.stringify(ask),
    });
    expect(raw.status).toBe(400);
    expect(await raw.json()).toEqual({ error, provider: "fake" });
  });

  it("retries connection resets and attempt timeouts", async () => {
    pair = await startPair(["--timeout-seconds", "0.3"]);
    pair.upstream.script({ kind: "reset" }, { kind: "slow", delayMs: 2000 });
    const answer = await pair.client.chat.completions.create(ask);
    expect(answer.choices).toHaveLength(1);
    expect(pair.upstream.requests).toHaveLength(3);
    expect(usage().retries).toBe(2);
  });

  it("gives up at the overall deadline with a 504", async () => {
    pair = await startPair(["--timeout-seconds", "0.2", "--deadline-seconds", "0.5", "--retries", "50"]);
    pair.upstream.script(...Array(50).fill({ kind: "hang" }));
    await expect(pair.client.chat.completions.create(ask)).rejects.toMatchObject({ status: 504 });
    expect(usage().retries).toBeLessThan(50);
  });

  it("retries a stream that broke before any byte reached the client", async () => {
    pair = await startPair();
    pair.upstream.script({ kind: "broken-stream", chunks: 0 });
    expect(await readStream()).toEqual({ text: "Sure, here is what I think about that." });
    expect(usage().retries).toBe(1);
  });

  it("ends a stream that broke midway with an error event", async () => {
    pair = await startPair();
    pair.upstream.script({ kind: "broken-stream", chunks: 3 });
    const broken = await readStream();
    expect(broken.error?.message).toMatch(/upstream stream broke/);
    expect(broken.text).toBe("Sure, here is");
    expect(usage()).toMatchObject({ retries: 0, errors: 1 });
  });

  it("retries an error event that came before any byte reached the client, and relays one that came after", async () => {
    pair = await startPair(["--retries", "1"]);
    pair.upstream.script({ kind: "stream-error", chunks: 0 });
    expect(await readStream()).toEqual({ text: "Sure, here is what I think about that." });
    expect(usage()).toMatchObject({ retries: 1, errors: 0 });

    pair.upstream.script({ kind: "stream-error", chunks: 2 });
    const broken = await readStream();
    expect(broken.error?.message).toMatch(/server had an error/);
    expect(broken.text).toBe("Sure, here");
    expect(usage()).toMatchObject({ retries: 1, errors: 1 });
  });

  it("ends a stream that outlives the deadline with an error event, and meters what was streamed", async () => {
    pair = await startPair(["--deadline-seconds", "0.5"]);
    pair.upstream.script({ kind: "stalled-stream", chunks: 3 });
    const broken = await readStream();
    expect(broken.error?.message).toMatch(/deadline/);
    expect(broken.text).toBe("Sure, here is");
    expect(usage()).toMatchObject({ errors: 1, completionTokens: Math.ceil(broken.text.length / 4) });
    expect(pair.logs.join("")).not.toContain("unexpected failure");
  });

  it("takes 103 Early Hints and chunks with error: null in its stride", async () => {
    pair = await startPair();
    pair.upstream.script({ kind: "early-hints" }, { kind: "null-error-stream" });
    const answer = await pair.client.chat.completions.create(ask);
    expect(answer.choices[0]?.message.content).toContain("Sure");
    expect(await readStream()).toEqual({ text: "Sure, here is what I think about that." });
    expect(usage()).toMatchObject({ retries: 0, errors: 0 });
  });

  it("gives the tokens of a streamed attempt that failed before any byte back to the limiter", async () => {
    // Each attempt is estimated at ~1000 tokens; if failed ones kept theirs, the third would wait a minute.
    pair = await startPair(["--tokens-per-minute", "2500", "--deadline-seconds", "5"]);
    pair.upstream.script(
      { kind: "status", status: 429, retryAfter: "0" },
      { kind: "status", status: 429, retryAfter: "0" },
    );
    expect(await readStream({ max_tokens: 1000 })).toEqual({ text: "Sure, here is what I think about that." });
    expect(usage()).toMatchObject({ retries: 2, rateLimited: 2, errors: 0 });
  });

  it("queues behind the concurrency limit and refuses with 429 when the queue is full", async () => {
    pair = await startPair(["--max-concurrency", "1", "--queue-size", "1"]);
    pair.upstream.script({ kind: "slow", delayMs: 300 });
    const first = pair.client.chat.completions.create(ask);
    const second = pair.client.chat.completions.create(ask);
    await new Promise((resolve) => setTimeout(resolve, 100)); // let both reach the gateway
    const third = await pair.client.chat.completions.create(ask).catch((e) => e);
    expect(third).toMatchObject({ status: 429, code: "gateway_queue_full" });
    await expect(Promise.all([first, second])).resolves.toHaveLength(2);
  });

  it("refuses requests once this pod's share of the budget is spent", async () => {
    pair = await startPair(["--budget-tokens", "36", "--pods", "2"]);
    await pair.client.chat.completions.create(ask); // 11 + 7 tokens: the whole share of 18
    const refused = await pair.client.chat.completions.create(ask).catch((e) => e);
    expect(refused).toMatchObject({ status: 429, code: "budget_exceeded" });
    expect(pair.upstream.requests).toHaveLength(1);
  });

  it("answers repeated temperature-0 requests from the cache", async () => {
    pair = await startPair(["--cache-entries", "4", "--temperature", "0"]);
    const a = await pair.client.chat.completions.create(ask);
    const b = await pair.client.chat.completions.create(ask);
    await pair.client.chat.completions.create({ ...ask, temperature: 0.7 });
    expect(b).toEqual(a);
    expect(pair.upstream.requests).toHaveLength(2);
    expect(usage()).toMatchObject({ requests: 3, cacheHits: 1 });
  });

  it("never echoes the upstream key, even when the upstream does", async () => {
    pair = await startPair(["--retries", "0"]);
    const leak = `invalid key ${UPSTREAM_KEY}`;
    pair.upstream.script(
      { kind: "status", status: 401, body: { error: { message: leak } } },
      { kind: "status", status: 500, body: { error: { message: leak } } },
    );
    const first = await pair.client.chat.completions.create(ask).catch((e) => e);
    const second = await pair.client.chat.completions.create(ask).catch((e) => e);
    expect(JSON.stringify([first.error, first.message, second.error, second.message])).not.toContain(UPSTREAM_KEY);
    const metrics = await (await fetch(`${pair.gateway.url}/metrics`)).text();
    expect(metrics).not.toContain(UPSTREAM_KEY);
  });
});
