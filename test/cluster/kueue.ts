// Kueue on the local control plane, as pure functions of its pinned module's manifests: the manager's configuration
// file, its CRDs with the conversion webhook pointed at loopback, and its webhook configurations with `url:` client
// configs. cluster.ts does the I/O (certificates, kubectl, the process).
import { parseAllDocuments, stringify } from "yaml";

/** Namespaces with this label are the only ones Kueue manages (the rest of the suite never meets its webhooks). */
export const KUEUE_NAMESPACE_LABEL = "collabllm.io/kueue";
/** Kueue's own namespace (its Configuration's `namespace`); nothing runs in it, but Kueue expects it to exist. */
export const KUEUE_NAMESPACE = "kueue-system";

export interface KueueEndpoints {
  webhookPort: number;
  metricsPort: number;
  healthPort: number;
  /** Directory holding tls.crt and tls.key for the webhook server. */
  certDir: string;
}

/**
 * The manager's Configuration (config.kueue.x-k8s.io/v1beta2). Everything on loopback; no leader election; Kueue's
 * internal cert management off (the harness makes the certificates); only the `pod` integration (plain pods and pod
 * groups, what the operator creates); only namespaces labelled KUEUE_NAMESPACE_LABEL=true are managed.
 *
 * waitForPodsReady: on, with a 2-minute timeout (KWOK pods are Ready a second after binding, so only a gang that
 * cannot all start trips it) and short requeue backoff (5 s base, 60 s max instead of 60 s/1 h) so a test that makes
 * a group time out sees it requeued within a test's time. Admission is not blocked while another workload starts
 * (blockAdmission false, Kueue's default): quota alone orders the tests' groups.
 */
export function kueueConfiguration(endpoints: KueueEndpoints): string {
  return stringify({
    apiVersion: "config.kueue.x-k8s.io/v1beta2",
    kind: "Configuration",
    namespace: KUEUE_NAMESPACE,
    health: { healthProbeBindAddress: `127.0.0.1:${endpoints.healthPort}` },
    metrics: { bindAddress: `127.0.0.1:${endpoints.metricsPort}` },
    webhook: { host: "127.0.0.1", port: endpoints.webhookPort, certDir: endpoints.certDir },
    leaderElection: { leaderElect: false },
    internalCertManagement: { enable: false },
    managedJobsNamespaceSelector: { matchLabels: { [KUEUE_NAMESPACE_LABEL]: "true" } },
    waitForPodsReady: {
      timeout: "2m",
      blockAdmission: false,
      requeuingStrategy: { timestamp: "Eviction", backoffBaseSeconds: 5, backoffMaxSeconds: 60 },
    },
    integrations: { frameworks: ["pod"] },
  });
}

export type Manifest = Record<string, any>;

export const documents = (yaml: string): Manifest[] =>
  parseAllDocuments(yaml)
    .map((d) => d.toJS() as Manifest | null)
    .filter((d): d is Manifest => d !== null);

/**
 * Kueue's CRDs as its own kustomization installs them: the CRDs that serve two versions (v1beta1 and v1beta2) convert
 * through the manager's /convert endpoint, here reached by URL instead of through a Service.
 */
export function kueueCrds(
  crdFiles: string[],
  conversionCrds: string[],
  webhookUrl: string,
  caBundle: string,
): Manifest[] {
  return crdFiles.flatMap(documents).map((crd) =>
    conversionCrds.includes(crd.metadata.name)
      ? {
          ...crd,
          spec: {
            ...crd.spec,
            conversion: {
              strategy: "Webhook",
              webhook: { clientConfig: { url: `${webhookUrl}/convert`, caBundle }, conversionReviewVersions: ["v1"] },
            },
          },
        }
      : crd,
  );
}

/** The names of the CRDs Kueue's kustomization patches for conversion (config/components/crd/kustomization.yaml). */
export function conversionCrdNames(kustomization: string, patchFile: (path: string) => string): string[] {
  const k = documents(kustomization)[0] ?? {};
  return ((k.patches ?? []) as { path?: string }[])
    .map((p) => p.path)
    .filter((p): p is string => typeof p === "string" && /webhook_in_/.test(p))
    .flatMap((p) => documents(patchFile(p)))
    .map((patch) => patch.metadata?.name as string);
}

/**
 * Kueue's mutating and validating webhook configurations from its module (config/components/webhook/manifests.yaml),
 * each webhook calling the manager at `webhookUrl` + its path. Webhooks on other API groups than Kueue's own (pods,
 * jobs, deployments...) only see namespaces labelled KUEUE_NAMESPACE_LABEL=true, as managedJobsNamespaceSelector says,
 * so a stopped Kueue never blocks pod creation elsewhere (they fail closed).
 */
export function kueueWebhookConfigurations(manifests: string, webhookUrl: string, caBundle: string): Manifest[] {
  return documents(manifests).map((config) => ({
    ...config,
    metadata: { name: `kueue-${config.metadata.name}` },
    webhooks: (config.webhooks as Manifest[]).map((hook) => {
      const { service, ...rest } = hook.clientConfig;
      const ownGroup = (hook.rules as { apiGroups: string[] }[]).every((r) =>
        r.apiGroups.every((g) => g === "kueue.x-k8s.io"),
      );
      return {
        ...hook,
        clientConfig: { ...rest, url: `${webhookUrl}${service.path}`, caBundle },
        ...(ownGroup ? {} : { namespaceSelector: { matchLabels: { [KUEUE_NAMESPACE_LABEL]: "true" } } }),
      };
    }),
  }));
}

const KUEUE_API = "kueue.x-k8s.io/v1beta2";

/**
 * A ResourceFlavor and a ClusterQueue that offers `quota` of cpu, memory and nvidia.com/gpu in it to every namespace,
 * preempting lower priorities within the queue, and a LocalQueue builder for it: what a test puts jobs behind.
 */
export function kueueQueue(name: string, quota: { cpu: string; memory: string; gpus: string }) {
  const flavor = { apiVersion: KUEUE_API, kind: "ResourceFlavor", metadata: { name: `${name}-flavor` }, spec: {} };
  const clusterQueue = {
    apiVersion: KUEUE_API,
    kind: "ClusterQueue",
    metadata: { name },
    spec: {
      namespaceSelector: {},
      preemption: { withinClusterQueue: "LowerPriority" },
      resourceGroups: [
        {
          coveredResources: ["cpu", "memory", "nvidia.com/gpu"],
          flavors: [
            {
              name: flavor.metadata.name,
              resources: [
                { name: "cpu", nominalQuota: quota.cpu },
                { name: "memory", nominalQuota: quota.memory },
                { name: "nvidia.com/gpu", nominalQuota: quota.gpus },
              ],
            },
          ],
        },
      ],
    },
  };
  const localQueue = (namespace: string, localName: string) => ({
    apiVersion: KUEUE_API,
    kind: "LocalQueue",
    metadata: { name: localName, namespace },
    spec: { clusterQueue: name },
  });
  return { flavor, clusterQueue, localQueue };
}
