// Server-side apply, status writes, tolerant deletes and Events against the real apiserver.
import type { KubernetesObject } from "@kubernetes/client-node";
import { beforeAll, describe, expect, it } from "vitest";
import { applyObject, deleteObject, EventRecorder, patchStatus } from "../../../src/runtime/index.ts";
import { binaries, kubectl } from "../../cluster/cluster.ts";
import { core, kc, testNamespace } from "../kube.ts";
import { logger, waitFor } from "./helpers.ts";

type ConfigMap = KubernetesObject & { data?: Record<string, string> };
type Widget = KubernetesObject & { spec?: Record<string, unknown>; status?: Record<string, unknown> };

const GROUP = "runtime-test.collabllm.io";

// A throwaway custom resource with a status subresource, like the operator's own CRD.
beforeAll(async () => {
  await applyObject(
    kc,
    {
      apiVersion: "apiextensions.k8s.io/v1",
      kind: "CustomResourceDefinition",
      metadata: { name: `widgets.${GROUP}` },
      spec: {
        group: GROUP,
        names: { plural: "widgets", singular: "widget", kind: "Widget", listKind: "WidgetList" },
        scope: "Namespaced",
        versions: [
          {
            name: "v1",
            served: true,
            storage: true,
            subresources: { status: {} },
            schema: {
              openAPIV3Schema: {
                type: "object",
                properties: {
                  spec: { type: "object", "x-kubernetes-preserve-unknown-fields": true },
                  status: { type: "object", "x-kubernetes-preserve-unknown-fields": true },
                },
              },
            },
          },
        ],
      },
    } as KubernetesObject,
    "runtime-test",
  );
});

const cm = (ns: string, data: Record<string, string>): ConfigMap => ({
  apiVersion: "v1",
  kind: "ConfigMap",
  metadata: { name: "applied", namespace: ns },
  data,
});

describe("applyObject", () => {
  it("is idempotent and keeps the fields another manager owns", async () => {
    const ns = await testNamespace("ssa");
    const first = await applyObject(kc, cm(ns, { a: "1" }), "manager-a");
    const again = await applyObject(kc, cm(ns, { a: "1" }), "manager-a");
    expect(again.metadata?.resourceVersion).toBe(first.metadata?.resourceVersion); // a no-op apply writes nothing

    await applyObject(kc, cm(ns, { b: "2" }), "manager-b");
    await applyObject(kc, cm(ns, { a: "3" }), "manager-a");
    const stored = await core.readNamespacedConfigMap({ namespace: ns, name: "applied" });
    expect(stored.data).toEqual({ a: "3", b: "2" });

    // A field its manager stops sending is removed; the other manager's field stays.
    await applyObject(kc, cm(ns, {}), "manager-a");
    expect((await core.readNamespacedConfigMap({ namespace: ns, name: "applied" })).data).toEqual({ b: "2" });
  });

  it("fails on a conflict without force and takes the field over with it", async () => {
    const ns = await testNamespace("ssa");
    await applyObject(kc, cm(ns, { a: "1" }), "manager-a");
    await expect(applyObject(kc, cm(ns, { a: "2" }), "manager-b", { force: false })).rejects.toMatchObject({
      code: 409,
    });
    const forced = await applyObject(kc, cm(ns, { a: "2" }), "manager-b");
    expect(forced.data).toEqual({ a: "2" });
  });
});

describe("patchStatus", () => {
  it("writes only status, and each manager owns what it sends", async () => {
    const ns = await testNamespace("status");
    const widget: Widget = {
      apiVersion: `${GROUP}/v1`,
      kind: "Widget",
      metadata: { name: "w", namespace: ns },
      spec: { size: 1 },
    };
    const created = await waitFor("Widget served", () => applyObject(kc, widget, "spec-owner"));
    const ref = { apiVersion: `${GROUP}/v1`, kind: "Widget", namespace: ns, name: "w" };

    const afterStatus = await patchStatus<Widget>(kc, ref, { phase: "Running", note: "x" }, "status-owner");
    expect(afterStatus.status).toEqual({ phase: "Running", note: "x" });
    expect(afterStatus.spec).toEqual({ size: 1 });
    expect(afterStatus.metadata?.generation).toBe(created.metadata?.generation); // status never bumps generation

    await patchStatus(kc, ref, { progress: { step: 3 } }, "progress-owner");
    const final = await patchStatus<Widget>(kc, ref, { phase: "Succeeded" }, "status-owner");
    // "note" was dropped by its owner; "progress" belongs to another manager and stays.
    expect(final.status).toEqual({ phase: "Succeeded", progress: { step: 3 } });
  });
});

describe("deleteObject", () => {
  it("deletes and tolerates an object that is already gone", async () => {
    const ns = await testNamespace("del");
    await applyObject(kc, cm(ns, { a: "1" }), "m");
    const ref = { apiVersion: "v1", kind: "ConfigMap", namespace: ns, name: "applied" };
    expect(await deleteObject(kc, ref)).toBe(true);
    expect(await deleteObject(kc, ref)).toBe(false);
  });
});

describe("EventRecorder", () => {
  it("creates core/v1 Events that kubectl describe shows, folding repeats into a count", async () => {
    const ns = await testNamespace("ev");
    const target = await applyObject(kc, cm(ns, { a: "1" }), "m");
    const recorder = new EventRecorder({ kc, component: "runtime-test", logger });
    await recorder.record(target, "Warning", "BadSecret", "secret key api_key is missing");
    await recorder.record(target, "Warning", "BadSecret", "secret key api_key is missing");
    await recorder.record(target, "Normal", "Started", "stage Training started");

    const events = await core.listNamespacedEvent({ namespace: ns });
    const bad = events.items.filter((e) => e.reason === "BadSecret");
    expect(bad).toHaveLength(1);
    expect(bad[0]?.count).toBe(2);
    expect(events.items.filter((e) => e.reason === "Started")).toHaveLength(1);

    const described = kubectl(binaries(), ["describe", "configmap", "applied", "-n", ns]);
    expect(described).toMatch(/Warning\s+BadSecret\s+.*\(x2 over .*\)\s+runtime-test\s+secret key api_key is missing/);
    expect(described).toMatch(/Normal\s+Started\s+.*runtime-test\s+stage Training started/);
  });

  it("keeps every Event of a burst about one object (a plan's transitions are recorded within a millisecond)", async () => {
    const ns = await testNamespace("ev-burst");
    const target = await applyObject(kc, cm(ns, { a: "1" }), "m");
    const recorder = new EventRecorder({ kc, component: "runtime-test", logger });
    const reasons = ["SecretsFound", "ChildForbidden", "Scheduled", "Prepared", "Resumed"];
    await Promise.all(reasons.map((reason) => recorder.record(target, "Normal", reason, `${reason} happened`)));
    const events = await core.listNamespacedEvent({ namespace: ns });
    expect(events.items.map((e) => e.reason).sort()).toEqual([...reasons].sort());
  });
});
