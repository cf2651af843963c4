// Clients for the local control plane and a namespace per test, so tests never see each other's objects.
import { randomBytes } from "node:crypto";
import { ApiException, CoreV1Api, CustomObjectsApi, KubeConfig } from "@kubernetes/client-node";
import { afterAll, expect, onTestFinished } from "vitest";
import { KUBECONFIG } from "../cluster/cluster.ts";

export function kubeConfig(): KubeConfig {
  const kc = new KubeConfig();
  kc.loadFromFile(KUBECONFIG);
  return kc;
}

export const kc = kubeConfig();
export const core = kc.makeApiClient(CoreV1Api);
export const custom = kc.makeApiClient(CustomObjectsApi);

const created: string[] = [];
const deleteNamespace = (name: string) =>
  core.deleteNamespace({ name }).then(
    () => undefined,
    () => undefined,
  );

// Registered once per test file (modules are isolated per file): the namespaces its suites made go with it.
afterAll(async () => {
  await Promise.all(created.map(deleteNamespace));
});

/**
 * Creates a fresh namespace for the calling test or suite. One made by a test is deleted when that test ends, so the
 * GPUs its jobs hold (jobs restart rather than fail) are free for the next test; one made by a suite's beforeAll
 * when the file ends. Extra labels opt it into a component (KUEUE_NAMESPACE_LABEL for Kueue).
 */
export async function testNamespace(prefix = "t", labels: Record<string, string> = {}): Promise<string> {
  const name = `${prefix}-${randomBytes(4).toString("hex")}`;
  await core.createNamespace({ body: { metadata: { name, labels: { "collabllm.io/test": "true", ...labels } } } });
  if (expect.getState().currentTestName !== undefined) onTestFinished(() => deleteNamespace(name));
  else created.push(name);
  return name;
}

/** The apiserver's error as a Status object, or rethrows what is not an API error. */
export function apiStatus(error: unknown): {
  code: number;
  message: string;
  details?: { causes?: { field?: string; message?: string }[] };
} {
  if (error instanceof ApiException) {
    const body = typeof error.body === "string" ? JSON.parse(error.body) : error.body;
    return { code: error.code, ...body };
  }
  throw error;
}
