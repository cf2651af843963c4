import type { KubernetesObject } from "@kubernetes/client-node";
import { describe, expect, it } from "vitest";
import { Store } from "../../../src/runtime/store.ts";

const obj = (name: string, rv: string, namespace = "ns"): KubernetesObject => ({
  metadata: { name, namespace, resourceVersion: rv },
});

describe("Store", () => {
  it("reports add, then update only when the resourceVersion moves", () => {
    const s = new Store();
    expect(s.upsert(obj("a", "1"))?.type).toBe("add");
    expect(s.upsert(obj("a", "1"))).toBeUndefined(); // a replayed event after a reconnect
    const change = s.upsert(obj("a", "2"));
    expect(change?.type).toBe("update");
    expect(change?.old?.metadata?.resourceVersion).toBe("1");
  });

  it("deletes only what it holds", () => {
    const s = new Store();
    s.upsert(obj("a", "1"));
    expect(s.remove(obj("b", "1"))).toBeUndefined();
    expect(s.remove(obj("a", "2"))?.type).toBe("delete");
    expect(s.size).toBe(0);
  });

  it("turns a relist into the adds, updates and deletes that were missed", () => {
    const s = new Store();
    for (const o of [obj("keep", "1"), obj("changed", "1"), obj("gone", "1"), obj("keep", "1", "other")]) s.upsert(o);
    const changes = s.replace([obj("keep", "1"), obj("changed", "2"), obj("new", "3"), obj("keep", "1", "other")]);
    const summary = changes.map((c) => `${c.type}:${c.obj.metadata?.name}`).sort();
    expect(summary).toEqual(["add:new", "delete:gone", "update:changed"]);
    expect(s.get("ns", "gone")).toBeUndefined();
    expect(s.get("other", "keep")).toBeDefined();
  });
});
