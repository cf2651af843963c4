// A controller's optional watch (`ifServed`) on the real cluster: an API the apiserver does not serve is not watched
// and does not keep the controller from syncing; the controller asks again each time it starts, so an API installed
// since (a CRD here, as Kueue's would be) is watched from its next start.
import { randomBytes } from "node:crypto";
import { ApiextensionsV1Api } from "@kubernetes/client-node";
import { afterAll, describe, expect, it } from "vitest";
import { Controller, type ControllerOptions } from "../../../src/runtime/index.ts";
import { core, custom, kc, testNamespace } from "../kube.ts";
import { logger, registry, waitFor } from "./helpers.ts";

const extensions = kc.makeApiClient(ApiextensionsV1Api);
const groups: string[] = [];

/** A group no apiserver serves yet, its CRD deleted when the file ends. */
function newGroup(): string {
  const group = `optional-${randomBytes(3).toString("hex")}.example.com`;
  groups.push(group);
  return group;
}

afterAll(async () => {
  for (const group of groups)
    await extensions.deleteCustomResourceDefinition({ name: `gadgets.${group}` }).catch(() => undefined);
});

/** Installs the Gadget CRD of `group`, waits until it is served, and creates a Gadget named `name` in `ns`. */
async function serveGadgets(group: string, ns: string, name: string): Promise<void> {
  await extensions
    .createCustomResourceDefinition({
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
    })
    .catch((e: { code?: number }) => {
      if (e.code !== 409) throw e;
    });
  const body = { apiVersion: `${group}/v1`, kind: "Gadget", metadata: { name } };
  await waitFor("the CRD served", () =>
    custom
      .createNamespacedCustomObject({ group, version: "v1", namespace: ns, plural: "gadgets", body })
      .then(() => true),
  );
}

/**
 * A controller of ConfigMaps (reconciled under their names) and of the Gadgets of `group`, watched only if served
 * (reconciled as `gadget-<name>`); `reconciled` hears every key's name.
 */
function gadgetController(
  ns: string,
  group: string,
  reconciled: (name: string) => void,
  more: Partial<ControllerOptions> = {},
): Controller {
  return new Controller({
    kc,
    name: `gadgets-${group}`,
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
        reconciled(key.name);
        return undefined;
      },
    },
    logger,
    metrics: registry(),
    syncTimeoutMs: 20_000,
    ...more,
  });
}

describe("a watch with ifServed", () => {
  it("is skipped while its API is not served, and watched once it is, from the controller's next start", async () => {
    const ns = await testNamespace("optional");
    const group = newGroup();
    const reconciled = new Set<string>();
    const controller = gadgetController(ns, group, (name) => reconciled.add(name));
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

    await serveGadgets(group, ns, "one");
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

  it("is watched without a restart once its API is served, and every owner is reconciled again", async () => {
    const ns = await testNamespace("rediscover");
    const group = newGroup();
    const reconciles = new Map<string, number>();
    const controller = gadgetController(ns, group, (name) => reconciles.set(name, (reconciles.get(name) ?? 0) + 1), {
      rediscoverMs: 300,
    });
    await controller.start();
    try {
      expect(controller.watching("gadgets")).toBe(false);
      await core.createNamespacedConfigMap({ namespace: ns, body: { metadata: { name: "held" } } });
      await waitFor("the held owner reconciles once", () => reconciles.get("held") === 1);
      await serveGadgets(group, ns, "two");
      await waitFor("the new API watched", () => controller.watching("gadgets"));
      await waitFor("its object reconciles", () => reconciles.has("gadget-two"));
      // Nothing changed the ConfigMap: only the discovery woke its owner again.
      await waitFor("the held owner reconciles again", () => (reconciles.get("held") ?? 0) >= 2);
    } finally {
      await controller.stop();
    }
  });
});
