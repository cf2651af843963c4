// Golden files: everything `collab-operator render` prints for each example and extra spec (the Hydra overrides of
// both stages and every Kubernetes object). UPDATE_GOLDEN=1 rewrites them;
// otherwise any drift fails, so a change to a rendered command or config is always a reviewed diff.
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { jobObjects } from "../../../src/children/objects.ts";
import { DEFAULT_OPERATOR_CONTEXT } from "../../../src/children/pods.ts";
import { objectsText, verlArgsText } from "../../../src/verl/render.ts";
import { type Case, cases } from "./cases.ts";

const DIR = join(import.meta.dirname, "testdata/golden");
const UPDATE = process.env.UPDATE_GOLDEN === "1";

function rendered(c: Case): string {
  return [
    "# --verl-args --stage rl",
    verlArgsText(c.job, c.ctx, "rl"),
    "# --verl-args --stage sft",
    verlArgsText(c.job, c.ctx, "sft"),
    "# render",
    objectsText(jobObjects(c.job, DEFAULT_OPERATOR_CONTEXT) as Record<string, unknown>[]),
  ].join("");
}

describe("golden renders", () => {
  const all = cases();
  for (const c of all) {
    it(c.name, () => {
      const file = join(DIR, `${c.name}.golden.txt`);
      const text = rendered(c);
      if (UPDATE) {
        mkdirSync(DIR, { recursive: true });
        writeFileSync(file, text);
      }
      expect(
        existsSync(file),
        `${file} missing: run UPDATE_GOLDEN=1 npx vitest run --project unit test/unit/verl`,
      ).toBe(true);
      expect(text).toBe(readFileSync(file, "utf8"));
    });
  }

  it("has no golden without its manifest", () => {
    const names = new Set(all.map((c) => `${c.name}.golden.txt`));
    expect(readdirSync(DIR).filter((f) => !names.has(f))).toEqual([]);
  });
});
