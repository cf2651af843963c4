// The flag tables in docs/ are written for people; this keeps them honest: every flag and env var a command's
// --help lists is in its doc, and the doc lists no flag the commands it documents lack.
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";

const ROOT = join(import.meta.dirname, "../../..");

function help(command: string): string {
  return execFileSync(process.execPath, [join(ROOT, "src/cli.ts"), command, "--help"]).toString();
}

const flagsOf = (text: string) => new Set([...text.matchAll(/`(--[a-z][a-z-]*)/g)].map((m) => m[1]));

describe.each([
  { commands: ["run"], names: "run", doc: "docs/operator.md", env: /COLLAB_[A-Z_]+/g },
  {
    commands: ["gateway", "preflight"],
    names: "gateway and preflight",
    doc: "docs/gateway.md",
    env: /COLLAB_GATEWAY_[A-Z_]+/g,
  },
])("$doc documents `collab-operator $names`", ({ commands, doc, env }) => {
  const docText = readFileSync(join(ROOT, doc), "utf8");
  const helps = commands.map((command) => ({ command, text: help(command) }));
  const flagsIn = (text: string) => [...text.matchAll(/^\s+(--[a-z][a-z-]*)/gm)].map((m) => m[1] as string);

  it.each(helps)("lists every flag and environment variable of `$command`", ({ text }) => {
    const flags = flagsIn(text);
    expect(flags.length).toBeGreaterThan(3);
    for (const flag of flags) expect(docText, flag).toContain(`\`${flag}`);
    for (const variable of new Set(text.match(env))) expect(docText, variable).toContain(variable);
  });

  it("lists no flag the commands do not have", () => {
    const known = new Set([...helps.flatMap(({ text }) => flagsIn(text)), "--help"]);
    const stale = [...flagsOf(docText)].filter((f) => !known.has(f as string) && (f as string).length > 3);
    expect(stale).toEqual([]);
  });
});
