// Golden files: everything the veRL renderer produces for each example and extra spec. UPDATE_GOLDEN=1 rewrites them;
// otherwise any drift fails, so a change to a rendered command or config is always a reviewed diff.
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { objectsText, renderObjects, verlArgsText } from "../../../src/verl/render.ts";
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
    objectsText(renderObjects(c.job, c.ctx)),
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
