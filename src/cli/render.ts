// `collab-operator render`: prints what a job would create, without a cluster. The rendering is pure (src/verl/
// render.ts); this file only reads the manifest and writes the result.
import { readFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { jobObjects } from "../children/objects.ts";
import { DEFAULT_OPERATOR_CONTEXT } from "../children/pods.ts";
import type { Trainer } from "../verl/check.ts";
import { objectsText, parseJob, verlArgsText } from "../verl/render.ts";
import { command } from "./prologue.ts";

const USAGE = `usage: collab-operator render -f job.yaml [--verl-args [--stage rl|sft]]

Prints every object the CollabTrainingJob would create, as multi-document YAML (its gang as on a cluster that
serves both Kueue and the native PodGroup API; the operator decides from what the cluster serves).
  -f, --filename FILE   the job manifest (- for stdin)
  --verl-args           print the stage's Hydra overrides instead, one per line, exactly as Hydra receives them
  --stage rl|sft        with --verl-args: the RL stage (main_ppo, default) or the SFT stage (fsdp_sft_trainer)`;

interface RenderConfig {
  filename: string;
  /** Print the Hydra overrides of this trainer; undefined: every object. */
  verlArgs: Trainer | undefined;
}

export const main = command<RenderConfig>({
  name: "render",
  help: () => USAGE,
  parse: (argv) => {
    const flags = parseArgs({
      args: argv,
      options: {
        filename: { type: "string", short: "f" },
        "verl-args": { type: "boolean" },
        stage: { type: "string" },
      },
    }).values;
    if (!flags.filename) throw new Error("-f (the job manifest) is required");
    const trainer = flags.stage ?? "rl";
    if (trainer !== "rl" && trainer !== "sft") throw new Error(`--stage: ${trainer} is not rl or sft`);
    if (flags.stage && !flags["verl-args"]) throw new Error("--stage applies only with --verl-args");
    return { filename: flags.filename, verlArgs: flags["verl-args"] ? trainer : undefined };
  },
  run: async ({ filename, verlArgs }) => {
    const text = readFileSync(filename === "-" ? 0 : filename, "utf8");
    const parsed = parseJob(text);
    for (const warning of parsed.warnings) process.stderr.write(`${filename}: warning: ${warning}\n`);
    if (!parsed.ok) {
      process.stderr.write(`${filename}: invalid CollabTrainingJob\n${parsed.errors.map((e) => `  ${e}\n`).join("")}`);
      return 1;
    }
    if (verlArgs === "sft" && !parsed.job.spec.sft.enabled) {
      process.stderr.write("note: spec.sft.enabled is false; the job runs no SFT stage\n");
    }
    process.stdout.write(
      verlArgs
        ? verlArgsText(parsed.job, parsed.ctx, verlArgs)
        : objectsText(jobObjects(parsed.job, DEFAULT_OPERATOR_CONTEXT) as Record<string, unknown>[]),
    );
    return 0;
  },
});
