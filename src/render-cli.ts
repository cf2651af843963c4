// `collab-operator render`: prints what a job would create, without a cluster. The rendering is pure (src/verl/
// render.ts); this file only reads the manifest and writes the result.
import { readFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { jobObjects } from "./children/objects.ts";
import { DEFAULT_OPERATOR_CONTEXT } from "./children/pods.ts";
import { objectsText, parseJob, verlArgsText } from "./verl/render.ts";

const USAGE = `usage: collab-operator render -f job.yaml [--verl-args [--stage rl|sft]]

Prints every object the CollabTrainingJob would create, as multi-document YAML (its gang as on a cluster that
serves both Kueue and the native PodGroup API; the operator decides from what the cluster serves).
  -f, --filename FILE   the job manifest (- for stdin)
  --verl-args           print the stage's Hydra overrides instead, one per line, exactly as Hydra receives them
  --stage rl|sft        with --verl-args: the RL stage (main_ppo, default) or the SFT stage (fsdp_sft_trainer)
`;

export async function main(argv: string[]): Promise<number> {
  let flags: ReturnType<typeof parse>;
  try {
    flags = parse(argv);
  } catch (err) {
    process.stderr.write(`${(err as Error).message}\n\n${USAGE}`);
    return 2;
  }
  if (flags.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  const stage = flags.stage ?? "rl";
  if (!flags.filename || (stage !== "rl" && stage !== "sft") || (flags.stage && !flags["verl-args"])) {
    process.stderr.write(USAGE);
    return 2;
  }
  const text = readFileSync(flags.filename === "-" ? 0 : flags.filename, "utf8");
  const parsed = parseJob(text);
  for (const warning of parsed.warnings) process.stderr.write(`${flags.filename}: warning: ${warning}\n`);
  if (!parsed.ok) {
    process.stderr.write(
      `${flags.filename}: invalid CollabTrainingJob\n${parsed.errors.map((e) => `  ${e}\n`).join("")}`,
    );
    return 1;
  }
  if (stage === "sft" && !parsed.job.spec.sft.enabled) {
    process.stderr.write("note: spec.sft.enabled is false; the job runs no SFT stage\n");
  }
  process.stdout.write(
    flags["verl-args"]
      ? verlArgsText(parsed.job, parsed.ctx, stage)
      : objectsText(jobObjects(parsed.job, DEFAULT_OPERATOR_CONTEXT) as Record<string, unknown>[]),
  );
  return 0;
}

function parse(argv: string[]) {
  return parseArgs({
    args: argv,
    options: {
      filename: { type: "string", short: "f" },
      "verl-args": { type: "boolean" },
      stage: { type: "string" },
      help: { type: "boolean", short: "h" },
    },
  }).values;
}
