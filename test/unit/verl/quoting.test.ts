// Quoting: what the scripts' shell and Hydra's grammar read back must be the exact string we meant.
import { spawnSync } from "node:child_process";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { bool, float, list, num, parseOverride, str } from "../../../src/verl/hydra.ts";
import { shellCommand, shellQuote } from "../../../src/verl/shell.ts";

describe("shellQuote", () => {
  it("round-trips any string through bash", () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.string({ unit: "binary" }).map((s) => s.replaceAll("\0", "")),
          { maxLength: 5 },
        ),
        (args) => {
          const out = spawnSync("bash", ["-c", `printf '%s\\0' ${args.map(shellQuote).join(" ")}`], {
            encoding: "utf8",
          });
          expect(out.stdout.split("\0").slice(0, -1)).toEqual(args.length === 0 ? [""] : args);
        },
      ),
      { numRuns: 60 },
    );
  });

  it("continues long commands one setting per line", () => {
    const cmd = shellCommand([
      "python3",
      "-m",
      "verl.trainer.main_ppo",
      ...Array.from({ length: 8 }, (_, i) => `key${i}=${"v".repeat(12)}`),
    ]);
    expect(cmd.split("\n")[0]).toBe("python3 \\");
    expect(cmd.split("\n")[1]).toBe("  -m verl.trainer.main_ppo \\");
    expect(cmd).toContain(`  key7=${"v".repeat(12)}`);
  });
});

describe("Hydra values", () => {
  it.each([
    ["Qwen/Qwen2.5-7B-Instruct", "Qwen/Qwen2.5-7B-Instruct"],
    ["http://127.0.0.1:4002/v1", "http://127.0.0.1:4002/v1"],
    ["null", "'null'"],
    ["True", "'True'"],
    ["01-ai/Yi", "'01-ai/Yi'"],
    ["a b's", "'a b\\'s'"],
    [`$\{oc.env:X}`, `'\\$\{oc.env:X}'`],
    ["back\\", "'back\\\\'"],
  ])("str(%j) = %s", (value, text) => expect(str(value)).toBe(text));

  it("formats numbers, floats, booleans and lists", () => {
    expect([num(16), num(-0.0001), float(1), float(0.7), bool(true), list(["console", "wandb"])]).toEqual([
      "16",
      "-0.0001",
      "1.0",
      "0.7",
      "True",
      "[console,wandb]",
    ]);
  });

  it("parses overrides with their prefix", () => {
    expect(parseOverride("+a.b=c=d")).toEqual({ prefix: "+", key: "a.b", value: "c=d" });
    expect(parseOverride("~a.b")).toEqual({ prefix: "~", key: "a.b", value: undefined });
    expect(parseOverride("=x")).toBeUndefined();
  });
});
