import { describe, expect, it } from "vitest";
import { equalityTerms, parseSelector } from "../../../src/runtime/selector.ts";

describe("parseSelector", () => {
  const labels = { app: "web", tier: "front", "collabllm.io/job": "j1" };
  it.each([
    ["", true],
    ["app=web", true],
    ["app==web", true],
    ["app!=web", false],
    ["app=db", false],
    ["app=web,tier=front", true],
    ["app=web, tier=back", false],
    ["app in (db, web)", true],
    ["app notin (db,web)", false],
    ["missing notin (x)", true],
    ["collabllm.io/job", true],
    ["!collabllm.io/job", false],
    ["!missing", true],
    ["tier in (front),collabllm.io/job=j1", true],
  ])("%j -> %s", (selector, expected) => {
    expect(parseSelector(selector)(labels)).toBe(expected);
  });

  it("treats missing labels as an empty set", () => {
    expect(parseSelector("a")(undefined)).toBe(false);
    expect(parseSelector("a!=b")(undefined)).toBe(true);
  });

  it("rejects what the apiserver would reject", () => {
    expect(() => parseSelector("a=b=c")).toThrow(/invalid/);
    expect(() => parseSelector("a in b")).toThrow(/invalid/);
  });
});

describe("equalityTerms", () => {
  it("lists the terms that pin a label to one value", () => {
    expect(equalityTerms("a=1,b==2,c!=3,d in (4),e in (5,6),f,!g")).toEqual([
      { key: "a", value: "1" },
      { key: "b", value: "2" },
      { key: "d", value: "4" },
    ]);
    expect(equalityTerms("")).toEqual([]);
  });
});
