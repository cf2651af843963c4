// Manifests read as kubectl reads them (src/api/manifest.ts), without a cluster; test/integration/render-agreement
// runs the same tables through kubectl and the real apiserver.
import { describe, expect, it } from "vitest";
import { asSubmitted, readManifests } from "../../../src/api/manifest.ts";
import { parseJob } from "../../../src/verl/render.ts";
import { TEXT_CASES } from "../../fixtures/manifests.ts";

/** What `kubectl create --dry-run=client -o json` (v1.34, sigs.k8s.io/yaml) printed for each plain scalar. */
const KUBECTL_SCALARS: [string, unknown][] = [
  ["yes", true],
  ["y", true],
  ["On", true],
  ["n", false],
  ["OFF", false],
  ["tRUE", "tRUE"],
  ["~", null],
  ["Null", null],
  ["nULL", "nULL"],
  ["0x10", 16],
  ["0x_1F", 31],
  ["1_0", 10],
  ["010", 8],
  ["08", 8],
  ["0o17", 15],
  ["-0b11", -3],
  ["+5", 5],
  [".5", 0.5],
  ["-.5", -0.5],
  ["1.", 1],
  ["1e3", 1000],
  ["12e03", 12000],
  ["-1_0.5_0", -10.5],
  ["1e-400", 0],
  ["1e400", "1e400"],
  ["._5", "._5"],
  ["0b", "0b"],
  ["1e", "1e"],
  ["1:20", "1:20"],
  ["2001-12-14", "2001-12-14"],
  ["2001-12-14T21:59:43.10-05:00", "2001-12-14T21:59:43.10-05:00"],
  ["0xFFFFFFFFFFFFFFFFFF", "0xFFFFFFFFFFFFFFFFFF"],
  ["18446744073709551615", 2 ** 64], // uint64: a number, rounded as any double
  ['"1"', "1"],
];

describe("readManifests", () => {
  it.each(KUBECTL_SCALARS)("reads %s as kubectl does", (text, value) => {
    const read = readManifests(`x: ${text}\n`);
    expect(read.ok && (read.documents[0] as { x: unknown }).x).toEqual(value);
  });

  it.each([".inf", "-.Inf", ".NaN"])("refuses %s, which JSON cannot hold", (text) => {
    const read = readManifests(`spec:\n  rl: {learningRate: ${text}}\n`);
    expect(read.ok ? [] : read.errors).toEqual([expect.stringContaining("spec.rl.learningRate")]);
  });

  it("keeps the last of duplicate keys, and warns", () => {
    const read = readManifests("a: 1\nb: {c: 1, c: 2}\na: 3\n");
    expect(read.ok && read.documents).toEqual([{ a: 3, b: { c: 2 } }]);
    expect(read.ok && read.warnings).toEqual([
      expect.stringContaining('key "a" appears twice'),
      expect.stringContaining('key "c" appears twice'),
    ]);
  });

  it("skips empty documents and drops null fields but not null items", () => {
    const read = readManifests("---\n---\na: ~\nb: [~, {c: null, d: 1}]\n");
    expect(read.ok && read.documents.map(asSubmitted)).toEqual([{ b: [null, { d: 1 }] }]);
  });
});

describe("render on the text table", () => {
  it.each(TEXT_CASES)("$name", ({ text, field, spec }) => {
    const parsed = parseJob(text);
    if (spec) {
      expect(parsed.ok ? [] : parsed.errors).toEqual([]);
      if (parsed.ok) spec(JSON.parse(JSON.stringify(parsed.job.spec)));
    } else {
      expect(parsed.ok).toBe(false);
      if (field && !parsed.ok) expect(parsed.errors.join("\n")).toContain(`${field}:`);
    }
  });
});
