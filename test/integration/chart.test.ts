// helm/collab-operator on the local control plane with the pinned helm: every object it renders passes the
// apiserver's dry run in both RBAC modes; `helm install` brings the Deployment to Available (KWOK runs the pods);
// `helm upgrade` switches modes and leaves the CRD alone; `helm uninstall` leaves exactly what docs/install.md says.
import { randomBytes } from "node:crypto";
import { describe, expect, it } from "vitest";
import { stringify } from "yaml";
import { CHART, renderChart, run } from "../cluster/tools.ts";
import { testNamespace } from "./kube.ts";
import { createJob, eventually, getJob } from "./operator.ts";

const kubectlJSON = (args: string[]) => JSON.parse(run("kubectl", [...args, "-o", "json"]));
const exists = (args: string[]) => {
  try {
    run("kubectl", ["get", ...args]);
    return true;
  } catch {
    return false;
  }
};

describe("helm/collab-operator on a cluster", () => {
  it.each([
    ["cluster-wide", [] as string[]],
    [
      "namespaced, with NetworkPolicy",
      ["--set", "networkPolicy.enabled=true", "--set", "metrics.grafanaDashboard.enabled=true"],
    ],
  ])("%s: every rendered object passes `kubectl apply --dry-run=server`", async (mode, args) => {
    const ns = await testNamespace("chart");
    const watched = await testNamespace("chart-jobs");
    const extra = mode.startsWith("namespaced") ? ["--set", `watchNamespaces={${watched}}`, ...args] : args;
    const objects = renderChart(extra, ns, `dry${randomBytes(3).toString("hex")}`);
    const out = run(
      "kubectl",
      ["apply", "--dry-run=server", "-f", "-"],
      objects.map((o) => stringify(o)).join("---\n"),
    );
    expect(out.trim().split("\n")).toHaveLength(objects.length);
    expect(out).toContain("(server dry run)");
  });

  it("installs to an Available Deployment, upgrades across RBAC modes without touching the CRD, uninstalls", async () => {
    const ns = await testNamespace("chart");
    const watched = await testNamespace("chart-jobs");
    const release = `it${randomBytes(3).toString("hex")}`;
    const name = `${release}-collab-operator`;
    const crdVersion = () =>
      kubectlJSON(["get", "crd", "collabtrainingjobs.collabllm.io"]).metadata.resourceVersion as string;
    const before = crdVersion();

    run("helm", ["install", release, CHART, "-n", ns, "--wait", "--timeout", "120s"]);
    const available = (deployment: any) =>
      deployment.status?.conditions?.some((c: any) => c.type === "Available" && c.status === "True") &&
      deployment.status?.readyReplicas === 2;
    expect(available(kubectlJSON(["get", "deployment", name, "-n", ns]))).toBe(true);
    expect(exists(["clusterrole", name])).toBe(true);
    expect(exists(["pdb", name, "-n", ns])).toBe(true);
    expect(kubectlJSON(["get", "service", name, "-n", ns]).spec.ports.map((p: any) => p.name)).toEqual([
      "metrics",
      "report",
    ]);

    run("helm", [
      "upgrade",
      release,
      CHART,
      "-n",
      ns,
      "--set",
      `watchNamespaces={${watched}}`,
      "--set",
      "operator.workers=8",
      "--wait",
      "--timeout",
      "120s",
    ]);
    const deployment = kubectlJSON(["get", "deployment", name, "-n", ns]);
    const env = Object.fromEntries(deployment.spec.template.spec.containers[0].env.map((e: any) => [e.name, e.value]));
    expect(env).toMatchObject({ COLLAB_WORKERS: "8", COLLAB_NAMESPACES: watched });
    await eventually("the upgraded Deployment Available", async () =>
      available(kubectlJSON(["get", "deployment", name, "-n", ns])),
    );
    expect(exists(["clusterrole", name])).toBe(false);
    expect(exists(["role", name, "-n", watched])).toBe(true);
    expect(crdVersion()).toBe(before); // helm never upgrades CRDs: docs/install.md says to apply them first

    await createJob(watched, "survivor");
    run("helm", ["uninstall", release, "-n", ns, "--wait", "--timeout", "120s"]);
    for (const gone of [
      ["deployment", name, "-n", ns],
      ["service", name, "-n", ns],
      ["serviceaccount", name, "-n", ns],
      ["pdb", name, "-n", ns],
      ["role", name, "-n", watched],
      ["rolebinding", name, "-n", watched],
      ["role", `${name}-leader-election`, "-n", ns],
    ]) {
      await eventually(`${gone.join(" ")} deleted`, async () => !exists(gone));
    }
    // What stays: the CRD (helm never deletes CRDs) and so every job, with whatever it had made.
    expect(crdVersion()).toBe(before);
    expect((await getJob(watched, "survivor")).metadata.name).toBe("survivor");
  }, 300_000);
});
