// images/trainer/Dockerfile: linted without a Docker engine, and consistent with what the renderer assumes.
import { execFile } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
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

  it("installs the litellm and openai the interop tests use, nltk, and bigcodebench in its variant", () => {
    const requirements = readFileSync(join(ROOT, "test/interop/requirements.txt"), "utf8");
    expect(requirements).toContain(`litellm[proxy]==${arg("LITELLM_VERSION")}`);
    expect(requirements).toContain(`\nopenai==${arg("OPENAI_VERSION")}\n`);
    expect(requirements).toContain(`# metadata-only: vllm==${arg("VLLM_VERSION")}`);
    expect(arg("BASE_IMAGE")).toContain(`-vllm${arg("VLLM_VERSION")}-`);
    expect(arg("NLTK_VERSION")).toMatch(/^\d+\.\d+\.\d+$/);
    expect(arg("WITH_BIGCODEBENCH")).toBe("false");
  });

  it("pins what veRL 0.6.0 declares and what both vLLM and litellm accept, read from their own metadata", async () => {
    const python = join(ROOT, ".venv/bin/python");
    if (!existsSync(join(ROOT, ".venv/metadata/vllm.json"))) {
      throw new Error("the interop virtualenv lacks vLLM's metadata: run 'bash test/interop/setup-venv.sh'");
    }
    const pins = {
      tensordict: arg("TENSORDICT_VERSION"),
      openai: arg("OPENAI_VERSION"),
      litellm: arg("LITELLM_VERSION"),
    };
    const { stdout } = await promisify(execFile)(python, [
      join(ROOT, "test/interop/check_pins.py"),
      JSON.stringify(pins),
      join(ROOT, ".venv/metadata"),
    ]);
    const checks = JSON.parse(stdout) as Record<string, { by: string; requirement: string; satisfied: boolean }[]>;
    // The requirements the pins answer to, as the packages declare them.
    expect(checks.tensordict?.map((c) => c.by)).toEqual(["verl==0.6.0"]);
    expect(checks.openai?.map((c) => c.by).sort()).toEqual([
      `litellm==${pins.litellm}`,
      `vllm==${arg("VLLM_VERSION")}`,
    ]);
    for (const [pin, list] of Object.entries(checks)) {
      for (const check of list)
        expect(check, `${pin}==${pins[pin as keyof typeof pins]}`).toMatchObject({ satisfied: true });
    }
  });
});
