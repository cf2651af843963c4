// images/trainer/Dockerfile: linted without a Docker engine, and consistent with what the renderer assumes.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { validate } from "dockerfile-utils";
import { describe, expect, it } from "vitest";
import { VERL_ROOT } from "../../../src/verl/layout.ts";

const ROOT = join(import.meta.dirname, "../../..");
const dockerfile = readFileSync(join(ROOT, "images/trainer/Dockerfile"), "utf8");
const arg = (name: string) => new RegExp(`^ARG ${name}=(\\S+)$`, "m").exec(dockerfile)?.[1];

describe("images/trainer/Dockerfile", () => {
  it("has no lint problems (dockerfile-utils)", () => {
    const problems = validate(dockerfile).map((d) => `${d.range.start.line + 1}: ${d.message}`);
    expect(problems).toEqual([]);
  });

  it("builds on the recipe's veRL image, with veRL v0.6.0's source at the renderer's path", () => {
    expect(arg("BASE_IMAGE")).toBe("verlai/verl:app-verl0.5-transformers4.55.4-vllm0.10.0-mcore0.13.0-te2.2");
    expect(arg("VERL_TAG")).toBe("v0.6.0");
    expect(arg("VERL_COMMIT")).toBe("ddd86f527a4af75095e4677b02b5aa272913a088");
    expect(dockerfile).toContain(`"\${VERL_REPO}" ${VERL_ROOT}`);
    expect(dockerfile).toMatch(new RegExp(`ENV PYTHONPATH=${VERL_ROOT}`));
  });

  it("installs the litellm the interop tests use, nltk, and bigcodebench only on request", () => {
    const requirements = readFileSync(join(ROOT, "test/interop/requirements.txt"), "utf8");
    expect(requirements).toContain(`litellm[proxy]==${arg("LITELLM_VERSION")}`);
    expect(arg("NLTK_VERSION")).toMatch(/^\d+\.\d+\.\d+$/);
    expect(arg("WITH_BIGCODEBENCH")).toBe("false");
  });
});
