// The informer and controller against the real apiserver: ConfigMap add/update/delete reach the cache and the
// handlers, and a controller keeps reconciling new objects after the apiserver restarts under it.
import type { KubernetesObject } from "@kubernetes/client-node";
import { afterEach, describe, expect, it } from "vitest";
import { Controller, type ObjectKey } from "../../../src/runtime/index.ts";
import { Informer } from "../../../src/runtime/informer.ts";
import { runtimeMetrics } from "../../../src/runtime/metrics.ts";
import { restart } from "../../cluster/cluster.ts";
import { core, kc, testNamespace } from "../kube.ts";
import { logger, registry, waitFor } from "./helpers.ts";

const stops: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const stop of stops.splice(0)) await stop();
});

describe("Informer", () => {
  it("sees ConfigMaps added, updated and deleted, and filters cache reads by label", async () => {
    const ns = await testNamespace("inf");
    await core.createNamespacedConfigMap({ namespace: ns, body: { metadata: { name: "before", labels: { a: "1" } } } });
    const events: string[] = [];
    const informer = new Informer({
      kc,
      name: "configmaps",
      listPath: `/api/v1/namespaces/${ns}/configmaps`,
      logger,
      metrics: runtimeMetrics(registry()),
    });
    informer.on((event, obj) => events.push(`${event}:${obj.metadata?.name}`));
    informer.start();
    stops.push(() => informer.stop());
    await waitFor("sync", () => informer.hasSynced());
    expect(events).toContain("add:before");
    const listed = informer.get(ns, "before");
    expect(listed?.kind).toBe("ConfigMap"); // filled in for list items, as watch events carry it
    expect(listed?.apiVersion).toBe("v1");

    await core.createNamespacedConfigMap({ namespace: ns, body: { metadata: { name: "after" }, data: { k: "v" } } });
    await waitFor("add", () => events.includes("add:after"));
    await core.patchNamespacedConfigMap({
      namespace: ns,
      name: "after",
      body: [{ op: "add", path: "/metadata/labels", value: { a: "2" } }],
    });
    await waitFor("update", () => events.includes("update:after"));
    expect(
      informer
        .list(ns, "a")
        .map((o) => o.metadata?.name)
        .sort(),
    ).toEqual(["after", "before"]);
    expect(informer.list(ns, "a=2").map((o) => o.metadata?.name)).toEqual(["after"]);
    expect(informer.list("elsewhere")).toEqual([]);

    const copy = informer.get(ns, "after") as KubernetesObject & { data: Record<string, string> };
    copy.data.k = "mutated";
    expect((informer.get(ns, "after") as typeof copy).data.k).toBe("v"); // reads are copies

    await core.deleteNamespacedConfigMap({ namespace: ns, name: "after" });
    await waitFor("delete", () => events.includes("delete:after"));
    expect(informer.get(ns, "after")).toBeUndefined();
  });

  it("lists afresh and syncs again when started after a stop (a leader that stepped down and leads again)", async () => {
    const ns = await testNamespace("inf");
    await core.createNamespacedConfigMap({ namespace: ns, body: { metadata: { name: "first" } } });
    const informer = new Informer({
      kc,
      name: "configmaps",
      listPath: `/api/v1/namespaces/${ns}/configmaps`,
      logger,
      metrics: runtimeMetrics(registry()),
    });
    informer.start();
    stops.push(() => informer.stop());
    await waitFor("sync", () => informer.hasSynced());
    await informer.stop();
    expect(informer.hasSynced()).toBe(false);
    await core.createNamespacedConfigMap({ namespace: ns, body: { metadata: { name: "while-stopped" } } });
    informer.start();
    await waitFor("sync again", () => informer.hasSynced(), 10_000);
    expect(informer.get(ns, "while-stopped")).toBeDefined();
  });

  it("heals missed events with a periodic relist and reports every object on resync", async () => {
    const ns = await testNamespace("inf");
    await core.createNamespacedConfigMap({ namespace: ns, body: { metadata: { name: "one" } } });
    const resynced: string[] = [];
    const metrics = registry();
    const informer = new Informer({
      kc,
      name: "configmaps",
      listPath: `/api/v1/namespaces/${ns}/configmaps`,
      logger,
      metrics: runtimeMetrics(metrics),
      resyncMs: 1000,
    });
    informer.on((event, obj) => event === "resync" && resynced.push(obj.metadata?.name ?? ""));
    informer.start();
    stops.push(() => informer.stop());
    await waitFor("two resyncs", () => resynced.filter((n) => n === "one").length >= 2);
    const restarts = await metrics.getSingleMetricAsString("watch_restarts_total");
    expect(restarts).toMatch(/watch_restarts_total\{kind="configmaps",reason="resync"\} [1-9]/);
  });
});

describe("Controller", () => {
  it("reconciles keys mapped from watched objects, and keeps doing so after the apiserver restarts", async () => {
    const ns = await testNamespace("ctl");
    const seen = new Map<string, number>();
    const controller = new Controller({
      kc,
      name: "cm-test",
      watches: [
        {
          name: "configmaps",
          listPath: `/api/v1/namespaces/${ns}/configmaps`,
          labelSelector: "owner",
          // Children name their owner in a label: the key reconciled is the owner's.
          toKeys: (obj) => [{ namespace: ns, name: obj.metadata?.labels?.owner ?? "" }],
        },
      ],
      reconciler: {
        async reconcile(key: ObjectKey) {
          seen.set(key.name, (seen.get(key.name) ?? 0) + 1);
          return undefined;
        },
      },
      workers: 2,
      logger,
      metrics: registry(),
    });
    stops.push(() => controller.stop());
    const make = (name: string, owner: string) =>
      core.createNamespacedConfigMap({ namespace: ns, body: { metadata: { name, labels: { owner } } } });
    await make("c1", "job-a");
    await controller.start();
    await waitFor("job-a reconciled from the initial list", () => seen.get("job-a"));
    expect(controller.cache("configmaps").list(ns).length).toBe(1);

    await restart("kube-apiserver");
    // Right after a restart the apiserver may still refuse writes briefly; that is not what this test is about.
    await waitFor("create after restart", () => make("c2", "job-b").then(() => true));
    await waitFor("job-b reconciled after the apiserver restart", () => seen.get("job-b"), 120_000);
  });
});
