// A controller's optional watch (`ifServed`) on the real cluster: an API the apiserver does not serve is not watched
// and does not keep the controller from syncing; the controller asks again each time it starts, so an API installed
// since (a CRD here, as Kueue's would be) is watched from its next start.
import { randomBytes } from "node:crypto";
import { ApiextensionsV1Api } from "@kubernetes/client-node";
import { afterAll, describe, expect, it } from "vitest";
import { Controller } from "../../../src/runtime/index.ts";
import { core, custom, kc, testNamespace } from "../kube.ts";
import { logger, registry, waitFor } from "./helpers.ts";

const group = `optional-${randomBytes(3).toString("hex")}.example.com`;
const extensions = kc.makeApiClient(ApiextensionsV1Api);

afterAll(async () => {
  await extensions.deleteCustomResourceDefinition({ name: `gadgets.${group}` }).catch(() => undefined);
});

describe("a watch with ifServed", () => {
  it("is skipped while its API is not served, and watched once it is, from the controller's next start", async () => {
    const ns = await testNamespace("optional");
    const reconciled = new Set<string>();
    const controller = new Controller({
      kc,
      name: "optional",
      watches: [
        {
          name: "configmaps",
          listPath: `/api/v1/namespaces/${ns}/configmaps`,
          toKeys: (o) => [{ namespace: ns, name: o.metadata?.name ?? "" }],
        },
        {
          name: "gadgets",
          listPath: `/apis/${group}/v1/namespaces/${ns}/gadgets`,
          toKeys: (o) => [{ namespace: ns, name: `gadget-${o.metadata?.name}` }],
          ifServed: { apiVersion: `${group}/v1`, kind: "Gadget" },
        },
      ],
      reconciler: {
        async reconcile(key) {
          reconciled.add(key.name);
          return undefined;
        },
      },
      logger,
      metrics: registry(),
      syncTimeoutMs: 20_000,
    });
    await controller.start();
    try {
      expect(controller.hasSynced()).toBe(true);
      expect(controller.watching("configmaps")).toBe(true);
      expect(controller.watching("gadgets")).toBe(false);
      expect(controller.cache("gadgets").list()).toEqual([]);
      await core.createNamespacedConfigMap({ namespace: ns, body: { metadata: { name: "work" } } });
      await waitFor("the served watch reconciles", () => reconciled.has("work"));
    } finally {
      await controller.stop();
    }

    await extensions.createCustomResourceDefinition({
      body: {
        metadata: { name: `gadgets.${group}` },
        spec: {
          group,
          scope: "Namespaced",
          names: { plural: "gadgets", singular: "gadget", kind: "Gadget", listKind: "GadgetList" },
          versions: [
            {
              name: "v1",
              served: true,
              storage: true,
              schema: { openAPIV3Schema: { type: "object", x_kubernetes_preserve_unknown_fields: true } },
            },
          ],
        },
      },
    });
    const body = { apiVersion: `${group}/v1`, kind: "Gadget", metadata: { name: "one" } };
    await waitFor("the CRD served", () =>
      custom
        .createNamespacedCustomObject({ group, version: "v1", namespace: ns, plural: "gadgets", body })
        .then(() => true),
    );
    await controller.start();
    try {
      expect(controller.watching("gadgets")).toBe(true);
      await waitFor("the new watch reconciles", () => reconciled.has("gadget-one"));
      expect(
        controller
          .cache("gadgets")
          .list()
          .map((g) => g.metadata?.name),
      ).toEqual(["one"]);
    } finally {
      await controller.stop();
    }
  });
});
