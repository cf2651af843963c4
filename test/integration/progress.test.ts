// End to end: a real gateway process follows a recorded veRL console log and reports to the real operator, which
// writes status.progress, status.usage and BudgetExceeded on a running job in the real control plane.
import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";
import { appendFileSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import OpenAI from "openai";
import { afterEach, describe, expect, it } from "vitest";
import { ROOT } from "../cluster/cluster.ts";
import { freePort } from "../cluster/stand-in.ts";
import { run } from "../cluster/tools.ts";
import { type FakeUpstream, startFakeUpstream } from "../unit/gateway/fake-upstream.ts";
import { testNamespace } from "./kube.ts";
import {
  condition,
  createJob,
  eventually,
  getJob,
  jobToken,
  judgeReport,
  startOperator,
  trainingJob,
  waitRunning,
} from "./operator.ts";

const RECORDED = readFileSync(join(ROOT, "test/unit/gateway/testdata/verl-console.log"), "utf8").split("\n");

let gateway: ChildProcess | undefined;
let upstream: FakeUpstream | undefined;
afterEach(async () => {
  if (gateway && gateway.exitCode === null) {
    gateway.kill("SIGTERM");
    await once(gateway, "exit");
  }
  await upstream?.close();
  gateway = undefined;
  upstream = undefined;
});

describe("progress and usage reported by a gateway", () => {
  it("moves status.progress and status.usage of a running job, and flags the spent budget", async () => {
    const { ns, operator, token, reportURL } = await trainingJob("progress", {
      budget: { maxTokens: 30, onExhausted: "Wait" },
    });

    // The trainer's log as the head pod's gateway sees it: first the start and step 1.
    const log = join(mkdtempSync(join(tmpdir(), "collab-log-")), "trainer.log");
    const firstStep = RECORDED.findIndex((l) => l.includes(" step:1 "));
    writeFileSync(log, `${RECORDED.slice(0, firstStep + 1).join("\n")}\n`);
    upstream = await startFakeUpstream();
    const port = await freePort();
    gateway = spawn(process.execPath, [`${ROOT}/src/cli.ts`, "gateway"], {
      env: {
        ...process.env,
        COLLAB_GATEWAY_ROLE: "user-simulator",
        COLLAB_GATEWAY_LISTEN: `127.0.0.1:${port}`,
        COLLAB_GATEWAY_MODEL: "gpt-4o-mini",
        COLLAB_GATEWAY_UPSTREAM_BASE_URL: upstream.url,
        COLLAB_GATEWAY_UPSTREAM_MODEL: "gpt-4o-mini",
        COLLAB_GATEWAY_FOLLOW_LOG: log,
        COLLAB_GATEWAY_REPORT_URL: reportURL,
        COLLAB_GATEWAY_REPORT_INTERVAL_SECONDS: "1",
        COLLAB_GATEWAY_POD: "job-a0-head",
        COLLAB_GATEWAY_BUDGET_TOKENS: "30",
        COLLAB_GATEWAY_TOKEN: token,
        COLLAB_GATEWAY_UPSTREAM_API_KEY: "sk-upstream-secret",
      },
      stdio: ["ignore", "ignore", "inherit"],
    });

    const first = await eventually("step 1 on the status", async () => {
      const job = await getJob(ns, "job");
      return job.status?.progress?.step === 1 ? job : undefined;
    });
    expect(first.status?.progress).toMatchObject({ step: 1, totalSteps: 120, stepOfTotal: "1/120", reward: 0.35 });
    expect(first.status?.phase).toBe("Training"); // the reconciler's fields survive the other writer

    // The trainer goes on: the rest of the recorded log arrives.
    appendFileSync(log, `${RECORDED.slice(firstStep + 1).join("\n")}\n`);
    const lastStep = Math.max(...RECORDED.map((l) => Number(/ step:(\d+) /.exec(l)?.[1] ?? 0)));
    const later = await eventually("the last recorded step", async () => {
      const job = await getJob(ns, "job");
      return job.status?.progress?.step === lastStep ? job : undefined;
    });
    // Two step lines read at two moments: the pace, and when the run should end at it.
    expect(later.status?.pace?.estimatedCompletionTime).toBeDefined();
    expect(later.status?.pace?.lastStep.step).toBe(lastStep);
    expect(later.status?.progress?.checkpointStep).toBe(2);
    expect(later.status?.progress?.stepSeconds).toBeGreaterThan(0);
    // Every field the gateway parses is on the resource: the reward's spread and its components, training and
    // validation, as the reward workers printed them, which `kubectl describe` shows and /metrics exports.
    expect(later.status?.progress).toMatchObject({ rewardMin: 0, rewardMax: 0.85, throughput: 1523.7 });
    const components = later.status?.progress?.rewardMetrics ?? {};
    expect(Object.keys(components).sort()).toEqual(["accuracy", "interactivity", "token_amount"]);
    expect(components.accuracy?.training).toBeCloseTo(1 / 3, 10);
    expect(components.accuracy?.validation).toBeCloseTo(0.25, 10);
    expect(components.token_amount?.validation).toBeCloseTo(-0.025, 10);
    const described = run("kubectl", ["describe", "ctj", "-n", ns, "job"]);
    expect(described).toMatch(/Reward Metrics:\s+Accuracy:\s+Training:\s+0\.333\d*\s+Validation:\s+0\.25\s/);
    const metrics = await (await fetch(`http://127.0.0.1:${await operator.metricsPort()}/metrics`)).text();
    expect(metrics).toContain(
      `collab_job_reward_metric{namespace="${ns}",job="job",metric="accuracy",split="validation"} 0.25`,
    );

    // Calls through the gateway are metered onto status.usage; past the budget the job says so.
    const client = new OpenAI({ baseURL: `http://127.0.0.1:${port}/v1`, apiKey: token, maxRetries: 0 });
    await client.chat.completions.create({ model: "gpt-4o-mini", messages: [{ role: "user", content: "hi" }] });
    await client.chat.completions.create({ model: "gpt-4o-mini", messages: [{ role: "user", content: "again" }] });
    const metered = await eventually("usage and BudgetExceeded", async () => {
      const job = await getJob(ns, "job");
      return condition(job, "BudgetExceeded")?.status === "True" ? job : undefined;
    });
    expect(metered.status?.usage?.userSimulator?.requests).toBe(2);
    expect(metered.status?.usage?.totalTokens).toBe(36);
    expect(JSON.stringify(metered.status)).not.toContain("sk-upstream-secret");
  });

  it("takes reports only from the job's own pods, with the job's own token", async () => {
    const ns = await testNamespace("report-auth");
    const operator = startOperator(ns);
    await createJob(ns, "a");
    await createJob(ns, "b");
    await waitRunning(ns, "a-a0-prepare");
    const [tokenA, tokenB] = [await jobToken(ns, "a"), await jobToken(ns, "b")];
    const port = await operator.reportPort();
    const post = (job: string, token: string, body: unknown) =>
      fetch(`http://127.0.0.1:${port}/v1/namespaces/${ns}/collabtrainingjobs/${job}/report`, {
        method: "POST",
        headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
        body: typeof body === "string" ? body : JSON.stringify(body),
      });
    const report = (pod: string) => judgeReport(pod, { requests: 1, promptTokens: 1, completionTokens: 1 });
    // A synced operator answers; until then 503. The answer comes from its caches, which may trail what this test saw
    // in the apiserver: until they hold job a's token Secret and pod, the right report is refused (401, 403).
    const ok = await eventually("a synced operator that has cached job a's token and pod", async () => {
      const r = await post("a", tokenA, report("a-a0-prepare"));
      return r.status === 200 ? r : undefined;
    });
    expect(ok.status).toBe(200);
    expect((await post("b", tokenA, report("b-a0-prepare"))).status).toBe(401); // job a's token on job b
    expect((await post("a", "wrong", report("a-a0-prepare"))).status).toBe(401);
    expect((await post("nope", tokenB, report("a-a0-prepare"))).status).toBe(401); // no probing for job names
    expect((await post("a", tokenA, report("b-a0-prepare"))).status).toBe(403); // another job's pod
    expect((await post("a", tokenA, report("made-up"))).status).toBe(403);
    expect((await post("a", tokenA, "x".repeat(70_000))).status).toBe(413);
    expect((await post("a", tokenA, { pod: 1 })).status).toBe(400);
  });
});
