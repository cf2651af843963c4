// The real `collab-operator gateway` process, configured by env vars as a pod would be: it serves, follows a recorded
// veRL log, reports to a stand-in operator, writes no secret to its output, and sends a last report on SIGTERM.
import { spawn } from "node:child_process";
import { copyFileSync, mkdtempSync } from "node:fs";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import OpenAI from "openai";
import { afterEach, describe, expect, it, vi } from "vitest";
import { type GatewayReport, GatewayReportSchema } from "../../../src/contract/report.ts";
import { type FakeUpstream, startFakeUpstream } from "./fake-upstream.ts";
import { JOB_TOKEN, UPSTREAM_KEY } from "./harness.ts";

const root = new URL("../../../", import.meta.url).pathname;
let upstream: FakeUpstream;
let closeOperator: () => void;
afterEach(async () => {
  closeOperator?.();
  await upstream?.close();
});

describe("gateway process", () => {
  it("runs from env vars, reports progress and usage, and leaks no secret", { timeout: 30_000 }, async () => {
    upstream = await startFakeUpstream();
    const reports: GatewayReport[] = [];
    const operator = createServer(async (req, res) => {
      let text = "";
      for await (const chunk of req) text += chunk;
      if (req.headers.authorization === `Bearer ${JOB_TOKEN}`)
        reports.push(GatewayReportSchema.parse(JSON.parse(text)));
      res.writeHead(200, { "content-type": "application/json" }).end("{}");
    });
    await new Promise<void>((resolve) => operator.listen(0, "127.0.0.1", resolve));
    closeOperator = () => operator.close();
    const log = join(mkdtempSync(join(tmpdir(), "gateway-process-")), "trainer.log");
    copyFileSync(new URL("testdata/verl-console.log", import.meta.url), log);
    const child = spawn(process.execPath, ["src/cli.ts", "gateway"], {
      cwd: root,
      env: {
        PATH: process.env.PATH,
        COLLAB_GATEWAY_ROLE: "user-simulator",
        COLLAB_GATEWAY_LISTEN: "127.0.0.1:0",
        COLLAB_GATEWAY_UPSTREAM_BASE_URL: upstream.url,
        COLLAB_GATEWAY_UPSTREAM_MODEL: "gpt-4o-mini",
        COLLAB_GATEWAY_UPSTREAM_API_KEY: UPSTREAM_KEY,
        COLLAB_GATEWAY_TOKEN: JOB_TOKEN,
        COLLAB_GATEWAY_FOLLOW_LOG: log,
        COLLAB_GATEWAY_REPORT_URL: `http://127.0.0.1:${(operator.address() as AddressInfo).port}/report`,
        COLLAB_GATEWAY_REPORT_INTERVAL_SECONDS: "60",
        COLLAB_GATEWAY_POD: "math-hard-train-0-0",
        COLLAB_GATEWAY_LOG_LEVEL: "debug",
      },
    });
    let output = "";
    child.stdout.on("data", (data) => (output += data));
    child.stderr.on("data", (data) => (output += data));
    const exited = new Promise<number | null>((resolve) => child.once("exit", resolve));
    await vi.waitFor(() => expect(output).toContain("gateway listening"), { timeout: 10_000 });
    const listen = JSON.parse(output.split("\n").find((line) => line.includes("gateway listening"))!).listen;

    const client = new OpenAI({ baseURL: `http://${listen}/v1`, apiKey: JOB_TOKEN, maxRetries: 0 });
    upstream.script({ kind: "status", status: 500 });
    await client.chat.completions.create({ model: "user-simulator", messages: [{ role: "user", content: "hi" }] });
    await vi.waitFor(() => expect(reports.at(-1)?.progress?.step).toBe(3), { timeout: 10_000 });

    child.kill("SIGTERM");
    expect(await exited).toBe(0);
    expect(reports.at(-1)).toMatchObject({
      pod: "math-hard-train-0-0",
      role: "user-simulator",
      usage: { "user-simulator": { requests: 1, retries: 1, promptTokens: 11, completionTokens: 7 } },
      progress: { step: 3, totalSteps: 120, reward: 0.45 },
    });
    expect(output).not.toContain(UPSTREAM_KEY);
    expect(output).not.toContain(JOB_TOKEN);
  });
});
