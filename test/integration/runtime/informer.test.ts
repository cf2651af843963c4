// The informer and controller against the real apiserver: ConfigMap add/update/delete reach the cache and the
// handlers, and a controller keeps reconciling new objects after the apiserver restarts under it.
import type { KubernetesObject } from "@kubernetes/client-node";
import { afterEach, describe, expect, it } from "vitest";
import { Controller, type ObjectKey } from "../../../src/runtime/index.ts";
import { Informer, type InformerOptions } from "../../../src/runtime/informer.ts";
import { runtimeMetrics } from "../../../src/runtime/metrics.ts";
import { restart } from "../../cluster/cluster.ts";
import { core, kc, testNamespace } from "../kube.ts";
import { logger, registry, waitFor } from "./helpers.ts";

const stops: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const stop of stops.splice(0)) await stop();
});

/** A started ConfigMap informer of `ns` with `options`, each event handed to `on`; resolves once it has synced. */
async function configMaps(
  ns: string,
  on: (event: string, obj: KubernetesObject) => void,
  options: Partial<InformerOptions> = {},
): Promise<Informer> {
  const informer = new Informer({
    kc,
    name: "configmaps",
    listPath: `/api/v1/namespaces/${ns}/configmaps`,
    logger,
    metrics: runtimeMetrics(registry()),
    ...options,
  });
  informer.on(on);
  informer.start();
  stops.push(() => informer.stop());
  await waitFor("sync", () => informer.hasSynced());
  return informer;
}

/** Keeps no data: a change to the data alone is invisible to readers of the cache. */
const withoutData = ({ data: _data, ...rest }: KubernetesObject & { data?: unknown }) => rest;

describe("Informer", () => {
  it("sees ConfigMaps added, updated and deleted, and filters cache reads by label", async () => {
    const ns = await testNamespace("inf");
    await core.createNamespacedConfigMap({ namespace: ns, body: { metadata: { name: "before", labels: { a: "1" } } } });
    const events: string[] = [];
    const informer = await configMaps(ns, (event, obj) => events.push(`${event}:${obj.metadata?.name}`));
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

    const read = informer.get(ns, "after") as KubernetesObject & { data: Record<string, string> };
    expect(() => {
      read.data.k = "mutated";
    }).toThrow(TypeError); // reads are the cache's own objects, frozen
    expect((informer.get(ns, "after") as typeof read).data.k).toBe("v");
    expect(read.metadata?.managedFields).toBeUndefined(); // never cached

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

  it("reports every object on resync from the cache, and relists when asked, without spurious updates", async () => {
    const ns = await testNamespace("inf");
    await core.createNamespacedConfigMap({ namespace: ns, body: { metadata: { name: "one" } } });
    const events: string[] = [];
    const metrics = registry();
    const informer = new Informer({
      kc,
      name: "configmaps",
      listPath: `/api/v1/namespaces/${ns}/configmaps`,
      logger,
      metrics: runtimeMetrics(metrics),
      resyncMs: 1000,
      relistMs: 1500,
    });
    informer.on((event, obj) => events.push(`${event}:${obj.metadata?.name}`));
    informer.start();
    stops.push(() => informer.stop());
    await waitFor("two resyncs", () => events.filter((e) => e === "resync:one").length >= 2);
    await waitFor("a relist", async () =>
      /watch_restarts_total\{kind="configmaps",reason="relist"\} [1-9]/.test(
        await metrics.getSingleMetricAsString("watch_restarts_total"),
      ),
    );
    expect(await metrics.getSingleMetricAsString("informer_resyncs_total")).toMatch(
      /informer_resyncs_total\{kind="configmaps"\} [1-9]/,
    );
    // A relist of unchanged objects is no news.
    expect(events.filter((e) => e.startsWith("update:"))).toEqual([]);
  });

  it("indexes labels and custom values, and wakes no one for changes its transform drops", async () => {
    const ns = await testNamespace("inf");
    const events: string[] = [];
    const informer = await configMaps(ns, (event, obj) => events.push(`${event}:${obj.metadata?.name}`), {
      transform: withoutData,
      indexLabels: ["team"],
      indexes: { firstLetter: (o) => [o.metadata?.name?.[0] ?? ""] },
    });
    for (const [name, team] of [
      ["apple", "a"],
      ["avocado", "b"],
      ["banana", "a"],
    ]) {
      await core.createNamespacedConfigMap({
        namespace: ns,
        body: { metadata: { name, labels: { team: team! } }, data: { v: "1" } },
      });
    }
    // (the namespace also gets kube-root-ca.crt from the controller manager)
    await waitFor("three adds", () => ["apple", "avocado", "banana"].every((n) => events.includes(`add:${n}`)));
    const names = (objs: KubernetesObject[]) => objs.map((o) => o.metadata?.name).sort();
    expect(names(informer.list(ns, "team=a"))).toEqual(["apple", "banana"]);
    expect(names(informer.list(ns, "team in (a),!missing"))).toEqual(["apple", "banana"]);
    expect(names(informer.list("elsewhere", "team=a"))).toEqual([]);
    expect(names(informer.byIndex("firstLetter", "a"))).toEqual(["apple", "avocado"]);

    await core.patchNamespacedConfigMap({
      namespace: ns,
      name: "apple",
      body: [{ op: "replace", path: "/data/v", value: "2" }],
    });
    await core.patchNamespacedConfigMap({
      namespace: ns,
      name: "apple",
      body: [{ op: "replace", path: "/metadata/labels/team", value: "b" }],
    });
    await waitFor("the label change", () => events.includes("update:apple"));
    expect(events.filter((e) => e === "update:apple")).toHaveLength(1); // the data change woke no one
    expect(names(informer.list(ns, "team=a"))).toEqual(["banana"]);
    expect(names(informer.list(ns, "team=b"))).toEqual(["apple", "avocado"]);
    await core.deleteNamespacedConfigMap({ namespace: ns, name: "banana" });
    await waitFor("delete", () => events.includes("delete:banana"));
    expect(names(informer.list(ns, "team=a"))).toEqual([]);
  });

  it("reports a change its transform drops when asked to (a reader of the version, as of a Secret's)", async () => {
    const ns = await testNamespace("inf");
    const versions: string[] = [];
    const informer = await configMaps(
      ns,
      (event, obj) => {
        if (obj.metadata?.name === "key") versions.push(`${event}:${obj.metadata?.resourceVersion}`);
      },
      { transform: withoutData, reportVersionOnlyUpdates: true },
    );
    await core.createNamespacedConfigMap({ namespace: ns, body: { metadata: { name: "key" }, data: { v: "1" } } });
    const changed = await core.patchNamespacedConfigMap({
      namespace: ns,
      name: "key",
      body: [{ op: "replace", path: "/data/v", value: "2" }],
    });
    await waitFor("the data change reported", () => versions.includes(`update:${changed.metadata?.resourceVersion}`));
    expect(informer.get(ns, "key")?.metadata?.resourceVersion).toBe(changed.metadata?.resourceVersion);
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
