// The gateway against hostile or careless clients and the edges of its own promises: memory held by request bodies,
// bodies that never end, the upstream's error answers passed on as documented, the attempt timeout on time, retries
// counted only when sent, a truthful Retry-After, absurd JSON, and the bearer scheme in any case.
import { connect } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { closeAndScrape, JOB_TOKEN, type Pair, startPair, UPSTREAM_KEY } from "./harness.ts";

let pair: Pair;
afterEach(() => closeAndScrape(pair));

const ask = { model: "judge", messages: [{ role: "user" as const, content: "Score it." }] };
const usage = () => pair.gateway.buildReport().usage.judge!;
const url = () => `${pair.gateway.url}/v1/chat/completions`;

function post(body: string | object, headers: Record<string, string> = {}) {
  return fetch(url(), {
    method: "POST",
    headers: { authorization: `Bearer ${JOB_TOKEN}`, "content-type": "application/json", ...headers },
    body: typeof body === "string" ? body : JSON.stringify(body),
  });
}

/** A chat request whose JSON is about `bytes` long. */
function bigAsk(bytes: number) {
  return JSON.stringify({ ...ask, messages: [{ role: "user", content: "x".repeat(bytes) }] });
}

/** Writes raw HTTP to the gateway; resolves with everything it answered once it closes the connection. */
function rawRequest(head: string, body: (write: (s: string) => void) => void): Promise<{ text: string; ms: number }> {
  const { port } = new URL(pair.gateway.url);
  const started = performance.now();
  return new Promise((resolve) => {
    const socket = connect(Number(port), "127.0.0.1", () => {
      socket.write(head);
      body((s) => socket.writable && socket.write(s));
    });
    let text = "";
    socket.on("data", (d) => (text += d));
    socket.on("error", () => undefined);
    socket.on("close", () => resolve({ text, ms: performance.now() - started }));
  });
}

const head = (length: number | "chunked") =>
  `POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\nauthorization: Bearer ${JOB_TOKEN}\r\ncontent-type: application/json\r\n${
    length === "chunked" ? "transfer-encoding: chunked" : `content-length: ${length}`
  }\r\n\r\n`;

describe("request bodies", () => {
  it("holds no more request bytes at once than its budget, answering 503 with Retry-After beyond it", async () => {
    pair = await startPair(["--max-body-bytes", "600000", "--body-bytes-in-flight", "1000000"]);
    pair.upstream.script({ kind: "late", delayMs: 500 });
    const first = post(bigAsk(500_000));
    await new Promise((r) => setTimeout(r, 100)); // the first is upstream, its 500 KB still counted
    const second = await post(bigAsk(500_000));
    expect(second.status).toBe(503);
    expect(second.headers.get("retry-after")).toBe("1");
    expect(await second.json()).toMatchObject({ error: { code: "gateway_busy" } });
    expect((await first).status).toBe(200);
    // Released when the first ended: the same request now goes through.
    expect((await post(bigAsk(500_000))).status).toBe(200);
  });

  it("counts a body without a declared length as it arrives", async () => {
    pair = await startPair(["--max-body-bytes", "600000", "--body-bytes-in-flight", "600000"]);
    pair.upstream.script({ kind: "late", delayMs: 500 });
    const first = post(bigAsk(400_000));
    await new Promise((r) => setTimeout(r, 100));
    const chunked = await rawRequest(head("chunked"), (write) => {
      const text = bigAsk(400_000);
      write(`${text.length.toString(16)}\r\n${text}\r\n0\r\n\r\n`);
    });
    expect(chunked.text).toMatch(/^HTTP\/1\.1 503/);
    expect((await first).status).toBe(200);
  });

  it("refuses a body declared larger than the limit before reading it", async () => {
    pair = await startPair(["--max-body-bytes", "1000", "--body-bytes-in-flight", "1000"]);
    const answer = await rawRequest(head(10_000_000), () => undefined);
    expect(answer.text).toMatch(/^HTTP\/1\.1 413/);
    expect(answer.text).toContain("body_too_large");
    expect(pair.upstream.requests).toHaveLength(0);
  });

  it("refuses a body that grows past the limit as it arrives", async () => {
    pair = await startPair(["--max-body-bytes", "1000", "--body-bytes-in-flight", "1000"]);
    const answer = await rawRequest(head("chunked"), (write) => write(`800\r\n${"x".repeat(0x800)}\r\n`));
    expect(answer.text).toMatch(/^HTTP\/1\.1 413/);
  });

  it("cuts off a body that trickles in, and serves others meanwhile", async () => {
    pair = await startPair(["--body-timeout-seconds", "1"]);
    let timer: NodeJS.Timeout | undefined;
    const trickle = rawRequest(head(1000), (write) => {
      timer = setInterval(() => write("x"), 100);
    });
    expect((await post(ask)).status).toBe(200);
    const answer = await trickle;
    clearInterval(timer);
    expect(answer.text).toMatch(/^HTTP\/1\.1 408/);
    expect(answer.ms).toBeLessThan(5000);
    expect(pair.upstream.requests).toHaveLength(1);
  });

  it("answers JSON nested too deeply to re-serialise with 400", async () => {
    pair = await startPair();
    const deep = `{"model":"judge","messages":[${"[".repeat(100_000)}${"]".repeat(100_000)}]}`;
    const answer = await post(deep);
    expect(answer.status).toBe(400);
    expect(await answer.json()).toMatchObject({ error: { code: "invalid_json" } });
    expect((await post(ask)).status).toBe(200);
  });
});

describe("the upstream's answers", () => {
  it("passes an error answer on byte for byte, with its x-request-id", async () => {
    pair = await startPair();
    const raw =
      '{"error":  {"message": "bad \\u00e9 input",  "type": "invalid_request_error", "code": null},\n "x": 1}';
    pair.upstream.script({ kind: "status", status: 400, raw, headers: { "x-request-id": "req-400" } });
    const answer = await post(ask);
    expect(answer.status).toBe(400);
    expect(answer.headers.get("x-request-id")).toBe("req-400");
    expect(await answer.text()).toBe(raw);
  });

  it("passes the last error on after its retries, telling clients not to retry it again", async () => {
    pair = await startPair(["--retries", "1"]);
    const raw = '{"error": {"message": "overloaded", "type": "server_error"}}';
    pair.upstream.script(
      { kind: "status", status: 503, raw, headers: { "x-request-id": "req-a" } },
      { kind: "status", status: 503, raw, headers: { "x-request-id": "req-b" } },
    );
    const answer = await post(ask);
    expect(answer.status).toBe(503);
    expect(answer.headers.get("x-request-id")).toBe("req-b");
    expect(answer.headers.get("x-should-retry")).toBe("false");
    expect(await answer.text()).toBe(raw);
  });

  it("redacts an echoed key, and only then changes the bytes", async () => {
    pair = await startPair();
    pair.upstream.script({ kind: "status", status: 401, raw: `{"error": {"message": "bad key ${UPSTREAM_KEY}"}}` });
    const answer = await post(ask);
    expect(answer.status).toBe(401);
    const text = await answer.text();
    expect(text).not.toContain(UPSTREAM_KEY);
    expect(text).toMatch(/^\{"error": \{"message": "bad key /);
  });

  it("passes the x-request-id of answers that succeed, plain and streamed", async () => {
    pair = await startPair();
    expect((await post(ask)).headers.get("x-request-id")).toBe("req-ok");
    const streamed = await post({ ...ask, stream: true });
    expect(streamed.headers.get("x-request-id")).toBe("req-stream");
    await streamed.text();
  });
});

describe("attempts and retries", () => {
  it("times an attempt out on time: an answer later than the timeout is not waited for", async () => {
    pair = await startPair(["--timeout-seconds", "1"]);
    pair.upstream.script({ kind: "late", delayMs: 1300 });
    expect((await post(ask)).status).toBe(200);
    const [first, second] = pair.upstream.requests;
    // Given up at 1 s, before the answer at 1.3 s could arrive, and tried again.
    expect(first!.closedAt! - first!.at).toBeLessThan(1250);
    expect(second).toBeDefined();
    expect(usage()).toMatchObject({ retries: 1, errors: 0 });
  });

  it("keeps an answer that arrives before the timeout", async () => {
    pair = await startPair(["--timeout-seconds", "1"]);
    pair.upstream.script({ kind: "late", delayMs: 700 });
    expect((await post(ask)).status).toBe(200);
    expect(pair.upstream.requests).toHaveLength(1);
    expect(usage()).toMatchObject({ retries: 0, promptTokens: 11 });
  });

  it("does not count a retry the client's departure cut short", async () => {
    pair = await startPair();
    pair.upstream.script(
      { kind: "status", status: 503, retryAfter: "1" },
      { kind: "status", status: 503, retryAfter: "1" },
    );
    const stays = post(ask);
    const gone = new AbortController();
    const leaves = fetch(url(), {
      method: "POST",
      headers: { authorization: `Bearer ${JOB_TOKEN}`, "content-type": "application/json" },
      body: JSON.stringify(ask),
      signal: gone.signal,
    }).catch(() => undefined);
    await new Promise((r) => setTimeout(r, 300)); // both got their 503 and wait 1 s to retry
    gone.abort();
    await leaves;
    expect((await stays).status).toBe(200);
    expect(pair.upstream.requests).toHaveLength(3);
    expect(usage().retries).toBe(1);
  });

  it("does not count a retry the deadline cut short while it waited for admission", async () => {
    pair = await startPair(["--deadline-seconds", "1", "--max-concurrency", "1"]);
    pair.upstream.script({ kind: "status", status: 503, retryAfter: "0.2" }, { kind: "hang" });
    const first = post(ask); // 503, then waits 0.2 s to retry
    await new Promise((r) => setTimeout(r, 50));
    const second = post(ask); // takes the only slot, and the upstream never answers it
    expect((await first).status).toBe(504);
    expect((await second).status).toBe(504);
    expect(pair.upstream.requests).toHaveLength(2);
    expect(usage().retries).toBe(0);
  });

  it("tells a client refused by a full queue when the window opens", async () => {
    pair = await startPair(["--requests-per-minute", "1", "--queue-size", "1"]);
    expect((await post(ask)).status).toBe(200);
    const queued = post(ask); // waits for the window, a minute
    await new Promise((r) => setTimeout(r, 100));
    const refused = await post(ask);
    expect(refused.status).toBe(429);
    const seconds = Number(refused.headers.get("retry-after"));
    const ms = Number(refused.headers.get("retry-after-ms"));
    expect(seconds).toBeGreaterThanOrEqual(58);
    expect(seconds).toBeLessThanOrEqual(60);
    expect(ms).toBeGreaterThan(57_000);
    expect(ms).toBeLessThanOrEqual(60_000);
    void queued.catch(() => undefined);
  });
});

describe("authentication", () => {
  it.each(["Bearer", "bearer", "BEARER", "bEaReR"])("takes the scheme written %s", async (scheme) => {
    pair = await startPair();
    expect((await post(ask, { authorization: `${scheme} ${JOB_TOKEN}` })).status).toBe(200);
  });

  it.each([`Basic ${JOB_TOKEN}`, `Bearer${JOB_TOKEN}`, JOB_TOKEN, `Bearer ${JOB_TOKEN}x`, ""])(
    "refuses %j",
    async (authorization) => {
      pair = await startPair();
      expect((await post(ask, { authorization })).status).toBe(401);
    },
  );
});
