// A CRD newer than the operator, as during an upgrade or a rollback: jobs stored with fields this operator does not
// know are reconciled; a job whose known fields it cannot use fails with phase Failed and a Failed condition that
// `kubectl wait --for=condition=Failed` sees. The newer CRD is this repository's with fields added; the real one is
// put back afterwards (integration files run one at a time).
import { execFile } from "node:child_process";
import { join } from "node:path";
import { promisify } from "node:util";
import { PatchStrategy, setHeaderOptions } from "@kubernetes/client-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { stringify } from "yaml";
import { collabTrainingJobCRD } from "../../src/api/crd.ts";
import { binaries, KUBECONFIG, kubectl, ROOT } from "../cluster/cluster.ts";
import { validJob } from "../fixtures/invalid-jobs.ts";
import { custom, testNamespace } from "./kube.ts";
import {
  condition,
  createJob,
  eventually,
  getJob,
  jobApi,
  startOperator,
  waitForPhase,
  waitRunning,
} from "./operator.ts";

const run = promisify(execFile);

/** This operator's CRD plus what a later version might add: new fields in spec and status, and new enum values. */
function newerCRD() {
  const crd = collabTrainingJobCRD() as any;
  const schema = crd.spec.versions[0].schema.openAPIV3Schema.properties;
  schema.spec.properties.futureField = { type: "string" };
  schema.spec.properties.rl.properties.futureKnob = { type: "integer" };
  schema.spec.properties.runtime.properties.verl.enum.push("0.7.0");
  schema.status.properties.futureStatus = { type: "object", "x-kubernetes-preserve-unknown-fields": true };
  schema.status.properties.phase.enum.push("Hibernating");
  return crd;
}

describe("a CRD newer than the operator", () => {
  let bin: string;
  let ns: string;

  beforeAll(async () => {
    bin = binaries();
    const crd = newerCRD();
    kubectl(bin, ["apply", "--server-side", "--force-conflicts", "-f", "-"], stringify(crd));
    ns = await testNamespace("skew");
    // The apiserver takes the new schema a moment after the CRD changes.
    await eventually("the newer schema served", async () => {
      const body = { ...validJob("probe"), metadata: { name: "probe", namespace: ns } };
      (body.spec as Record<string, unknown>).futureField = "x";
      const created = (await custom.createNamespacedCustomObject({
        ...jobApi,
        namespace: ns,
        body,
        dryRun: "All",
      })) as any;
      return created.spec.futureField === "x";
    });
  });

  afterAll(() => {
    kubectl(bin, ["apply", "--server-side", "--force-conflicts", "-f", join(ROOT, "crds")]);
  });

  it("reconciles a job with spec and status fields it does not know", async () => {
    await createJob(ns, "newer", { spec: { futureField: "from a later version", rl: { futureKnob: 3 } } });
    await custom.patchNamespacedCustomObjectStatus(
      {
        ...jobApi,
        namespace: ns,
        name: "newer",
        body: { status: { phase: "Hibernating", futureStatus: { restarts: 2 } } },
      },
      setHeaderOptions("Content-Type", PatchStrategy.MergePatch),
    );
    startOperator(ns);
    await waitRunning(ns, "newer-a0-prepare");
    const job = await waitForPhase(ns, "newer", "Preparing");
    expect(condition(job, "Failed")).toBeUndefined();
    expect(job.spec.futureField).toBe("from a later version");
    expect((job.status as any).futureStatus).toEqual({ restarts: 2 });
  });

  it("fails a job whose known fields it cannot use, with a Failed condition kubectl wait sees", async () => {
    await createJob(ns, "unusable", { spec: { runtime: { verl: "0.7.0" } } });
    await custom.patchNamespacedCustomObjectStatus(
      { ...jobApi, namespace: ns, name: "unusable", body: { status: { futureStatus: { note: "theirs" } } } },
      setHeaderOptions("Content-Type", PatchStrategy.MergePatch),
    );
    startOperator(ns);
    const { stdout } = await run(
      join(bin, "kubectl"),
      ["--kubeconfig", KUBECONFIG, "wait", "-n", ns, "--for=condition=Failed", "--timeout=30s", "ctj/unusable"],
      { encoding: "utf8" },
    );
    expect(stdout).toContain("condition met");
    const job = await getJob(ns, "unusable");
    expect(job.status?.phase).toBe("Failed");
    expect(condition(job, "Failed")).toMatchObject({ status: "True", reason: "InvalidSpec" });
    expect(condition(job, "Failed")?.message).toContain("spec.runtime.verl");
    // The status write says only what this operator knows: the newer version's field stays, and stays theirs.
    expect((job.status as any).futureStatus).toEqual({ note: "theirs" });
    const managed = (job.metadata as any).managedFields as { manager: string; fieldsV1?: object }[];
    const mine = managed.filter((m) => m.manager === "collab-operator-status");
    expect(mine).not.toHaveLength(0);
    expect(JSON.stringify(mine)).not.toContain("futureStatus");
  });
});
