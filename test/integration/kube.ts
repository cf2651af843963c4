// Clients for the local control plane and a namespace per test, so tests never see each other's objects.
import { randomBytes } from "node:crypto";
import { ApiException, CoreV1Api, CustomObjectsApi, KubeConfig } from "@kubernetes/client-node";
import { afterEach } from "vitest";
import { KUBECONFIG } from "../cluster/cluster.ts";

export function kubeConfig(): KubeConfig {
  const kc = new KubeConfig();
  kc.loadFromFile(KUBECONFIG);
  return kc;
}

export const kc = kubeConfig();
export const core = kc.makeApiClient(CoreV1Api);
export const custom = kc.makeApiClient(CustomObjectsApi);

/** Creates a fresh namespace for the calling test and deletes it after the test. */
export async function testNamespace(prefix = "t"): Promise<string> {
  const name = `${prefix}-${randomBytes(4).toString("hex")}`;
  await core.createNamespace({ body: { metadata: { name, labels: { "collabllm.io/test": "true" } } } });
  afterEach(async () => {
    await core.deleteNamespace({ name }).catch(() => undefined);
  });
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
