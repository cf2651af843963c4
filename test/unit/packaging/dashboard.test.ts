// The chart's Grafana dashboard and the monitors that feed it: the dashboard as the ConfigMap carries it, the queries'
// metric names (the gateway's checked against a scrape of a running gateway here; all of them against a running
// operator and gateway in test/integration/dashboard.test.ts), the PodMonitor and the job pods' metrics ports.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { GATEWAY_METRICS_PORTS } from "../../../src/verl/layout.ts";
import { type Manifest, renderChart, tool } from "../../cluster/tools.ts";
import { type Pair, startPair } from "../gateway/harness.ts";
import { dashboardQueries, exportedNames, metricNames, readDashboard } from "./dashboard-queries.ts";

const MONITORING = ["--api-versions", "monitoring.coreos.com/v1/PodMonitor"];
const render = (args: string[]) => renderChart(args);
const find = (objects: Manifest[], kind: string) => objects.filter((o) => o.kind === kind);

describe("PromQL metric names", () => {
  it.each([
    ["collab_job_reward", ["collab_job_reward"]],
    ['collab_job_phase{namespace="$namespace", job="$job"} == 1', ["collab_job_phase"]],
    ['a / b{x="y{z}"} * 60', ["a", "b"]],
    ['sum by (endpoint, type) (rate(x_total{job="$job"}[$__rate_interval])) * 60', ["x_total"]],
    ["histogram_quantile(0.95, sum by (le, role) (rate(h_bucket[5m])))", ["h_bucket"]],
    ["increase(r_total[1h] offset 1d) > bool 1e3", ["r_total"]],
    ["a and on(job) group_left(phase) b or c unless d", ["a", "b", "c", "d"]],
    ['label_replace(up, "dst", "$1", "src", "(.*)")', ["up"]],
    ["max_over_time(g[10m:1m])", ["g"]],
  ])("%s", (expr, names) => {
    expect(metricNames(expr).sort()).toEqual([...names].sort());
  });

  it("reads a scrape's families, with a histogram's series", () => {
    const text = '# HELP h x\n# TYPE h histogram\nh_bucket{le="1"} 0\n# TYPE c_total counter\n# TYPE g gauge\n';
    expect([...exportedNames(text)].sort()).toEqual(["c_total", "g", "h", "h_bucket", "h_count", "h_sum"]);
  });
});

describe("the Grafana dashboard", () => {
  const dashboard = readDashboard();
  const queries = dashboardQueries(dashboard);

  it("has a query in every panel target, ids once each, one data source variable, and scopes job metrics to $job", () => {
    expect(queries.length).toBeGreaterThan(20);
    const ids = dashboard.panels.map((p: { id: number }) => p.id);
    expect(new Set(ids).size).toBe(ids.length);
    expect(dashboard.uid).toBe("collab-training-job");
    for (const { where, expr } of queries) {
      expect(expr, where).not.toBe("");
      for (const name of metricNames(expr)) {
        if (!/^(collab_job_|collab_gateway_|gen_ai_)/.test(name) || where.startsWith("variable")) continue;
        expect(expr, `${where} reads ${name} for one job`).toContain('namespace="$namespace", job="$job"');
      }
    }
    for (const panel of dashboard.panels.filter((p: { type: string }) => p.type !== "row")) {
      // biome-ignore lint/suspicious/noTemplateCurlyInString: Grafana's variable syntax, not a template string
      expect(panel.datasource, panel.title).toEqual({ type: "prometheus", uid: "${datasource}" });
    }
  });

  describe("gateway metrics", () => {
    let pair: Pair;
    beforeAll(async () => {
      pair = await startPair(["--metrics-listen", "127.0.0.1:0"]);
      await pair.client.chat.completions.create({ model: "judge", messages: [{ role: "user", content: "hi" }] });
    });
    afterAll(async () => pair?.close());

    it("every gateway metric a query reads is one a running gateway exports", async () => {
      // The listener the PodMonitor scrapes, of the same startGateway() that `collab-operator gateway` runs.
      const exported = exportedNames(await (await fetch(`${pair.gateway.metricsUrl}/metrics`)).text());
      const read = queries.flatMap((q) => metricNames(q.expr).map((name) => ({ ...q, name })));
      const gateway = read.filter((q) => /^(collab_gateway_|gen_ai_)/.test(q.name));
      expect(new Set(gateway.map((q) => q.name)).size).toBeGreaterThan(5);
      for (const { where, name } of gateway) expect(exported.has(name), `${where}: ${name}`).toBe(true);
    });
  });
});

describe("chart: dashboard ConfigMap, PodMonitor, job pods' metrics ports", () => {
  beforeAll(() => tool("helm"), 900_000);

  it("renders the dashboard ConfigMap only when asked, with the sidecar's label and the file as it is", () => {
    expect(find(render([]), "ConfigMap")).toEqual([]);
    const [map] = find(
      render([
        "--set",
        "metrics.grafanaDashboard.enabled=true",
        "--set",
        "metrics.grafanaDashboard.annotations.grafana_folder=CollabLLM",
        "--set",
        "metrics.grafanaDashboard.namespace=monitoring",
      ]),
      "ConfigMap",
    ) as [Manifest];
    expect(map.metadata.labels).toMatchObject({ grafana_dashboard: "1" });
    expect(map.metadata.annotations).toEqual({ grafana_folder: "CollabLLM" });
    expect(map.metadata.namespace).toBe("monitoring");
    expect(JSON.parse(map.data["collab-training-job.json"])).toEqual(readDashboard());
  });

  it("renders the PodMonitor only when asked and served, on both gateways' metrics ports, with the job's name", () => {
    expect(find(render(["--set", "metrics.podMonitor.enabled=true"]), "PodMonitor")).toEqual([]);
    expect(find(render(MONITORING), "PodMonitor")).toEqual([]);
    const [monitor] = find(render(["--set", "metrics.podMonitor.enabled=true", ...MONITORING]), "PodMonitor") as [
      Manifest,
    ];
    expect(monitor.spec.podMetricsEndpoints.map((e: { port: string }) => e.port)).toEqual(
      Object.values(GATEWAY_METRICS_PORTS).map((p) => p.name),
    );
    expect(monitor.spec.podMetricsEndpoints[0].relabelings).toEqual([
      { sourceLabels: ["__meta_kubernetes_pod_label_collabllm_io_job_name"], targetLabel: "job" },
    ]);
    expect(monitor.spec.selector.matchLabels).toEqual({ "app.kubernetes.io/managed-by": "collab-operator" });
    expect(monitor.spec.namespaceSelector).toEqual({ any: true });
    const [namespaced] = find(
      render(["--set", "metrics.podMonitor.enabled=true", "--set", "watchNamespaces={team-a}", ...MONITORING]),
      "PodMonitor",
    ) as [Manifest];
    expect(namespaced.spec.namespaceSelector).toEqual({ matchNames: ["team-a"] });
  });

  it("the ServiceMonitor keeps the per-job metrics' own namespace and job labels", () => {
    const args = [
      "--set",
      "metrics.serviceMonitor.enabled=true",
      "--api-versions",
      "monitoring.coreos.com/v1/ServiceMonitor",
    ];
    const [monitor] = find(render(args), "ServiceMonitor") as [Manifest];
    expect(monitor.spec.endpoints[0].honorLabels).toBe(true);
  });

  it("a job pods' NetworkPolicy lets scrapes reach the gateways' metrics ports, from metricsFrom", () => {
    const from = [{ namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": "monitoring" } } }];
    const policies = render([
      "--set",
      "networkPolicy.enabled=true",
      "--set",
      "watchNamespaces={team-a}",
      "--set-json",
      `networkPolicy.metricsFrom=${JSON.stringify(from)}`,
    ]).filter((o) => o.kind === "NetworkPolicy" && o.metadata.namespace === "team-a");
    const rule = policies[0]!.spec.ingress.find((r: { ports?: unknown }) => r.ports);
    expect(rule.ports.map((p: { port: number }) => p.port)).toEqual(
      Object.values(GATEWAY_METRICS_PORTS).map((p) => p.port),
    );
    expect(rule.from).toEqual(from);
  });
});
