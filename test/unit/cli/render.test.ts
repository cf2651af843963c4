// `collab-operator render`, run as a user would: the real CLI entry point on manifest files and stdin.
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { parseAllDocuments } from "yaml";
import { verlArgsText } from "../../../src/verl/render.ts";
import { exampleCase } from "../verl/cases.ts";

const ROOT = join(import.meta.dirname, "../../..");
const cli = (args: string[], input?: string) =>
  spawnSync(process.execPath, [join(ROOT, "src/cli.ts"), "render", ...args], { encoding: "utf8", input, cwd: ROOT });

describe("collab-operator render", () => {
  const math = exampleCase("math-hard");

  it("--verl-args prints the RL overrides, one per line, unquoted", () => {
    const r = cli(["-f", math.file, "--verl-args"]);
    expect(r.status).toBe(0);
    expect(r.stdout).toBe(verlArgsText(math.job, math.ctx, "rl"));
    expect(r.stdout.split("\n")).toContain("trainer.logger=[console]");
  });

  it("--stage sft prints the SFT overrides", () => {
    const r = cli(["-f", math.file, "--verl-args", "--stage", "sft"]);
    expect(r.status).toBe(0);
    expect(r.stdout).toBe(verlArgsText(math.job, math.ctx, "sft"));
  });

  it("prints the rendered objects as multi-document YAML, reading - from stdin", () => {
    const r = cli(["-f", "-"], `apiVersion: v1\nkind: Namespace\nmetadata: {name: x}\n---\n${readExample()}`);
    expect(r.status).toBe(0);
    const docs = parseAllDocuments(r.stdout);
    const objects = (Array.isArray(docs) ? docs : [docs]).map((d) => d.toJS() as { kind: string; data?: object });
    expect(objects.map((o) => o.kind)).toContain("ConfigMap");
    expect(Object.keys(objects.find((o) => o.kind === "ConfigMap")!.data!)).toContain("train-head.sh");
  });

  it("names the field of every error and exits 1", () => {
    const bad = readExample()
      .replace("batchSize: 16 # prompts per step", "batchSize: 0")
      .replace("storage:\n", "storage:\n    existingClaim: x\n");
    const r = cli(["-f", "-"], `${bad}\n`);
    expect(r.status).toBe(1);
    expect(r.stderr).toContain("spec.rl.batchSize:");
    expect(r.stderr).toContain("spec.storage.size:");
  });

  it.each([
    [
      "a misspelt kind, named with its near miss",
      readExample().replace("kind: CollabTrainingJob", "kind: CollabTrainingJobs"),
      /found 0: the input has collabllm\.io\/v1alpha1 CollabTrainingJobs \(kind must be spelt CollabTrainingJob\)/,
    ],
    ["another kind only", "apiVersion: v1\nkind: Secret\nmetadata: {name: x}\n", /found 0: the input has v1 Secret$/m],
    ["no kind", "metadata: {name: x}\n", /found 0: the input has a document without kind$/m],
    ["nothing", "# just a comment\n", /found 0: the input has no document$/m],
    ["two jobs", `${readExample()}\n---\n${readExample()}`, /found 2$/m],
  ])("says what it found when the input is not one job: %s", (_, input, said) => {
    const r = cli(["-f", "-"], input);
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(said);
  });

  it("warns about a duplicate key, keeping the last value as kubectl does", () => {
    const r = cli(
      ["-f", "-", "--verl-args"],
      readExample().replace("spec:\n", "spec:\n  suspend: true\n  suspend: false\n"),
    );
    expect(r.status).toBe(0);
    expect(r.stderr).toContain('-: warning: YAML: key "suspend" appears twice in one mapping; the last value wins');
  });

  it("reads YAML 1.1 booleans and commented-out blocks as kubectl does", () => {
    const text = readExample().replace("enabled: true #", "enabled: yes #");
    const r = cli(["-f", "-", "--verl-args", "--stage", "sft"], `${text}\n  scheduling:\n  #  queueName: x\n`);
    expect(r.stderr).toBe("");
    expect(r.status).toBe(0);
  });

  it("rejects overrides of owned keys with the override's field", () => {
    const r = cli(["-f", "-"], readExample().replace("  rl:\n", "  rl:\n    overrides: [trainer.nnodes=4]\n"));
    expect(r.status).toBe(1);
    expect(r.stderr).toContain("spec.rl.overrides[0]: sets a key the operator owns");
  });

  it("explains its flags", () => {
    expect(cli(["--help"]).stdout).toContain("--verl-args");
    expect(cli(["--stage", "sft", "-f", math.file]).status).toBe(2); // --stage needs --verl-args
    expect(cli(["--bogus"]).status).toBe(2);
  });

  function readExample(): string {
    return readFileSync(math.file, "utf8");
  }
});
