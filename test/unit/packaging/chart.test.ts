// helm/collab-operator rendered offline with the pinned helm: lint, the CRD copy, every operator flag reachable
// from values, the schema's refusals, and the objects each mode renders. The chart on a live cluster:
// test/integration/chart.test.ts; its RBAC against the operator's real needs: test/integration/rbac.test.ts.
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { crdYAML } from "../../../src/api/crd.ts";
import { ROOT } from "../../cluster/cluster.ts";
import { CHART, type Manifest, renderChart, run, tool } from "../../cluster/tools.ts";

const render = (args: string[] = [], namespace = "collab-system") => renderChart(args, namespace);

function refused(args: string[]): string {
  try {
    render(args);
  } catch (err) {
    return (err as Error).message;
  }
  throw new Error(`helm template ${args.join(" ")} rendered`);
}

const deployment = (objects: Manifest[]) => objects.find((o) => o.kind === "Deployment") as Manifest;
const container = (objects: Manifest[]) => deployment(objects).spec.template.spec.containers[0];
const envOf = (objects: Manifest[]) =>
  Object.fromEntries(
    (container(objects).env as { name: string; value?: string }[])
      .filter((e) => e.value !== undefined)
      .map((e) => [e.name, e.value]),
  );

/** `collab-operator run --help`: each flag, its kind and its environment variable. */
function operatorFlags(): { flag: string; kind: "n" | "v" | "bool"; env: string }[] {
  const help = execFileSync(process.execPath, [join(ROOT, "src/cli.ts"), "run", "--help"]).toString();
  return [...help.matchAll(/^\s+--([a-z][a-z-]*)(?: <(n|v)>)?\s+(COLLAB_[A-Z_]+)/gm)].map((m) => ({
    flag: m[1] as string,
    kind: (m[2] ?? "bool") as "n" | "v" | "bool",
    env: m[3] as string,
  }));
}

const camel = (flag: string) => flag.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());

/**
 * Where each flag is set in values.yaml: `operator.<flag in camelCase>`, except the namespaces, which also decide
 * the RBAC mode. A value that fits the schema for the flags the schema constrains.
 */
const VALUE_PATH: Record<string, string> = { namespaces: "watchNamespaces" };
const SAMPLE: Record<string, string> = {
  namespaces: "{team-a,team-b}",
  leaderElectionNamespace: "sample-ns",
  leaderElectionId: "sample-id",
  reportBaseUrl: "http://sample.example:9999",
  logLevel: "debug",
};
const EXPECTED: Record<string, string> = { namespaces: "team-a,team-b" };

describe("helm/collab-operator", () => {
  beforeAll(() => tool("helm"), 900_000); // built once from the Go module proxy: minutes when cold
  it("passes helm lint --strict", () => {
    expect(run("helm", ["lint", "--strict", CHART])).toContain("0 chart(s) failed");
  });

  it("ships the CRD the schema generates (run `npm run crd` after changing src/api)", () => {
    expect(readFileSync(join(CHART, "crds/collabllm.io_collabtrainingjobs.yaml"), "utf8")).toBe(crdYAML());
  });

  it("sets every flag of `collab-operator run --help` from a value, as its environment variable", () => {
    const flags = operatorFlags();
    expect(flags.length).toBeGreaterThan(10);
    const set: string[] = ["--set", "replicaCount=1"];
    const expected: Record<string, string> = {};
    for (const { flag, kind, env } of flags) {
      const key = camel(flag);
      const sample = SAMPLE[key] ?? (kind === "n" ? "7" : kind === "bool" ? "false" : `sample-${flag}`);
      set.push(
        kind === "v" && !SAMPLE[key] ? "--set-string" : "--set",
        `${VALUE_PATH[key] ?? `operator.${key}`}=${sample}`,
      );
      expected[env] = EXPECTED[key] ?? sample;
    }
    let objects: Manifest[];
    try {
      objects = render(set);
    } catch (err) {
      throw new Error(`a flag has no chart value (add it to values.yaml and values.schema.json): ${err}`);
    }
    expect(envOf(objects)).toMatchObject(expected);
  });

  it("derives the defaults it documents: namespaces, Lease namespace, gateway image, report URL", () => {
    const env = envOf(render(["--set", "image.tag=1.2.3"], "ops"));
    expect(env).not.toHaveProperty("COLLAB_NAMESPACES");
    expect(env).toMatchObject({
      COLLAB_LEADER_ELECTION_NAMESPACE: "ops",
      COLLAB_OPERATOR_IMAGE: "ghcr.io/collabllm/collab-operator:1.2.3",
      COLLAB_REPORT_BASE_URL: "http://collab-operator.ops.svc:8081",
    });
    const digest = `sha256:${"a".repeat(64)}`;
    expect(container(render(["--set", `image.digest=${digest}`])).image).toBe(
      `ghcr.io/collabllm/collab-operator@${digest}`,
    );
  });

  it.each([
    [["--set", "replicaCount=0"], "replicaCount"],
    [["--set", "operator.logLevel=loud"], "logLevel"],
    [["--set", "operator.workers=0"], "workers"],
    [["--set", "bogus=1"], "bogus"],
    [["--set", "operator.bogus=1"], "bogus"],
    [["--set", "watchNamespaces[0]=Not_A_Namespace"], "watchNamespaces"],
    [["--set", "image.digest=latest"], "digest"],
    [["--set", "operator.reportBaseUrl=collab-operator:8081"], "reportBaseUrl"],
  ])("values.schema.json refuses %j, naming %s", (args, field) => {
    expect(refused(args)).toContain(field);
  });

  it("refuses two replicas without leader election", () => {
    expect(refused(["--set", "operator.leaderElect=false"])).toContain("leaderElect");
    expect(deployment(render(["--set", "operator.leaderElect=false", "--set", "replicaCount=1"]))).toBeDefined();
  });

  it("runs two replicas under a restricted securityContext, probes on the health port, a writable /tmp only", () => {
    const objects = render();
    const pod = deployment(objects).spec.template.spec;
    expect(deployment(objects).spec.replicas).toBe(2);
    expect(pod.securityContext).toMatchObject({
      runAsNonRoot: true,
      runAsUser: 65532,
      seccompProfile: { type: "RuntimeDefault" },
    });
    expect(pod.containers[0].securityContext).toEqual({
      allowPrivilegeEscalation: false,
      readOnlyRootFilesystem: true,
      capabilities: { drop: ["ALL"] },
    });
    expect(pod.containers[0].args).toEqual(["run"]);
    expect(pod.containers[0].livenessProbe.httpGet).toEqual({ path: "/healthz", port: "metrics" });
    expect(pod.containers[0].readinessProbe.httpGet).toEqual({ path: "/readyz", port: "metrics" });
    expect(pod.containers[0].volumeMounts).toEqual([{ name: "tmp", mountPath: "/tmp" }]);
    expect(pod.containers[0].resources.requests).toBeDefined();
    const fieldRefs = pod.containers[0].env.filter((e: any) => e.valueFrom).map((e: any) => e.name);
    expect(fieldRefs).toEqual(["POD_NAME", "POD_NAMESPACE", "POD_IP"]);
  });

  it("has a PodDisruptionBudget only when there is a replica to spare", () => {
    expect(render().find((o) => o.kind === "PodDisruptionBudget")?.spec).toMatchObject({ minAvailable: 1 });
    expect(render(["--set", "replicaCount=1"]).some((o) => o.kind === "PodDisruptionBudget")).toBe(false);
  });

  it("renders the ServiceMonitor only when asked and the cluster serves the API", () => {
    const monitor = (args: string[]) => render(args).some((o) => o.kind === "ServiceMonitor");
    expect(monitor(["--set", "metrics.serviceMonitor.enabled=true"])).toBe(false);
    expect(
      monitor([
        "--set",
        "metrics.serviceMonitor.enabled=true",
        "--api-versions",
        "monitoring.coreos.com/v1/ServiceMonitor",
      ]),
    ).toBe(true);
    expect(monitor(["--api-versions", "monitoring.coreos.com/v1/ServiceMonitor"])).toBe(false);
  });

  it("cluster-wide mode: one ClusterRole; namespaced mode: a Role per watched namespace and nothing cluster-wide", () => {
    const clusterWide = render();
    const rules = clusterWide.find((o) => o.kind === "ClusterRole")?.rules;
    expect(rules.length).toBeGreaterThan(3);
    expect(clusterWide.filter((o) => o.kind === "Role").map((o) => o.metadata.name)).toEqual([
      "collab-operator-leader-election",
    ]);
    const namespaced = render(["--set", "watchNamespaces={team-a,team-b}"]);
    expect(namespaced.some((o) => o.kind.startsWith("Cluster"))).toBe(false);
    const roles = namespaced.filter((o) => o.kind === "Role" && o.metadata.name === "collab-operator");
    expect(roles.map((r) => r.metadata.namespace)).toEqual(["team-a", "team-b"]);
    // The same rules, but for what only cluster-wide mode may read: cluster-scoped PriorityClasses.
    const namespacedRules = rules.filter((r: { resources: string[] }) => !r.resources.includes("priorityclasses"));
    expect(namespacedRules.length).toBe(rules.length - 1);
    for (const role of roles) expect(role.rules).toEqual(namespacedRules);
    const bindings = namespaced.filter((o) => o.kind === "RoleBinding");
    expect(bindings.map((b) => `${b.metadata.namespace}/${b.roleRef.name}`).sort()).toEqual([
      "collab-system/collab-operator-leader-election",
      "team-a/collab-operator",
      "team-b/collab-operator",
    ]);
    for (const b of bindings) {
      expect(b.subjects).toEqual([{ kind: "ServiceAccount", name: "collab-operator", namespace: "collab-system" }]);
    }
  });

  it("NetworkPolicy, when enabled: the report port only from job pods and the other replica; job pods fenced", () => {
    expect(render().some((o) => o.kind === "NetworkPolicy")).toBe(false);
    const policies = render(["--set", "networkPolicy.enabled=true", "--set", "watchNamespaces={team-a}"]).filter(
      (o) => o.kind === "NetworkPolicy",
    );
    expect(policies.map((p) => p.metadata.namespace)).toEqual(["collab-system", "team-a"]);
    const [operator, jobs] = policies as [Manifest, Manifest];
    const report = operator.spec.ingress.find((r: any) => r.ports[0].port === 8081);
    expect(report.from[0]).toMatchObject({
      namespaceSelector: {},
      podSelector: { matchLabels: { "app.kubernetes.io/managed-by": "collab-operator" } },
    });
    expect(jobs.spec.policyTypes).toEqual(["Ingress", "Egress"]);
    expect(jobs.spec.egress.some((r: any) => r.ports?.[0]?.port === 8081)).toBe(true);
    expect(jobs.spec.egress.some((r: any) => r.ports?.[0]?.port === 443)).toBe(true);
  });
});
