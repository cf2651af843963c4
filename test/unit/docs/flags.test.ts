// The flag tables in docs/ are written for people; this keeps them honest: every flag and env var a command's
// --help lists is in its doc, and the doc lists no flag the command lacks.
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
  { command: "run", doc: "docs/operator.md", env: /COLLAB_[A-Z_]+/g },
  { command: "gateway", doc: "docs/gateway.md", env: /COLLAB_GATEWAY_[A-Z_]+/g },
])("$doc documents `collab-operator $command`", ({ command, doc, env }) => {
  const text = help(command);
  const docText = readFileSync(join(ROOT, doc), "utf8");
  const flags = [...text.matchAll(/^\s+(--[a-z][a-z-]*)/gm)].map((m) => m[1] as string);

  it("lists every flag and its environment variable", () => {
    expect(flags.length).toBeGreaterThan(5);
    for (const flag of flags) expect(docText, flag).toContain(`\`${flag}`);
    for (const variable of new Set(text.match(env))) expect(docText, variable).toContain(variable);
  });

  it("lists no flag the command does not have", () => {
    const known = new Set([...flags, "--help"]);
    const stale = [...flagsOf(docText)].filter((f) => !known.has(f as string) && (f as string).length > 3);
    expect(stale).toEqual([]);
  });
});
