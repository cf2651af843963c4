// `collab-operator render`, pure: a job manifest's text in, the text to print out. The I/O shell is src/cli/render.ts.
import { stringify } from "yaml";
import { asSubmitted, readManifests } from "../api/manifest.ts";
import { type CollabTrainingJob, KIND } from "../api/schema.ts";
import { validateJob } from "../api/validate.ts";
import { rlArgs, sftArgs } from "./args.ts";
import { checkOverrides, type Trainer } from "./check.ts";
import type { RenderContext } from "./runtime.ts";

export type Job = CollabTrainingJob;

export type Parsed =
  | { ok: true; job: Job; ctx: RenderContext; warnings: string[] }
  | { ok: false; errors: string[]; warnings: string[] };

/**
 * Reads the manifest as kubectl would send it and validates its CollabTrainingJob as the apiserver would admit it
 * (defaults applied); each error names its field. Other documents beside it (a Namespace, a Secret) are skipped.
 */
export function parseJob(text: string): Parsed {
  const read = readManifests(text);
  if (!read.ok) return { ok: false, errors: read.errors, warnings: [] };
  const { warnings } = read;
  const jobs = read.documents.filter((o) => (o as { kind?: unknown } | null)?.kind === KIND);
  if (jobs.length !== 1) {
    return { ok: false, errors: [`expected one ${KIND} document, found ${jobs.length}`], warnings };
  }
  const result = validateJob(asSubmitted(jobs[0]));
  if (!result.ok) {
    return { ok: false, errors: result.errors.map((e) => `${e.field || "(root)"}: ${e.message}`), warnings };
  }
  const name = result.job.metadata.name;
  if (name === undefined) return { ok: false, errors: ["metadata.name: required"], warnings };
  const problems = checkOverrides(result.job.spec).map((p) => `${p.field}: ${p.message}`);
  if (problems.length > 0) return { ok: false, errors: problems, warnings };
  return { ok: true, job: result.job, ctx: { jobName: name }, warnings };
}

/** A trainer's Hydra overrides, one per line, exactly as Hydra receives them (no shell quoting). */
export function verlArgsText(job: Job, ctx: RenderContext, trainer: Trainer): string {
  const args = trainer === "rl" ? rlArgs(job.spec, ctx) : sftArgs(job.spec, ctx);
  return `${args.join("\n")}\n`;
}

export function objectsText(objects: readonly Record<string, unknown>[]): string {
  return objects.map((o) => stringify(o, { lineWidth: 0 })).join("---\n");
}
