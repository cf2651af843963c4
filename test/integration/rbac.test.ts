// The chart's RBAC is exactly what the operator uses. The real operator runs out of cluster while impersonating the
// chart's ServiceAccount, bound by the chart's own rendered Roles, and passes the core scenario in both modes
// (cluster-wide, and namespaced via watchNamespaces). Then every verb of every rule the chart renders is removed in
// turn, each in a fresh install: the scenario must fail every time. So a rule the code stops needing fails this
// test, and so does a resource or verb the code starts using before the chart grants it (helm/collab-operator/
// templates/_helpers.tpl, "collab-operator.rules", is the one place to add it).
import { randomBytes } from "node:crypto";
import { readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parse, stringify } from "yaml";
import { KUBECONFIG, up } from "../cluster/cluster.ts";
import { type Manifest, renderChart, run } from "../cluster/tools.ts";
import { coreScenario } from "./core-scenario.ts";
import { testNamespace } from "./kube.ts";
import { eventually, startOperator } from "./operator.ts";

interface Rule {
  apiGroups: string[];
  resources: string[];
  resourceNames?: string[];
  verbs: string[];
}

const RBAC_KINDS = new Set(["ServiceAccount", "Role", "RoleBinding", "ClusterRole", "ClusterRoleBinding"]);
const LEASE_ID = "collab-operator"; // the chart's default operator.leaderElectionId
const clusterScoped: string[] = [];

// Kueue's API served, so the operator watches its Workloads and the rules for them are exercised (the native
// PodGroup API is always served by the local cluster).
beforeAll(async () => {
  await up({ kueue: true });
}, 900_000);

afterAll(() => {
  if (clusterScoped.length > 0) run("kubectl", ["delete", "--ignore-not-found", ...clusterScoped]);
});

/** The chart's RBAC objects for a release in `operatorNs` watching `jobNs` (or everything). */
function rbacObjects(release: string, operatorNs: string, jobNs: string | undefined): Manifest[] {
  const args = jobNs ? ["--set", `watchNamespaces={${jobNs}}`] : [];
  return renderChart(args, operatorNs, release).filter((o) => RBAC_KINDS.has(o.kind));
}

/** Every (object, rule, resource, verb) the rendered roles grant. */
function grants(objects: Manifest[]) {
  return objects.flatMap((o, object) =>
    o.kind.endsWith("Role")
      ? (o.rules as Rule[]).flatMap((r, rule) =>
          r.resources.flatMap((resource) => r.verbs.map((verb) => ({ object, rule, resource, verb, kind: o.kind }))),
        )
      : [],
  );
}

/** The rules without one verb on one resource (the rest of that rule stays). */
function without(rules: Rule[], index: number, resource: string, verb: string): Rule[] {
  const r = rules[index] as Rule;
  const others = r.resources.filter((x) => x !== resource);
  const verbs = r.verbs.filter((v) => v !== verb);
  return [
    ...rules.slice(0, index),
    ...(others.length > 0 ? [{ ...r, resources: others }] : []),
    ...(verbs.length > 0 ? [{ ...r, resources: [resource], verbs }] : []),
    ...rules.slice(index + 1),
  ];
}

/** A kubeconfig of the local cluster's admin that impersonates a ServiceAccount (the operator's identity in a pod). */
function impersonating(namespace: string, serviceAccount: string): string {
  const config = parse(readFileSync(KUBECONFIG, "utf8"));
  for (const user of config.users) user.user.as = `system:serviceaccount:${namespace}:${serviceAccount}`;
  const path = join(tmpdir(), `kubeconfig-${namespace}-${serviceAccount}`);
  writeFileSync(path, stringify(config));
  return path;
}

/** Installs the chart's RBAC (changed by `edit`), runs the operator as its ServiceAccount through the scenario. */
async function scenarioAs(mode: "cluster-wide" | "namespaced", edit?: (objects: Manifest[]) => void): Promise<void> {
  const release = `r${randomBytes(3).toString("hex")}`;
  const operatorNs = await testNamespace("rbac-op");
  const jobNs = await testNamespace("rbac-job");
  const objects = rbacObjects(release, operatorNs, mode === "namespaced" ? jobNs : undefined);
  edit?.(objects);
  for (const o of objects.filter((x) => x.kind.startsWith("Cluster")))
    clusterScoped.push(`${o.kind}/${o.metadata.name}`);
  run("kubectl", ["apply", "-f", "-"], objects.map((o) => stringify(o)).join("---\n"));
  const sa = objects.find((o) => o.kind === "ServiceAccount")?.metadata.name as string;
  // RBAC takes effect once the apiserver's authorizer has seen the bindings.
  await eventually("bindings in effect", async () => {
    const out = run("kubectl", [
      "auth",
      "can-i",
      "--list",
      "-n",
      jobNs,
      `--as=system:serviceaccount:${operatorNs}:${sa}`,
    ]);
    return out.includes("collabtrainingjobs") || out.includes("events");
  });
  const operator = startOperator(mode === "namespaced" ? jobNs : "", {
    leaderElect: true,
    leaseNamespace: operatorNs,
    kubeconfig: impersonating(operatorNs, sa),
    identity: release,
  });
  await coreScenario({ namespace: jobNs, operator, lease: { namespace: operatorNs, name: LEASE_ID } });
}

describe("the chart's RBAC, with the operator impersonating its ServiceAccount", () => {
  it.each(["cluster-wide", "namespaced"] as const)(
    "%s: the core scenario passes",
    async (mode) => {
      await scenarioAs(mode);
    },
    240_000,
  );

  it("fails the core scenario when any single verb of any rule is removed", async () => {
    const all = grants(rbacObjects("x", "op", "jobs"));
    expect(all.length).toBeGreaterThan(15);
    const passed: string[] = [];
    const why: string[] = [];
    // A few at a time: each variant is an operator process, and most fail within seconds of needing the verb.
    const queue = [...all];
    await Promise.all(
      Array.from({ length: 8 }, async () => {
        for (let g = queue.shift(); g; g = queue.shift()) {
          const name = `${g.kind} ${g.resource} ${g.verb}`;
          const { object, rule, resource, verb } = g;
          try {
            await scenarioAs("namespaced", (objects) => {
              const role = objects[object] as Manifest;
              role.rules = without(role.rules, rule, resource, verb);
            });
            passed.push(name);
          } catch (err) {
            why.push(`${name}: ${String(err).slice(0, 160)}`);
          }
        }
      }),
    );
    expect(passed, `passed without:\n${passed.join("\n")}\nfailed as expected:\n${why.join("\n")}`).toEqual([]);
  }, 900_000);
});
