// What GitOps tools see on the local control plane. A job manifest from Git, re-applied after the operator ran it
// (the apiserver defaulted its spec, the operator wrote its status), shows no drift: with client-side apply (Argo
// CD's default), server-side apply under another field manager (Flux, Argo CD with ServerSideApply), and `kubectl
// diff` either way; the operator never writes spec. And a CRD newer than the running operator (a new optional field,
// with a default, on stored jobs) neither breaks nor fails a running job: docs/install.md, "Upgrades".
import { execFile } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { parse, stringify } from "yaml";
import { childName } from "../../src/children/meta.ts";
import { KUBECONFIG, ROOT } from "../cluster/cluster.ts";
import { run, tool } from "../cluster/tools.ts";
import { testNamespace } from "./kube.ts";
import {
  condition,
  createJob,
  createSecret,
  eventually,
  finishPod,
  getJob,
  startOperator,
  waitForPhase,
  waitRunning,
} from "./operator.ts";

/** kubectl's exit code and output (diff exits 1 when it finds a difference). */
function kubectl(args: string[]): Promise<{ code: number; out: string }> {
  return new Promise((resolve) => {
    execFile(tool("kubectl"), args, { env: { ...process.env, KUBECONFIG } }, (err, stdout, stderr) =>
      resolve({ code: err ? ((err as { code?: number }).code ?? 2) : 0, out: `${stdout}${stderr}` }),
    );
  });
}

/** A job as it would sit in Git: only what its author chose, every default left to the CRD. */
function manifest(namespace: string): string {
  return stringify({
    apiVersion: "collabllm.io/v1alpha1",
    kind: "CollabTrainingJob",
    metadata: { name: "from-git", namespace, labels: { team: "ml" } },
    spec: {
      model: "Qwen/Qwen2.5-7B-Instruct",
      dataset: { source: "collabllm/collabllm-multiturn-math-hard", taskDescription: "solving math problems" },
      resources: { nodes: 2, gpusPerNode: 1 },
      // KWOK runs no preflight container (preflight.test.ts plays it): this job goes without.
      userSimulator: {
        model: "gpt-4o-mini",
        apiKeySecretRef: { name: "llm-keys", key: "OPENAI_API_KEY" },
        preflight: false,
      },
      judge: { model: "gpt-4o-mini", apiKeySecretRef: { name: "llm-keys", key: "OPENAI_API_KEY" }, preflight: false },
      reward: { metrics: { accuracy: 1, interactivity: 1, token_amount: -0.0001 } },
      storage: { size: "50Gi" },
    },
  });
}

describe("GitOps", () => {
  it("re-applying the Git manifest after the operator ran the job shows no drift, by any apply", async () => {
    const ns = await testNamespace("drift");
    const file = join(tmpdir(), `${ns}-job.yaml`);
    writeFileSync(file, manifest(ns));
    await createSecret(ns);
    startOperator(ns);
    expect((await kubectl(["apply", "-f", file])).code).toBe(0);
    await finishPod(ns, childName.pod("from-git", "prepare", 0), "Succeeded");
    await waitRunning(ns, childName.pod("from-git", "head", 0));
    const training = await waitForPhase(ns, "from-git", "Training");
    expect(training.spec.rl).toBeDefined(); // the apiserver filled in the defaults the manifest left out

    const noDrift = async (...args: string[]) => {
      const diff = await kubectl(["diff", ...args, "-f", file]);
      expect(diff, diff.out).toMatchObject({ code: 0 });
    };
    await noDrift();
    await noDrift("--server-side", "--field-manager=argocd-controller");
    expect((await kubectl(["apply", "-f", file])).out).toContain("unchanged");
    const ssa = await kubectl(["apply", "--server-side", "--field-manager=kustomize-controller", "-f", file]);
    expect(ssa.out).toContain("serverside-applied");
    await noDrift("--server-side", "--field-manager=kustomize-controller");
    await noDrift();

    // The spec is still the one the user wrote (generation 1); the operator's managers own status fields only.
    const job = JSON.parse(run("kubectl", ["get", "-n", ns, "ctj/from-git", "-o", "json", "--show-managed-fields"]));
    expect(job.metadata.generation).toBe(1);
    const operatorManagers = job.metadata.managedFields.filter((m: { manager: string }) =>
      m.manager.startsWith("collab-operator"),
    );
    expect(operatorManagers.length).toBeGreaterThan(0);
    for (const m of operatorManagers) {
      expect(m.subresource, m.manager).toBe("status");
      expect(Object.keys(m.fieldsV1), m.manager).toEqual(["f:status"]);
    }
  });

  it("a newer CRD (a new defaulted field on stored jobs) neither breaks nor fails running jobs", async () => {
    const ns = await testNamespace("upgrade");
    startOperator(ns, { resyncSeconds: 2 });
    await createJob(ns, "running", { spec: { resources: { nodes: 2, gpusPerNode: 1 } } });
    await finishPod(ns, childName.pod("running", "prepare", 0), "Succeeded");
    await waitForPhase(ns, "running", "Training");

    const crdFile = join(ROOT, "crds/collabllm.io_collabtrainingjobs.yaml");
    const newer = parse(readFileSync(crdFile, "utf8"));
    const schema = newer.spec.versions[0].schema.openAPIV3Schema.properties;
    schema.spec.properties.futureOption = {
      type: "object",
      default: {},
      properties: { enabled: { type: "boolean", default: false } },
      description: "A field of a newer release.",
    };
    schema.status.properties.futureStatus = { type: "string" };
    run("kubectl", ["apply", "--server-side", "--force-conflicts", "-f", "-"], stringify(newer));
    try {
      // Stored jobs now read with the new field's default; the running one goes on (resyncs every 2 s).
      await eventually("the newer CRD's default on the stored job", async () => {
        const job = await getJob(ns, "running");
        return (job.spec as { futureOption?: unknown }).futureOption !== undefined;
      });
      await new Promise((r) => setTimeout(r, 5000));
      const running = await getJob(ns, "running");
      expect(running.status?.phase).toBe("Training");
      expect(condition(running, "Stalled")?.status).toBe("False");
      // A job that sets the new field runs too; the operator ignores what it does not know.
      await createJob(ns, "newer", {
        spec: { resources: { nodes: 2, gpusPerNode: 1 }, futureOption: { enabled: true } },
      });
      await finishPod(ns, childName.pod("newer", "prepare", 0), "Succeeded");
      await waitForPhase(ns, "newer", "Training");
      await finishPod(ns, childName.pod("running", "head", 0), "Succeeded");
      await waitForPhase(ns, "running", "Succeeded");
    } finally {
      run("kubectl", ["apply", "--server-side", "--force-conflicts", "-f", crdFile]);
    }
  }, 180_000);
});
