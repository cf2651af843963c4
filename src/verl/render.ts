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
  if (jobs.length !== 1) return { ok: false, errors: [notOneJob(read.documents, jobs.length)], warnings };
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

/** Why the manifest is not one job: how many there are, and what its documents are when none is, a near miss named. */
function notOneJob(documents: readonly unknown[], found: number): string {
  const head = `expected one ${KIND} document, found ${found}`;
  if (found > 1) return head;
  const kinds = documents.map((d) => {
    const { apiVersion, kind } = (d ?? {}) as { apiVersion?: unknown; kind?: unknown };
    return kind === undefined ? "a document without kind" : `${String(apiVersion ?? "?")} ${String(kind)}`;
  });
  if (kinds.length === 0) return `${head}: the input has no document`;
  const nearMiss = documents.some((d) => {
    const kind = (d as { kind?: unknown } | null)?.kind;
    return typeof kind === "string" && kind !== KIND && editDistance(kind.toLowerCase(), KIND.toLowerCase()) <= 3;
  });
  return `${head}: the input has ${kinds.join(", ")}${nearMiss ? ` (kind must be spelt ${KIND})` : ""}`;
}

/** Levenshtein distance, for naming a misspelt kind. */
function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (const [i, ca] of [...a].entries()) {
    const current = [i + 1];
    for (const [j, cb] of [...b].entries()) {
      current.push(Math.min(previous[j + 1]! + 1, current[j]! + 1, previous[j]! + (ca === cb ? 0 : 1)));
    }
    previous = current;
  }
  return previous[b.length]!;
}

/** A trainer's Hydra overrides, one per line, exactly as Hydra receives them (no shell quoting). */
export function verlArgsText(job: Job, ctx: RenderContext, trainer: Trainer): string {
  const args = trainer === "rl" ? rlArgs(job.spec, ctx) : sftArgs(job.spec, ctx);
  return `${args.join("\n")}\n`;
}

export function objectsText(objects: readonly Record<string, unknown>[]): string {
  return objects.map((o) => stringify(o, { lineWidth: 0 })).join("---\n");
}
