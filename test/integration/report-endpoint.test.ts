// The operator's report endpoint under hostile bodies, and counters beyond int32, against the real operator and
// apiserver: an oversized body, one that never ends and one cut off must not stop the job's later reports.
import { connect, type Socket } from "node:net";
import { beforeAll, beforeEach, describe, expect, it } from "vitest";
import { core, testNamespace } from "./kube.ts";
import {
  createJob,
  eventually,
  getJob,
  judgeReport,
  type OperatorProcess,
  startOperator,
  waitRunning,
} from "./operator.ts";

/** A report of the job's prepare pod, its judge counters at `tokens` prompt tokens. */
const report = (pod: string, tokens: number) =>
  judgeReport(pod, { requests: 3, promptTokens: tokens, completionTokens: 1 });

/** Sends headers and part of a body, then nothing more; the socket stays open until closed. */
function stalledRequest(
  port: number,
  path: string,
  token: string,
): Promise<{ socket: Socket; answer: Promise<string> }> {
  return new Promise((resolve) => {
    const socket = connect(port, "127.0.0.1", () => {
      socket.write(
        `POST ${path} HTTP/1.1\r\nhost: x\r\nauthorization: Bearer ${token}\r\ncontent-type: application/json\r\ncontent-length: 1000\r\n\r\n{"pod":`,
      );
      let text = "";
      const answer = new Promise<string>((done) => {
        socket.on("data", (d) => (text += d));
        socket.on("close", () => done(text));
      });
      resolve({ socket, answer });
    });
  });
}

describe("the report endpoint", () => {
  let ns: string;
  let operator: OperatorProcess;
  let token: string;
  let url: string;
  let path: string;
  const post = (body: string | object, headers: Record<string, string> = {}) =>
    fetch(url, {
      method: "POST",
      headers: { authorization: `Bearer ${token}`, "content-type": "application/json", ...headers },
      body: typeof body === "string" ? body : JSON.stringify(body),
    });

  beforeAll(async () => {
    ns = await testNamespace("report");
    await createJob(ns, "job");
  });

  // Each test runs its own operator (test/integration/operator.ts stops it after the test).
  beforeEach(async () => {
    operator = startOperator(ns);
    await waitRunning(ns, "job-a0-prepare");
    const secret = await eventually("token", () => core.readNamespacedSecret({ namespace: ns, name: "job-token" }));
    token = Buffer.from(secret.data?.token ?? "", "base64").toString();
    path = `/v1/namespaces/${ns}/collabtrainingjobs/job/report`;
    url = `http://127.0.0.1:${await operator.reportPort()}${path}`;
    await eventually("a synced operator", async () =>
      (await post(report("job-a0-prepare", 1))).status === 200 ? true : undefined,
    );
  });

  it("writes counters beyond int32 into status.usage", async () => {
    expect((await post(report("job-a0-prepare", 2_100_000_000_000))).status).toBe(200);
    const job = await eventually("usage on the status", async () => {
      const j = await getJob(ns, "job");
      return j.status?.usage?.judge?.promptTokens === 2_100_000_000_000 ? j : undefined;
    });
    expect(job.status?.usage?.totalTokens).toBe(2_100_000_000_001);
  });

  it("refuses an oversized body at once, and the job's next report goes through", async () => {
    const big = await post(`{"pod":"${"x".repeat(4 * 1024 * 1024)}"}`).catch((e: unknown) => e);
    // The answer is 413; a client still sending may see its connection closed instead.
    if (big instanceof Response) expect(big.status).toBe(413);
    const started = Date.now();
    expect((await post(report("job-a0-prepare", 11))).status).toBe(200);
    expect(Date.now() - started).toBeLessThan(5000);
  });

  it("refuses a body declared oversized before reading it", async () => {
    const r = await post(report("job-a0-prepare", 12), { "content-length": String(10 * 1024 * 1024) }).catch(
      (e: unknown) => e,
    );
    if (r instanceof Response) expect(r.status).toBe(413);
    expect((await post(report("job-a0-prepare", 13))).status).toBe(200);
  });

  it("lets the job's reports through while a body never ends, and times that one out", async () => {
    const stalled = await Promise.all([1, 2, 3].map(() => stalledRequest(Number(new URL(url).port), path, token)));
    for (const tokens of [21, 22, 23]) {
      const started = Date.now();
      expect((await post(report("job-a0-prepare", tokens))).status).toBe(200);
      expect(Date.now() - started).toBeLessThan(5000);
    }
    await eventually("the last report on the status", async () =>
      (await getJob(ns, "job")).status?.usage?.judge?.promptTokens === 23 ? true : undefined,
    );
    // The endless bodies are answered 408 within the endpoint's body timeout (10 s).
    const answers = await Promise.all(stalled.map((s) => s.answer));
    for (const answer of answers) expect(answer).toMatch(/^HTTP\/1\.1 408/);
  }, 30_000);

  it("lets the job's reports through after a client went away mid-body", async () => {
    const { socket } = await stalledRequest(Number(new URL(url).port), path, token);
    socket.destroy();
    expect((await post(report("job-a0-prepare", 31))).status).toBe(200);
  });

  it("takes the bearer scheme in any case", async () => {
    const r = await fetch(url, {
      method: "POST",
      headers: { authorization: `bEaReR  ${token}`, "content-type": "application/json" },
      body: JSON.stringify(report("job-a0-prepare", 41)),
    });
    expect(r.status).toBe(200);
  });
});
