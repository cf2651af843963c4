// package.json's bin entries are executable as checked out (npx runs them; npm sets the mode only in an installed
// package, so a checkout's own file must carry it, or `npx collab-operator` changes the file's mode in the checkout).
import { execFileSync } from "node:child_process";
import { readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { expect, it } from "vitest";

const ROOT = join(import.meta.dirname, "../../..");
const bins = Object.values(JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")).bin as Record<string, string>);

it.each(bins)("%s is executable in git and on disk, with a node shebang", (bin) => {
  expect(execFileSync("git", ["ls-files", "-s", bin], { cwd: ROOT }).toString()).toMatch(/^100755 /);
  expect(statSync(join(ROOT, bin)).mode & 0o111).toBe(0o111);
  expect(readFileSync(join(ROOT, bin), "utf8").split("\n")[0]).toBe("#!/usr/bin/env node");
});
