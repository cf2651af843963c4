import { describe, expect, it } from "vitest";
import { deepFreeze, sameButVersion } from "../../../src/runtime/immutable.ts";

describe("deepFreeze", () => {
  it("freezes nested objects and arrays and returns its argument", () => {
    const obj = { a: { b: [1, { c: 2 }] } };
    expect(deepFreeze(obj)).toBe(obj);
    expect(Object.isFrozen(obj.a.b[1])).toBe(true);
    expect(() => {
      (obj.a.b as unknown[]).push(3);
    }).toThrow(TypeError);
  });
});

describe("sameButVersion", () => {
  const pod = (rv: string, phase: string, extra: Record<string, unknown> = {}) => ({
    metadata: { name: "p", resourceVersion: rv, labels: { a: "1" } },
    status: { phase, resourceVersion: "inner" },
    ...extra,
  });

  it.each([
    ["only the resourceVersion differs", pod("1", "Running"), pod("2", "Running"), true],
    ["the same object", pod("1", "Running"), pod("1", "Running"), true],
    ["the phase differs", pod("1", "Running"), pod("2", "Failed"), false],
    ["a field was added", pod("1", "Running"), pod("2", "Running", { spec: {} }), false],
    [
      "a resourceVersion deeper down differs",
      pod("1", "Running"),
      { ...pod("2", "Running"), status: { phase: "Running", resourceVersion: "x" } },
      false,
    ],
    ["an array differs", { metadata: {}, a: [1, 2] }, { metadata: {}, a: [1, 2, 3] }, false],
    ["array versus object", { metadata: {}, a: [] }, { metadata: {}, a: {} }, false],
  ])("%s", (_what, a, b, same) => {
    expect(sameButVersion(a, b)).toBe(same);
  });
});
