// Interop with the client veRL really uses: Python litellm (pinned in test/interop/requirements.txt), configured the
// way the CollabLLM recipe configures it, calling the gateway in front of the fake upstream.
import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { promisify } from "node:util";
import { afterEach, describe, expect, it } from "vitest";
import { JOB_TOKEN, type Pair, startPair, UPSTREAM_KEY } from "./harness.ts";

const root = new URL("../../../", import.meta.url).pathname;
const python = `${root}.venv/bin/python`;
const client = `${root}test/interop/gateway_litellm_client.py`;

let pair: Pair;
afterEach(async () => pair?.close());

async function litellm(calls: { kwargs: Record<string, unknown> }[]): Promise<Record<string, unknown>[]> {
  if (!existsSync(python)) {
    throw new Error(`${python} is missing: run 'bash test/interop/setup-venv.sh' to install litellm for this test`);
  }
  const { stdout } = await promisify(execFile)(python, [client, JSON.stringify(calls)], {
    // The recommended pod setup: the job token in OPENAI_API_KEY, so it is in no config veRL prints.
    env: { PATH: process.env.PATH, HOME: process.env.HOME, LITELLM_LOG: "ERROR", OPENAI_API_KEY: JOB_TOKEN },
    timeout: 120_000,
  });
  return JSON.parse(stdout.trim().split("\n").at(-1)!);
}

describe("litellm through the gateway", () => {
  it("works as veRL's user simulator and judge call it, errors included", { timeout: 180_000 }, async () => {
    pair = await startPair(["--budget-tokens", "54", "--max-tokens", "256"]);
    pair.upstream.script(
      { kind: "status", status: 400 },
      { kind: "ok" },
      { kind: "ok" },
      { kind: "status", status: 429, retryAfter: "0" },
    );
    const base = {
      model: "openai/judge",
      messages: [{ role: "user", content: "Rate the interactivity of this conversation." }],
      api_base: `${pair.gateway.url}/v1`,
      api_key: JOB_TOKEN,
      temperature: 0,
    };
    const results = await litellm([
      { kwargs: base }, // the upstream's 400 passes through
      { kwargs: { ...base, api_key: undefined } }, // litellm falls back to OPENAI_API_KEY
      { kwargs: { ...base, stream: true } },
      { kwargs: base }, // the upstream's 429 is retried by the gateway, unseen by litellm
      { kwargs: { ...base, api_key: "not-the-job-token" } },
      { kwargs: base }, // 3 × 18 tokens spent: the budget is used up
    ]);
    expect(results[0]).toEqual({ error: "BadRequestError", status: 400 });
    expect(results[1]).toMatchObject({
      content: "Sure, here is what I think about that.",
      usage: { prompt_tokens: 11 },
    });
    expect(results[2]).toEqual({ content: "Sure, here is what I think about that." });
    expect(results[3]).toMatchObject({ content: "Sure, here is what I think about that." });
    // OpenAI's own answer to a wrong key (401, type invalid_request_error, code invalid_api_key), which litellm 1.75
    // maps by its type to BadRequestError (400), as it does OpenAI's: refused, not retried.
    expect(results[4]).toEqual({ error: "BadRequestError", status: 400 });
    // veRL's recipe catches litellm.RateLimitError (and backs off); a spent budget must look like one.
    expect(results[5]).toEqual({ error: "RateLimitError", status: 429 });
    const sent = pair.upstream.requests[1]!;
    expect(sent.headers.authorization).toBe(`Bearer ${UPSTREAM_KEY}`);
    expect(sent.body).toMatchObject({ model: "gpt-4o-mini", max_tokens: 256, temperature: 0 });
    expect(pair.gateway.buildReport().usage.judge).toMatchObject({ rateLimited: 1, retries: 1 });
  });

  it("does not multiply the gateway's retries: litellm sends a failing call once, with num_retries or without", {
    timeout: 180_000,
  }, async () => {
    pair = await startPair(["--retries", "2"]);
    pair.upstream.script(...Array(20).fill({ kind: "status", status: 503 }));
    const base = {
      model: "openai/judge",
      messages: [{ role: "user", content: "Rate it." }],
      api_base: `${pair.gateway.url}/v1`,
      api_key: JOB_TOKEN,
    };
    // The judge's kwargs carry num_retries (the recipe passes them on to litellm); the user simulator's do not.
    const results = await litellm([{ kwargs: { ...base, num_retries: 6 } }, { kwargs: base }]);
    expect(results).toEqual([
      { error: "ServiceUnavailableError", status: 503 },
      { error: "ServiceUnavailableError", status: 503 },
    ]);
    // Each litellm call reached the gateway once, and the gateway tried 1 + 2 times.
    expect(pair.gateway.buildReport().usage.judge).toMatchObject({ requests: 2, retries: 4, errors: 2 });
    expect(pair.upstream.requests).toHaveLength(6);
  });
});
