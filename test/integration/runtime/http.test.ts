// The runtime's transport against the real apiserver: requests reuse pooled keep-alive connections (a new TLS
// connection per request costs CPU: docs/runtime.md, "HTTP"), errors carry the HTTP status, and a controller never
// runs a queue of reconciles as one uninterrupted task.
import { describe, expect, it } from "vitest";
import { ApiError, readBody, request, send } from "../../../src/runtime/http.ts";
import { Controller, type ObjectKey } from "../../../src/runtime/index.ts";
import { loadKubeConfig } from "../../../src/runtime/kubeconfig.ts";
import { KUBECONFIG } from "../../cluster/cluster.ts";
import { core, kc, testNamespace } from "../kube.ts";
import { logger, registry, waitFor } from "./helpers.ts";

describe("http", () => {
  it("sends sequential requests over one pooled connection, and concurrent ones over at most as many", async () => {
    const ours = loadKubeConfig(KUBECONFIG, {});
    const port = async () => {
      const res = await send(ours, { method: "GET", path: "/api" });
      const local = res.socket?.localPort;
      await readBody(res);
      return local;
    };
    const sequential = new Set<number | undefined>();
    for (let i = 0; i < 20; i++) sequential.add(await port());
    expect(sequential.size).toBe(1);
    const concurrent = new Set<number | undefined>();
    for (let round = 0; round < 3; round++)
      for (const p of await Promise.all([1, 2, 3, 4].map(port))) concurrent.add(p);
    expect(concurrent.size).toBeLessThanOrEqual(4);
  });

  it("works with client-node's KubeConfig too, and throws ApiError with the status", async () => {
    const ns = await testNamespace("http");
    await expect(request(kc, { method: "GET", path: `/api/v1/namespaces/${ns}/configmaps/none` })).rejects.toSatisfy(
      (err) => err instanceof ApiError && err.code === 404 && /not found/.test(err.message),
    );
  });
});

describe("Controller", () => {
  it("lets the event loop run between reconciles, even when none of them waits for I/O", async () => {
    const ns = await testNamespace("yield");
    const keys = Array.from({ length: 60 }, (_, i) => `k${i}`);
    await Promise.all(
      keys.map((k) =>
        core.createNamespacedConfigMap({ namespace: ns, body: { metadata: { name: k, labels: { owner: k } } } }),
      ),
    );
    const seen = new Set<string>();
    const controller = new Controller({
      kc,
      name: "yield-test",
      watches: [
        {
          name: "configmaps",
          listPath: `/api/v1/namespaces/${ns}/configmaps`,
          labelSelector: "owner",
          toKeys: (obj) => [{ namespace: ns, name: obj.metadata?.labels?.owner ?? "" }],
        },
      ],
      reconciler: {
        async reconcile(key: ObjectKey) {
          seen.add(key.name);
          return undefined;
        },
      },
      workers: 1,
      logger,
      metrics: registry(),
    });
    await controller.start();
    // A timer set now fires only when the loop is free: without yields it would wait for the whole queue.
    const atTimer = await new Promise<number>((resolve) => setTimeout(() => resolve(seen.size), 0));
    await waitFor("every key reconciled", () => seen.size === keys.length);
    await controller.stop();
    expect(atTimer).toBeLessThan(keys.length);
  });
});
