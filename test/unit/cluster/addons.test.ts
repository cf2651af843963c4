import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import { karpenterInstanceTypes } from "../../cluster/karpenter.ts";
import {
  conversionCrdNames,
  KUEUE_NAMESPACE_LABEL,
  kueueConfiguration,
  kueueCrds,
  kueueWebhookConfigurations,
} from "../../cluster/kueue.ts";

const URL = "https://127.0.0.1:18600";

describe("Kueue manifests for the local cluster", () => {
  it("points every webhook at loopback and fences off only the non-Kueue kinds by namespace label", () => {
    const manifests = `
apiVersion: admissionregistration.k8s.io/v1
kind: MutatingWebhookConfiguration
metadata: {name: mutating-webhook-configuration}
webhooks:
- name: mpod.kb.io
  clientConfig: {service: {name: webhook-service, namespace: system, path: /mutate--v1-pod}}
  rules: [{apiGroups: [""], apiVersions: [v1], operations: [CREATE], resources: [pods]}]
- name: mclusterqueue.kb.io
  clientConfig: {service: {name: webhook-service, namespace: system, path: /mutate-kueue-x-k8s-io-v1beta2-clusterqueue}}
  rules: [{apiGroups: [kueue.x-k8s.io], apiVersions: [v1beta2], operations: [CREATE], resources: [clusterqueues]}]
`;
    const [config] = kueueWebhookConfigurations(manifests, URL, "Q0E=");
    expect(config?.metadata).toEqual({ name: "kueue-mutating-webhook-configuration" });
    const [pod, queue] = config!.webhooks;
    expect(pod.clientConfig).toEqual({ url: `${URL}/mutate--v1-pod`, caBundle: "Q0E=" });
    expect(pod.namespaceSelector).toEqual({ matchLabels: { [KUEUE_NAMESPACE_LABEL]: "true" } });
    expect(queue.clientConfig.url).toBe(`${URL}/mutate-kueue-x-k8s-io-v1beta2-clusterqueue`);
    expect(queue.namespaceSelector).toBeUndefined();
  });

  it("converts through /convert exactly the CRDs the kustomization patches", () => {
    const kustomization =
      "patches:\n- path: patches/webhook_in_workloads.yaml\n- path: patches/cainjection_in_x.yaml\n";
    const patches: Record<string, string> = {
      "patches/webhook_in_workloads.yaml": "metadata: {name: workloads.kueue.x-k8s.io}",
    };
    const names = conversionCrdNames(kustomization, (p) => patches[p] ?? "");
    expect(names).toEqual(["workloads.kueue.x-k8s.io"]);
    const crds = kueueCrds(
      [
        "metadata: {name: workloads.kueue.x-k8s.io}\nspec: {group: kueue.x-k8s.io}",
        "metadata: {name: topologies.kueue.x-k8s.io}\nspec: {}",
      ],
      names,
      URL,
      "Q0E=",
    );
    expect(crds[0]?.spec.conversion).toEqual({
      strategy: "Webhook",
      webhook: { clientConfig: { url: `${URL}/convert`, caBundle: "Q0E=" }, conversionReviewVersions: ["v1"] },
    });
    expect(crds[0]?.spec.group).toBe("kueue.x-k8s.io");
    expect(crds[1]?.spec.conversion).toBeUndefined();
  });

  it("configures loopback endpoints, opt-in namespaces and the pod integration only", () => {
    const config = parse(kueueConfiguration({ webhookPort: 1, metricsPort: 2, healthPort: 3, certDir: "/c" }));
    expect(config.webhook).toEqual({ host: "127.0.0.1", port: 1, certDir: "/c" });
    expect(config.metrics.bindAddress).toBe("127.0.0.1:2");
    expect(config.health.healthProbeBindAddress).toBe("127.0.0.1:3");
    expect(config.managedJobsNamespaceSelector).toEqual({ matchLabels: { [KUEUE_NAMESPACE_LABEL]: "true" } });
    expect(config.integrations.frameworks).toEqual(["pod"]);
    expect(config.internalCertManagement.enable).toBe(false);
  });
});

describe("Karpenter instance types", () => {
  it("offers the fleet's H100 and A100 shapes with 8 GPUs and the product label", () => {
    const types = JSON.parse(karpenterInstanceTypes());
    expect(types.map((t: any) => t.name)).toEqual(["p5.48xlarge", "p4de.24xlarge"]);
    for (const t of types) expect(t.resources["nvidia.com/gpu"]).toBe("8");
    const products = types.map(
      (t: any) => t.offerings[0].Requirements.find((r: any) => r.key === "nvidia.com/gpu.product").values[0],
    );
    expect(products).toEqual(["NVIDIA-H100-80GB-HBM3", "NVIDIA-A100-SXM4-80GB"]);
  });
});
