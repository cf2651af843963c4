// Every query of the chart's Grafana dashboard names only metrics that exist: scraped from a running operator (on the
// local control plane, leading, with a job that has reported usage and progress) and from a running gateway (the
// same startGateway() that `collab-operator gateway` runs in the sidecars, scraped on its --metrics-listen listener,
// as the PodMonitor does). Nothing here is a hand-kept list of names.
import { afterAll, describe, expect, it } from "vitest";
import { validJob } from "../fixtures/invalid-jobs.ts";
import { type Pair, startPair } from "../unit/gateway/harness.ts";
import { dashboardQueries, exportedNames, metricNames, readDashboard } from "../unit/packaging/dashboard-queries.ts";
import { eventually, judgeReport, trainingJob } from "./operator.ts";

let gateway: Pair | undefined;
afterAll(async () => gateway?.close());

describe("the Grafana dashboard's queries", () => {
  it("name only metrics a running operator or gateway exports", async () => {
    const pricing = { promptPerMillionTokens: 1, completionPerMillionTokens: 2 };
    const { operator, token, reportURL } = await trainingJob("dashboard", {
      budget: { maxTokens: 1000 },
      judge: { ...validJob("job").spec.judge, preflight: false, pricing },
    });
    // Four step lines, each with its usage: the pace, its projection and the budget's forecast are on the status.
    for (const step of [1, 2, 3, 4]) {
      const report = judgeReport(
        "job-a0-head",
        { requests: 3 * step, promptTokens: 30 * step, completionTokens: 9 * step },
        {
          progress: {
            step,
            totalSteps: 10,
            reward: 0.3,
            rewardMetrics: { accuracy: { training: 0.25, validation: 0.3 } },
            stepSeconds: 60,
            checkpointStep: 2,
            lastUpdateTime: `2026-11-22T10:0${step}:00Z`,
          },
        },
      );
      await eventually(`the report of step ${step} taken`, async () => {
        const r = await fetch(reportURL, {
          method: "POST",
          headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
          body: JSON.stringify(report),
        });
        return r.status === 200;
      });
    }
    const operatorText = await eventually("the job's metrics", async () => {
      const text = await (await fetch(`http://127.0.0.1:${await operator.metricsPort()}/metrics`)).text();
      return text.includes("collab_job_budget_sufficient{") ? text : undefined;
    });

    gateway = await startPair(["--metrics-listen", "127.0.0.1:0"]);
    await gateway.client.chat.completions.create({ model: "judge", messages: [{ role: "user", content: "hi" }] });
    const gatewayText = await (await fetch(`${gateway.gateway.metricsUrl}/metrics`)).text();

    const fromOperator = exportedNames(operatorText);
    const fromGateway = exportedNames(gatewayText);
    const queries = dashboardQueries(readDashboard());
    const used = new Set<string>();
    for (const { where, expr } of queries) {
      const names = metricNames(expr);
      expect(names.length, `${where}: ${expr}`).toBeGreaterThan(0);
      for (const name of names) {
        used.add(name);
        expect(fromOperator.has(name) || fromGateway.has(name), `${where} reads ${name}, which nothing exports`).toBe(
          true,
        );
      }
    }
    // Both sources are read: the operator's per-job, controller and report metrics, and the gateway's.
    for (const name of [
      "collab_job_reward",
      "collab_job_pace_step_cost",
      "collab_job_projected_cost",
      "collab_job_budget_sufficient",
      "collab_jobs",
      "reconcile_total",
      "collab_report_requests_total",
    ]) {
      expect(used.has(name) && fromOperator.has(name), name).toBe(true);
    }
    for (const name of ["gen_ai_client_token_usage_bucket", "collab_gateway_request_duration_seconds_bucket"]) {
      expect(used.has(name) && fromGateway.has(name), name).toBe(true);
    }
  });
});
