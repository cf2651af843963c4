// `collab-operator preflight` as the preflight pod runs it: a real process, configured by the sidecar's env vars,
// against a fake OpenAI-compatible upstream answering each way an endpoint can fail. The verdict must land in the
// termination log with the exit code the pod's restart policy acts on, name the cause in the provider's words, and
// never carry the key.
import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { preflightCommand } from "../../../src/cli/preflight.ts";
import { type PreflightVerdict, PreflightVerdictSchema } from "../../../src/contract/preflight-verdict.ts";
import { check } from "../../../src/gateway/preflight.ts";
import { freePort } from "../../cluster/stand-in.ts";
import { type FakeUpstream, type Fault, startFakeUpstream } from "./fake-upstream.ts";

const root = new URL("../../../", import.meta.url).pathname;
const KEY = "sk-preflight-test-key-0123456789";
const QUOTA = {
  error: {
    message:
      "You exceeded your current quota, please check your plan and billing details. For more information on this error, read the docs: https://platform.openai.com/docs/guides/error-codes/api-errors.",
    type: "insufficient_quota",
    param: null,
    code: "insufficient_quota",
  },
};
const RATE = {
  error: {
    message:
      "Rate limit reached for gpt-4o-mini in organization org-x on requests per min (RPM): Limit 3, Used 3, Requested 1. Please try again in 20s.",
    type: "requests",
    param: null,
    code: "rate_limit_exceeded",
  },
};

let upstream: FakeUpstream | undefined;
afterEach(async () => {
  await upstream?.close();
  upstream = undefined;
});

interface Run {
  code: number | null;
  verdict: PreflightVerdict;
  output: string;
}

/** Runs the command as the pod would, with the sidecar's env vars; returns its exit code and termination message. */
async function runPreflight(env: Record<string, string>): Promise<Run> {
  const terminationLog = join(mkdtempSync(join(tmpdir(), "preflight-")), "termination-log");
  const child = spawn(process.execPath, ["src/cli.ts", "preflight"], {
    cwd: root,
    env: {
      PATH: process.env.PATH,
      COLLAB_GATEWAY_ROLE: "judge",
      COLLAB_GATEWAY_UPSTREAM_MODEL: "gpt-4o-mini",
      COLLAB_GATEWAY_UPSTREAM_API_KEY: KEY,
      COLLAB_GATEWAY_TERMINATION_LOG: terminationLog,
      // Settings of the sidecar the preflight does not use are ignored, not refused.
      COLLAB_GATEWAY_LISTEN: "127.0.0.1:4002",
      COLLAB_GATEWAY_MAX_CONCURRENCY: "64",
      ...env,
    },
  });
  let output = "";
  child.stdout.on("data", (d) => (output += d));
  child.stderr.on("data", (d) => (output += d));
  const code = await new Promise<number | null>((resolve) => child.once("exit", resolve));
  const verdict = PreflightVerdictSchema.parse(JSON.parse(readFileSync(terminationLog, "utf8")));
  return { code, verdict, output };
}

async function against(faults: Fault[], env: Record<string, string> = {}): Promise<Run> {
  upstream = await startFakeUpstream({ apiKey: KEY, models: ["gpt-4o-mini", "gpt-4o"] });
  upstream.script(...faults);
  return runPreflight({ COLLAB_GATEWAY_UPSTREAM_BASE_URL: upstream.url, ...env });
}

describe("collab-operator preflight", { timeout: 20_000 }, () => {
  it("passes when the endpoint answers a one-token completion, and sends max_tokens 1 with the key", async () => {
    const run = await against([]);
    expect(run.code).toBe(0);
    expect(run.verdict).toMatchObject({ endpoint: "judge", ready: true, reason: "Answered", status: 200 });
    const sent = upstream!.requests[0]!;
    expect(sent.body).toMatchObject({ model: "gpt-4o-mini", max_tokens: 1 });
    expect(sent.headers.authorization).toBe(`Bearer ${KEY}`);
    expect(run.output).not.toContain(KEY);
  });

  it("fails on 401 saying the key was refused, in the provider's words, without the key", async () => {
    const run = await against([], { COLLAB_GATEWAY_UPSTREAM_API_KEY: "sk-wrong-key-9876543210" });
    expect(run.code).toBe(1);
    expect(run.verdict).toMatchObject({ ready: false, reason: "KeyRefused", status: 401 });
    expect(run.verdict.message).toContain("the key was refused: HTTP 401: Incorrect API key provided");
    expect(run.output).not.toContain("sk-wrong-key-9876543210");
  });

  it("redacts the key when a provider echoes it whole", async () => {
    const echo = { error: { message: `invalid key ${KEY}` } };
    const run = await against([{ kind: "status", status: 401, body: echo }]);
    expect(run.verdict.message).toContain("invalid key [REDACTED]");
    expect(run.output).not.toContain(KEY);
  });

  it("fails on 404 naming the model and the models the endpoint serves", async () => {
    const run = await against([], { COLLAB_GATEWAY_UPSTREAM_MODEL: "gpt-4o-mimi" });
    expect(run.code).toBe(1);
    expect(run.verdict).toMatchObject({ reason: "ModelNotFound", status: 404 });
    expect(run.verdict.message).toBe(
      "model gpt-4o-mimi not found: HTTP 404: The model `gpt-4o-mimi` does not exist or you do not have access to it.; the endpoint serves gpt-4o-mini, gpt-4o",
    );
  });

  it("fails on a timeout, naming timeoutSeconds", async () => {
    const run = await against([{ kind: "hang" }], { COLLAB_GATEWAY_TIMEOUT_SECONDS: "1" });
    expect(run.code).toBe(1);
    expect(run.verdict).toMatchObject({ reason: "Timeout" });
    expect(run.verdict.message).toContain("no answer within 1 s (timeoutSeconds)");
  });

  it("fails when the connection is refused", async () => {
    const port = await freePort();
    const run = await runPreflight({ COLLAB_GATEWAY_UPSTREAM_BASE_URL: `http://127.0.0.1:${port}/v1` });
    expect(run.code).toBe(1);
    expect(run.verdict).toMatchObject({ reason: "ConnectionRefused" });
    expect(run.verdict.message).toContain(`ECONNREFUSED 127.0.0.1:${port}`);
  });

  it("fails when the host name does not resolve", async () => {
    const run = await runPreflight({ COLLAB_GATEWAY_UPSTREAM_BASE_URL: "http://no-such-host.invalid/v1" });
    expect(run.verdict).toMatchObject({ ready: false, reason: "HostNotFound" });
  });

  it("passes on a 429 rate limit: the key and model were not refused", async () => {
    const run = await against([{ kind: "status", status: 429, retryAfter: "20", body: RATE }]);
    expect(run.code).toBe(0);
    expect(run.verdict).toMatchObject({ ready: true, reason: "RateLimited", status: 429 });
    expect(run.verdict.message).toContain("Rate limit reached for gpt-4o-mini");
  });

  it("fails on a 429 that says the quota is spent", async () => {
    const run = await against([{ kind: "status", status: 429, body: QUOTA }]);
    expect(run.code).toBe(1);
    expect(run.verdict).toMatchObject({ ready: false, reason: "QuotaExceeded", status: 429 });
    expect(run.verdict.message).toContain("You exceeded your current quota");
  });

  it("tries a 5xx again and passes when the endpoint recovers", async () => {
    const run = await against([{ kind: "status", status: 503 }]);
    expect(run.code).toBe(0);
    expect(run.verdict.message).toBe("answered a completion of max_tokens 1 after 2 attempts");
  });

  it("asks reasoning models with max_completion_tokens when they refuse max_tokens", async () => {
    const refusal = {
      error: {
        message:
          "Unsupported parameter: 'max_tokens' is not supported with this model. Use 'max_completion_tokens' instead.",
        type: "invalid_request_error",
        param: "max_tokens",
        code: "unsupported_parameter",
      },
    };
    const run = await against([{ kind: "status", status: 400, body: refusal }]);
    expect(run.verdict).toMatchObject({ ready: true, reason: "Answered" });
    expect(upstream!.requests[1]!.body).toMatchObject({ max_completion_tokens: 1 });
  });

  it("exits 2 on bad settings, before any request", async () => {
    const child = spawn(process.execPath, ["src/cli.ts", "preflight", "--role", "critic"], {
      cwd: root,
      env: { PATH: process.env.PATH },
    });
    let err = "";
    child.stderr.on("data", (d) => (err += d));
    expect(await new Promise((resolve) => child.once("exit", resolve))).toBe(2);
    expect(err).toContain("--role must be one of user-simulator, judge");
  });
});

describe("preflight check", () => {
  it("fails on a 5xx that lasts, naming the attempts and the provider's message", async () => {
    upstream = await startFakeUpstream();
    const down = { kind: "status", status: 502, body: { error: { message: "upstream connect error" } } } as const;
    upstream.script(down, down, down);
    const config = preflightCommand.parse([], {
      COLLAB_GATEWAY_ROLE: "user-simulator",
      COLLAB_GATEWAY_UPSTREAM_BASE_URL: upstream.url,
      COLLAB_GATEWAY_UPSTREAM_MODEL: "m",
    });
    const result = await check(config, { serverErrorWaitsMs: [10, 10] });
    expect(result).toMatchObject({ ready: false, reason: "UpstreamError", status: 502 });
    expect(result.message).toBe("the endpoint failed 3 times: HTTP 502: upstream connect error");
    expect(upstream.requests).toHaveLength(3);
  });
});
