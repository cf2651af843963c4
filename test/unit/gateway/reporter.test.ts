// The head pod's gateway follows a recorded veRL log and pushes progress and usage to a stand-in operator endpoint.
import { copyFileSync, mkdtempSync } from "node:fs";
import { createServer, type IncomingHttpHeaders } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pino } from "pino";
import { afterEach, describe, expect, it, vi } from "vitest";
import { type GatewayReport, GatewayReportSchema } from "../../../src/contract/report.ts";
import { Reporter } from "../../../src/gateway/reporter.ts";
import { JOB_TOKEN, type Pair, startPair } from "./harness.ts";

async function startOperator(answer: () => unknown) {
  const reports: { headers: IncomingHttpHeaders; body: GatewayReport }[] = [];
  const server = createServer(async (req, res) => {
    let text = "";
    for await (const chunk of req) text += chunk;
    reports.push({ headers: req.headers, body: GatewayReportSchema.parse(JSON.parse(text)) });
    res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify(answer()));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1/namespaces/ml/collabtrainingjobs/math-hard/report`;
  return { url, reports, close: () => new Promise((resolve) => server.close(resolve)) };
}

let pair: Pair | undefined;
let operator: Awaited<ReturnType<typeof startOperator>> | undefined;
afterEach(async () => {
  // The gateway first, while its operator still answers: its last report is retried until it lands.
  await pair?.close();
  await operator?.close();
  pair = undefined;
  operator = undefined;
});

describe("gateway reports", () => {
  it("pushes progress parsed from the trainer log, with usage, authenticated with the job token", async () => {
    operator = await startOperator(() => ({}));
    const log = join(mkdtempSync(join(tmpdir(), "report-")), "trainer.log");
    copyFileSync(new URL("testdata/verl-console.log", import.meta.url), log);
    pair = await startPair(["--follow-log", log, "--report-url", operator.url, "--report-interval-seconds", "0.2"]);
    await pair!.client.chat.completions.create({ model: "judge", messages: [{ role: "user", content: "hi" }] });
    await vi.waitFor(() => expect(operator!.reports.at(-1)?.body.progress?.step).toBe(3), { timeout: 5000 });
    await vi.waitFor(() => expect(operator!.reports.at(-1)?.body.usage.judge?.requests).toBe(1), { timeout: 5000 });
    const last = operator!.reports.at(-1)!;
    expect(last.headers.authorization).toBe(`Bearer ${JOB_TOKEN}`);
    expect(last.body).toMatchObject({
      role: "judge",
      progress: {
        step: 3,
        totalSteps: 120,
        reward: 0.45,
        stepSeconds: 98.5,
        rewardMetrics: { accuracy: { validation: 0.25 }, token_amount: { training: -0.02 } },
      },
      usage: { judge: { promptTokens: 11, completionTokens: 7 } },
    });
    expect(new Set(operator!.reports.map((r) => r.body.startId)).size).toBe(1);
  });

  it("refuses requests once the operator says the job is over budget", async () => {
    operator = await startOperator(() => ({ budgetExceeded: true }));
    pair = await startPair(["--report-url", operator.url, "--report-interval-seconds", "0.2"]);
    await vi.waitFor(() => expect(operator!.reports.length).toBeGreaterThan(0), { timeout: 5000 });
    await vi.waitFor(
      async () => {
        const refused = await pair!.client.chat.completions
          .create({ model: "judge", messages: [{ role: "user", content: "hi" }] })
          .catch((e) => e);
        expect(refused).toMatchObject({ status: 429, code: "budget_exceeded" });
      },
      { timeout: 5000 },
    );
  });
});

describe("reporter retries while no leader answers", () => {
  const quiet = pino({ level: "silent" });
  const report = (n: number) => ({ n }) as unknown as GatewayReport;

  it("retries 502 and 503, each try with the newest counters, then delivers", async () => {
    let answered = 0;
    const seen: number[] = [];
    const server = createServer(async (req, res) => {
      let text = "";
      for await (const chunk of req) text += chunk;
      seen.push(JSON.parse(text).n);
      answered++;
      res.writeHead(answered <= 3 ? (answered === 2 ? 502 : 503) : 200).end("{}");
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    let n = 0;
    const reporter = new Reporter({
      url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/report`,
      token: JOB_TOKEN,
      intervalMs: 60_000,
      build: () => report(++n),
      onBudgetVerdict: () => {},
      log: quiet,
      backoffMs: { initial: 10, max: 20 },
    });
    await reporter.stop(); // one push, with retries
    server.close();
    expect(reporter.stats).toEqual({ delivered: 1, retries: 3, failed: 0 });
    expect(seen).toEqual([1, 2, 3, 4]);
  });

  it("gives up after its budget, and never retries a refusal such as 401", async () => {
    const codes = [401];
    const server = createServer((_req, res) => res.writeHead(codes.shift() ?? 503).end("{}"));
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const reporter = new Reporter({
      url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/report`,
      token: JOB_TOKEN,
      intervalMs: 60_000,
      build: () => report(0),
      onBudgetVerdict: () => {},
      log: quiet,
      backoffMs: { initial: 10, max: 20 },
      finalRetryBudgetMs: 200,
    });
    await reporter.stop(); // 401: refused at once
    expect(reporter.stats).toEqual({ delivered: 0, retries: 0, failed: 1 });
    const started = Date.now();
    await reporter.stop(); // 503 until the budget runs out
    expect(Date.now() - started).toBeLessThan(2000);
    expect(reporter.stats.failed).toBe(2);
    expect(reporter.stats.retries).toBeGreaterThan(3);
    server.close();
  });
});
