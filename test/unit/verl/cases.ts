// The manifests every veRL test renders: the repository's examples and this directory's extra specs.
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import type { Job } from "../../../src/verl/render.ts";
import { parseJob } from "../../../src/verl/render.ts";
import type { RenderContext } from "../../../src/verl/runtime.ts";

const ROOT = join(import.meta.dirname, "../../..");
const DIRS = [
  { prefix: "examples", dir: join(ROOT, "examples") },
  { prefix: "specs", dir: join(import.meta.dirname, "testdata/specs") },
];

export interface Case {
  /** e.g. examples.math-hard */
  name: string;
  file: string;
  job: Job;
  ctx: RenderContext;
}

export function cases(): Case[] {
  return DIRS.flatMap(({ prefix, dir }) =>
    readdirSync(dir)
      .filter((f) => f.endsWith(".yaml"))
      .sort()
      .map((f) => {
        const file = join(dir, f);
        const parsed = parseJob(readFileSync(file, "utf8"));
        if (!parsed.ok) throw new Error(`${file}: ${parsed.errors.join("; ")}`);
        return { name: `${prefix}.${f.replace(/\.yaml$/, "")}`, file, job: parsed.job, ctx: parsed.ctx };
      }),
  );
}

export function exampleCase(name: string): Case {
  const found = cases().find((c) => c.name === `examples.${name}`);
  if (!found) throw new Error(`no example ${name}`);
  return found;
}
