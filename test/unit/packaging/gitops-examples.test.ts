// examples/gitops/: the Argo CD health check in argocd-cm is the chart's script, byte for byte (the one the health
// tests run); the Application and the Kustomization are well-formed and never prune jobs.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { parse, parseAllDocuments } from "yaml";
import { ROOT } from "../../cluster/cluster.ts";
import { ARGOCD_HEALTH, FLUX_KUSTOMIZATION } from "../../cluster/tools.ts";

const EXAMPLES = join(ROOT, "examples/gitops");
const KEY = "resource.customizations.health.collabllm.io_CollabTrainingJob";

describe("examples/gitops", () => {
  it("argocd-cm.yaml carries the chart's health script under Argo CD's key for the kind", () => {
    const cm = parse(readFileSync(join(EXAMPLES, "argocd-cm.yaml"), "utf8"));
    expect(cm).toMatchObject({ kind: "ConfigMap", metadata: { name: "argocd-cm", namespace: "argocd" } });
    expect(cm.data[KEY]).toBe(readFileSync(ARGOCD_HEALTH, "utf8"));
    expect(Object.keys(cm.data)).toEqual([KEY]); // no useOpenLibs: the script needs none
  });

  it("the Argo CD Application syncs jobs without pruning them", () => {
    const app = parse(readFileSync(join(EXAMPLES, "argocd-application.yaml"), "utf8"));
    expect(app).toMatchObject({ apiVersion: "argoproj.io/v1alpha1", kind: "Application" });
    expect(app.spec.syncPolicy.automated.prune).toBe(false);
  });

  it("the Flux Kustomization waits on CollabTrainingJobs with health expressions, without pruning them", () => {
    const docs = parseAllDocuments(readFileSync(FLUX_KUSTOMIZATION, "utf8")).map((d) => d.toJS());
    const kustomization = docs.find((d) => d.kind === "Kustomization");
    expect(kustomization).toMatchObject({
      apiVersion: "kustomize.toolkit.fluxcd.io/v1",
      spec: { prune: false, wait: true, sourceRef: { kind: "GitRepository", name: "training" } },
    });
    expect(docs.some((d) => d.kind === "GitRepository" && d.metadata.name === "training")).toBe(true);
    expect(kustomization.spec.healthCheckExprs).toEqual([
      expect.objectContaining({ apiVersion: "collabllm.io/v1alpha1", kind: "CollabTrainingJob" }),
    ]);
  });
});
