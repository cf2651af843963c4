// The preflight's verdict on each kind of answer, including the shapes providers other than OpenAI give.
import { describe, expect, it } from "vitest";
import { type Answer, type Observations, verdict } from "../../../src/gateway/preflight-verdict.ts";

const LISTED: Answer = { kind: "answer", status: 200, body: JSON.stringify({ data: [{ id: "m" }, { id: "n" }] }) };
const answer = (status: number, body: unknown): Answer => ({
  kind: "answer",
  status,
  body: typeof body === "string" ? body : JSON.stringify(body),
});

function observe(completion: Answer | undefined, more: Partial<Observations> = {}): Observations {
  return {
    endpoint: "user-simulator",
    model: "m",
    baseURL: "https://llm.example/v1",
    timeoutSeconds: 30,
    withKey: true,
    models: LISTED,
    completion,
    attempts: 1,
    seconds: 0.25,
    ...more,
  };
}

const CASES: { name: string; o: Observations; ready: boolean; reason: string; message: string | RegExp }[] = [
  {
    name: "a chat completion",
    o: observe(answer(200, { choices: [{ message: { content: "O" }, finish_reason: "length" }] })),
    ready: true,
    reason: "Answered",
    message: "answered a completion of max_tokens 1",
  },
  {
    name: "a 200 that is a web page, not an API",
    o: observe(answer(200, "<!doctype html><html>Sign in</html>")),
    ready: false,
    reason: "UnexpectedAnswer",
    message: /^HTTP 200, but not a chat completion \(starts with "<!doctype html>.*it usually ends in \/v1\)\?$/,
  },
  {
    name: "401 with no key set",
    o: observe(answer(401, { error: { message: "Missing bearer" } }), { withKey: false }),
    ready: false,
    reason: "KeyRefused",
    message: "the endpoint wants a key and none is set (apiKeySecretRef): HTTP 401: Missing bearer",
  },
  {
    name: "403",
    o: observe(answer(403, { error: { message: "Project does not have access to model m" } })),
    ready: false,
    reason: "AccessDenied",
    message: "the key may not use this model or endpoint: HTTP 403: Project does not have access to model m",
  },
  {
    name: "vLLM's 404 for a model it does not serve",
    o: observe(
      answer(404, { object: "error", message: "The model `x` does not exist.", type: "NotFoundError", code: 404 }),
      { model: "x" },
    ),
    ready: false,
    reason: "ModelNotFound",
    message: "model x not found: HTTP 404: The model `x` does not exist.; the endpoint serves m, n",
  },
  {
    name: "404 from a base URL without /v1",
    o: observe(answer(404, "404 page not found"), { models: answer(404, "404 page not found") }),
    ready: false,
    reason: "ModelNotFound",
    message:
      "model m not found: HTTP 404: 404 page not found; GET /models is not found either: is baseURL right (it usually ends in /v1)?",
  },
  {
    name: "402 payment required",
    o: observe(answer(402, { error: { message: "Insufficient Balance" } })),
    ready: false,
    reason: "QuotaExceeded",
    message: "the account's quota or credit is spent: HTTP 402: Insufficient Balance",
  },
  {
    name: "429 whose words say the credit is spent",
    o: observe(answer(429, { detail: "Your credit balance is too low to access the API." })),
    ready: false,
    reason: "QuotaExceeded",
    message: /credit balance is too low/,
  },
  {
    name: "429 of a per-minute quota (Gemini's words), a rate limit",
    o: observe(answer(429, { error: { message: "Quota exceeded for metric: generate_requests_per_minute" } })),
    ready: true,
    reason: "RateLimited",
    message: /^rate-limited \(HTTP 429: Quota exceeded for metric/,
  },
  {
    name: "400 for anything but max_tokens",
    o: observe(answer(400, { error: { message: "This is not a chat model." } })),
    ready: false,
    reason: "RequestRefused",
    message: "a minimal chat completion was refused: HTTP 400: This is not a chat model.",
  },
  {
    name: "a 5xx on the only attempt",
    o: observe(answer(500, { error: "boom" })),
    ready: false,
    reason: "UpstreamError",
    message: "the endpoint failed: HTTP 500: boom",
  },
  {
    name: "a redirect",
    o: observe(answer(301, "")),
    ready: false,
    reason: "UnexpectedAnswer",
    message: "HTTP 301: the endpoint redirects; set baseURL to where it redirects",
  },
  {
    name: "a connection reset",
    o: observe(undefined, { models: { kind: "connection", code: "ECONNRESET", message: "read ECONNRESET" } }),
    ready: false,
    reason: "ConnectionFailed",
    message: "read ECONNRESET",
  },
  {
    name: "a TLS failure",
    o: observe(undefined, {
      models: { kind: "connection", code: "DEPTH_ZERO_SELF_SIGNED_CERT", message: "self-signed certificate" },
    }),
    ready: false,
    reason: "ConnectionFailed",
    message: "self-signed certificate",
  },
  {
    name: "a completion that timed out after /models answered",
    o: observe({ kind: "timeout", message: "Headers Timeout Error" }),
    ready: false,
    reason: "Timeout",
    message: "no answer within 30 s (timeoutSeconds): Headers Timeout Error",
  },
];

describe("preflight verdict", () => {
  it.each(CASES)("$name", ({ o, ready, reason, message }) => {
    const v = verdict(o);
    expect(v).toMatchObject({ ready, reason, endpoint: "user-simulator", model: o.model });
    if (typeof message === "string") expect(v.message).toBe(message);
    else expect(v.message).toMatch(message);
  });

  it("keeps a long provider message within the termination message's room", () => {
    const v = verdict(observe(answer(400, { error: { message: "x".repeat(10_000) } })));
    expect(JSON.stringify(v).length).toBeLessThan(2048);
  });
});
