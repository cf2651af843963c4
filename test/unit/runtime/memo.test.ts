import type { KubernetesObject } from "@kubernetes/client-node";
import { describe, expect, it } from "vitest";
import { VersionMemo } from "../../../src/runtime/memo.ts";

const obj = (uid: string, rv: string | undefined, n = 0): KubernetesObject =>
  ({ metadata: { name: uid, uid, resourceVersion: rv }, n }) as KubernetesObject;

describe("VersionMemo", () => {
  it("computes once per uid and resourceVersion, again when either changes, and freezes what it shares", () => {
    let calls = 0;
    const memo = new VersionMemo((o) => {
      calls++;
      return { n: (o as { n?: number }).n };
    });
    const first = memo.get(obj("a", "1", 1));
    expect(memo.get(obj("a", "1", 999))).toBe(first); // same version: the same state, whatever the copy says
    expect(calls).toBe(1);
    expect(memo.get(obj("a", "2", 2))).toEqual({ n: 2 });
    expect(memo.get(obj("b", "1", 3))).toEqual({ n: 3 });
    expect(calls).toBe(3);
    expect(Object.isFrozen(first)).toBe(true);
    memo.forget(obj("a", "2"));
    memo.get(obj("a", "2", 2));
    expect(calls).toBe(4);
  });

  it("computes every time for objects without a resourceVersion", () => {
    let calls = 0;
    const memo = new VersionMemo(() => ++calls);
    memo.get(obj("a", undefined));
    memo.get(obj("a", undefined));
    expect(calls).toBe(2);
    expect(memo.size).toBe(0);
  });

  it("keeps at most `max` objects, dropping the least recently used", () => {
    let calls = 0;
    const memo = new VersionMemo(() => ++calls, { max: 2 });
    memo.get(obj("a", "1"));
    memo.get(obj("b", "1"));
    memo.get(obj("a", "1")); // a is now the most recent
    memo.get(obj("c", "1")); // evicts b
    expect(memo.size).toBe(2);
    expect(calls).toBe(3);
    memo.get(obj("a", "1"));
    expect(calls).toBe(3);
    memo.get(obj("b", "1"));
    expect(calls).toBe(4);
  });
});
