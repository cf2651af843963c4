// `collab-operator render`, pure: a job manifest's text in, the text to print out. The I/O shell is src/render-cli.ts.
import { parseAllDocuments, stringify } from "yaml";
import { type CollabTrainingJob, KIND } from "../api/schema.ts";
import { validateJob } from "../api/validate.ts";
import { rlArgs, sftArgs } from "./args.ts";
import { checkOverrides } from "./check.ts";
import type { RenderContext } from "./runtime.ts";

export type Job = CollabTrainingJob;

export type Parsed = { ok: true; job: Job; ctx: RenderContext } | { ok: false; errors: string[] };

/**
 * Parses the manifest's CollabTrainingJob with the API schema (defaults applied); each error names its field. Other
 * documents beside it (a Namespace, a Secret) are skipped.
 */
export function parseJob(text: string): Parsed {
  const docs = parseAllDocuments(text);
  const all = Array.isArray(docs) ? docs : [docs];
  const yamlErrors = all.flatMap((d) => d.errors.map((e) => `YAML: ${e.message}`));
  if (yamlErrors.length > 0) return { ok: false, errors: yamlErrors };
  const jobs = all.map((d) => d.toJS() as unknown).filter((o) => (o as { kind?: unknown } | null)?.kind === KIND);
  if (jobs.length !== 1) return { ok: false, errors: [`expected one ${KIND} document, found ${jobs.length}`] };
  const result = validateJob(jobs[0]);
  if (!result.ok) return { ok: false, errors: result.errors.map((e) => `${e.field || "(root)"}: ${e.message}`) };
  const name = result.job.metadata.name;
  if (name === undefined) return { ok: false, errors: ["metadata.name: required"] };
  const problems = checkOverrides(result.job.spec).map((p) => `${p.field}: ${p.message}`);
  if (problems.length > 0) return { ok: false, errors: problems };
  return { ok: true, job: result.job, ctx: { jobName: name } };
}

/** A stage's Hydra overrides, one per line, exactly as Hydra receives them (no shell quoting). */
export function verlArgsText(job: Job, ctx: RenderContext, stage: "rl" | "sft"): string {
  const args = stage === "rl" ? rlArgs(job.spec, ctx) : sftArgs(job.spec, ctx);
  return `${args.join("\n")}\n`;
}

export function objectsText(objects: readonly Record<string, unknown>[]): string {
  return objects.map((o) => stringify(o, { lineWidth: 0 })).join("---\n");
}
