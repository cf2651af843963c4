import type { KubernetesObject } from "@kubernetes/client-node";
import { describe, expect, it } from "vitest";
import { keyOf, Store } from "../../../src/runtime/store.ts";

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
    const listed = [obj("keep", "1"), obj("changed", "2"), obj("new", "3"), obj("keep", "1", "other")];
    const changes = [...listed.map((o) => s.upsert(o)), ...s.removeMissing(new Set(listed.map(keyOf)))].filter(
      (c) => c !== undefined,
    );
    const summary = changes.map((c) => `${c.type}:${c.obj.metadata?.name}`).sort();
    expect(summary).toEqual(["add:new", "delete:gone", "update:changed"]);
    expect(s.get("ns", "gone")).toBeUndefined();
    expect(s.get("other", "keep")).toBeDefined();
  });
});

describe("Store indexes", () => {
  const labelled = (name: string, rv: string, team: string | undefined, namespace = "ns"): KubernetesObject => ({
    metadata: { name, namespace, resourceVersion: rv, ...(team ? { labels: { team } } : {}) },
  });
  const names = (objs: KubernetesObject[]) => objs.map((o) => `${o.metadata?.namespace}/${o.metadata?.name}`).sort();

  it("files objects by namespace and by index value, and follows updates, deletes and relists", () => {
    const s = new Store({ labels: ["team"] });
    s.upsert(labelled("a", "1", "x"));
    s.upsert(labelled("b", "1", "x"));
    s.upsert(labelled("c", "1", undefined, "other"));
    expect(names(s.byLabel("team", "x"))).toEqual(["ns/a", "ns/b"]);
    expect(names(s.inNamespace("other"))).toEqual(["other/c"]);
    s.upsert(labelled("a", "2", "y")); // moved
    expect(names(s.byLabel("team", "x"))).toEqual(["ns/b"]);
    expect(names(s.byLabel("team", "y"))).toEqual(["ns/a"]);
    s.remove(labelled("b", "3", "x"));
    expect(s.byLabel("team", "x")).toEqual([]);
    s.upsert(labelled("d", "4", "y", "other"));
    s.removeMissing(new Set(["other/d"]));
    expect(names(s.byLabel("team", "y"))).toEqual(["other/d"]);
    expect(s.inNamespace("ns")).toEqual([]);
    s.clear();
    expect(s.byLabel("team", "y")).toEqual([]);
    expect(s.size).toBe(0);
    expect(() => s.byIndex("missing", "x")).toThrow(/no index missing/);
    expect(() => s.byLabel("missing", "x")).toThrow(/no index of label missing/);
  });

  it("files an object under every value its index function returns, once each", () => {
    const s = new Store({ indexes: { refs: (o) => (o.metadata?.annotations?.refs ?? "").split(",").filter(Boolean) } });
    const withRefs = (name: string, rv: string, refs: string) => ({
      metadata: { name, namespace: "ns", resourceVersion: rv, annotations: { refs } },
    });
    s.upsert(withRefs("j1", "1", "s1,s2"));
    s.upsert(withRefs("j2", "1", "s2,s2"));
    expect(names(s.byIndex("refs", "s2"))).toEqual(["ns/j1", "ns/j2"]);
    s.upsert(withRefs("j1", "2", "s3"));
    expect(names(s.byIndex("refs", "s1"))).toEqual([]);
    expect(names(s.byIndex("refs", "s2"))).toEqual(["ns/j2"]);
    expect(names(s.byIndex("refs", "s3"))).toEqual(["ns/j1"]);
  });
});

describe("Store index functions", () => {
  it("are called once per stored version, never again for the version an object replaces", () => {
    const calls: string[] = [];
    const s = new Store({
      indexes: {
        v: (o) => {
          calls.push(o.metadata?.resourceVersion ?? "");
          return [o.metadata?.resourceVersion ?? ""];
        },
      },
    });
    s.upsert(obj("a", "1"));
    s.upsert(obj("a", "2"));
    s.remove(obj("a", "3"));
    expect(calls).toEqual(["1", "2"]);
    expect(s.byIndex("v", "2")).toEqual([]);
  });
});
