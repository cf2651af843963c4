// Job-wide allowances end to end: real gateway processes with --allowance-url ask the real operator (leading, on the
// local control plane) for the job's budget; the budget stops calls, and raising it in the spec lets them go again by
// themselves. The limits' invariants under load, faults and restarts: test/unit/operator/report/allowance.test.ts.
import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";
import { PatchStrategy, setHeaderOptions } from "@kubernetes/client-node";
import OpenAI from "openai";
import { afterEach, describe, expect, it } from "vitest";
import { ROOT } from "../cluster/cluster.ts";
import { freePort } from "../cluster/stand-in.ts";
import { type FakeUpstream, startFakeUpstream } from "../unit/gateway/fake-upstream.ts";
import { custom } from "./kube.ts";
import { condition, eventually, getJob, jobApi, trainingJob } from "./operator.ts";

let gateways: ChildProcess[] = [];
let upstream: FakeUpstream | undefined;
afterEach(async () => {
  for (const g of gateways) {
    if (g.exitCode !== null) continue;
    g.kill("SIGTERM");
    await once(g, "exit");
  }
  await upstream?.close();
  gateways = [];
  upstream = undefined;
});

function startGatewayProcess(role: string, port: number, url: string, token: string, reportURL: string) {
  const child = spawn(process.execPath, [`${ROOT}/src/cli.ts`, "gateway"], {
    env: {
      ...process.env,
      COLLAB_GATEWAY_ROLE: role,
      COLLAB_GATEWAY_LISTEN: `127.0.0.1:${port}`,
      COLLAB_GATEWAY_MODEL: "gpt-4o-mini",
      COLLAB_GATEWAY_UPSTREAM_BASE_URL: url,
      COLLAB_GATEWAY_UPSTREAM_MODEL: "gpt-4o-mini",
      COLLAB_GATEWAY_MAX_TOKENS: "20",
      COLLAB_GATEWAY_RETRIES: "0",
      COLLAB_GATEWAY_ALLOWANCE_URL: reportURL.replace(/\/report$/, "/allowance"),
      COLLAB_GATEWAY_REPORT_URL: reportURL,
      COLLAB_GATEWAY_REPORT_INTERVAL_SECONDS: "1",
      COLLAB_GATEWAY_POD: "job-a0-head",
      COLLAB_GATEWAY_TOKEN: token,
    },
    stdio: ["ignore", "ignore", "inherit"],
  });
  gateways.push(child);
}

describe("job-wide budget through the operator's allowances", () => {
  it("stops calls once the budget cannot cover the next one, and resumes them when the spec raises it", async () => {
    const { ns, token, reportURL } = await trainingJob("allowance", {
      budget: { maxTokens: 300, onExhausted: "Wait" },
    });
    upstream = await startFakeUpstream();
    const [simulatorPort, judgePort] = [await freePort(), await freePort()];
    startGatewayProcess("user-simulator", simulatorPort, upstream.url, token, reportURL);
    startGatewayProcess("judge", judgePort, upstream.url, token, reportURL);
    const judge = new OpenAI({ baseURL: `http://127.0.0.1:${judgePort}/v1`, apiKey: token, maxRetries: 0 });
    const ask = () =>
      judge.chat.completions.create({ model: "gpt-4o-mini", messages: [{ role: "user", content: "rate" }] }).then(
        () => "ok" as const,
        (error: { status?: number; code?: string }) => (error.code === "budget_exceeded" ? "refused" : error),
      );
    // The fake upstream counts 11 + 7 tokens a call; each call reserves its prompt estimate + max_tokens 20.
    const outcomes: unknown[] = [];
    await eventually("a call refused for the budget", async () => {
      const outcome = await ask();
      outcomes.push(outcome);
      if (outcome !== "ok" && outcome !== "refused") throw outcome;
      return outcome === "refused" || undefined;
    });
    const sent = upstream.requests.length;
    expect(sent).toBeGreaterThan(5);
    expect(sent * 18).toBeLessThanOrEqual(300);
    // Refused, not queued: nothing more goes upstream while the budget is spent.
    expect(await ask()).toBe("refused");
    expect(upstream.requests.length).toBe(sent);
    await eventually("BudgetExceeded on the status", async () => {
      const job = await getJob(ns, "job");
      return condition(job, "BudgetExceeded")?.status === "True" || undefined;
    });

    await custom.patchNamespacedCustomObject(
      { ...jobApi, namespace: ns, name: "job", body: { spec: { budget: { maxTokens: 600 } } } },
      setHeaderOptions("Content-Type", PatchStrategy.MergePatch),
    );
    await eventually("calls going again after the raise", async () => ((await ask()) === "ok" ? true : undefined));
    while ((await ask()) === "ok");
    expect(upstream.requests.length * 18).toBeLessThanOrEqual(600);
    expect(upstream.requests.length).toBeGreaterThan(sent + 5);
  }, 120_000);
});
