import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { crdYAML } from "../../../src/api/crd.ts";
import { readManifests } from "../../../src/api/manifest.ts";
import { parseStoredJob } from "../../../src/api/stored.ts";
import { validateJob } from "../../../src/api/validate.ts";
import { INVALID_CASES, VALID_CASES, validJob } from "../../fixtures/invalid-jobs.ts";

const ROOT = join(import.meta.dirname, "../../..");

function exampleJobs() {
  return readdirSync(join(ROOT, "examples"))
    .filter((f) => f.endsWith(".yaml"))
    .flatMap((f) => examplesOf(readFileSync(join(ROOT, "examples", f), "utf8")).map((job) => ({ file: f, job })));
}

/** The documents of an example as kubectl reads them. */
function examplesOf(text: string): any[] {
  const read = readManifests(text);
  if (!read.ok) throw new Error(read.errors.join("; "));
  return read.documents.filter((o: any) => o?.kind === "CollabTrainingJob");
}

describe("CollabTrainingJob schema", () => {
  it("the CRD in crds/ is the one the schema generates (run `npm run crd` after changing src/api)", () => {
    expect(readFileSync(join(ROOT, "crds/collabllm.io_collabtrainingjobs.yaml"), "utf8")).toBe(crdYAML());
  });

  it.each(exampleJobs())("accepts example $file and fills in defaults", ({ job }) => {
    const result = validateJob(job);
    expect(result.ok ? [] : result.errors).toEqual([]);
    if (!result.ok) return;
    expect(result.job.spec.runtime.verl).toBe("0.6.0");
    expect(result.job.spec.rollout.multiTurn.futureConversations).toBeGreaterThan(0);
    expect(result.job.spec.scheduling.startupTimeoutSeconds).toBe(1800);
  });

  it("fills in the recipe's values for everything left out", () => {
    const result = validateJob(validJob());
    if (!result.ok) throw new Error(JSON.stringify(result.errors));
    const { spec } = result.job;
    expect(spec.rl).toMatchObject({
      algorithm: "grpo",
      batchSize: 16,
      miniBatchSize: 8,
      learningRate: 1e-6,
      epochs: 20,
    });
    expect(spec.rollout).toMatchObject({ samplesPerPrompt: 8, tensorParallelSize: 1, gpuMemoryUtilization: 0.7 });
    expect(spec.rollout.multiTurn).toEqual({ maxUserTurns: 2, maxAssistantTurns: 3, futureConversations: 3 });
    expect(spec.userSimulator).toMatchObject({ temperature: 1, maxTokens: 512, retries: 3 });
    expect(spec.judge).toMatchObject({ temperature: 0, maxTokens: 2048, retries: 6 });
    expect(spec.storage.reclaimPolicy).toBe("Retain");
  });

  it("has at least 30 invalid cases", () => expect(INVALID_CASES.length).toBeGreaterThanOrEqual(30));

  it.each(INVALID_CASES)("rejects $name at $field", ({ change, field }) => {
    const job = validJob();
    change(job);
    const result = validateJob(job);
    expect(result.ok).toBe(false);
    if (result.ok) return;
    expect(result.errors.map((e) => e.field)).toContain(field);
  });

  it.each(VALID_CASES)("accepts $name", ({ change }) => {
    const job = validJob();
    change(job);
    const result = validateJob(job);
    expect(result.ok ? [] : result.errors).toEqual([]);
  });

  it("says how to write a fractional quantity", () => {
    const job = validJob();
    job.spec.resources = { cpu: 0.5 } as never;
    const result = validateJob(job);
    expect(result.ok ? [] : result.errors).toEqual([
      { field: "spec.resources.cpu", message: expect.stringContaining('written as a string ("0.5")') },
    ]);
  });
});

describe("a job stored under a newer CRD (fields this operator does not know)", () => {
  const stored = () => {
    const job = validJob("newer") as Record<string, any>;
    job.spec.futureOption = { enabled: true }; // say, a new optional field with a default in the newer CRD
    job.spec.rl = { ...job.spec.rl, futureKnob: 3 };
    job.status = { phase: "Training", futureStatus: "x" };
    return job;
  };

  it("is read by the operator with the unknown fields ignored, not failed", () => {
    const parsed = parseStoredJob(stored());
    expect(parsed.ok).toBe(true);
    if (!parsed.ok) return;
    expect(parsed.job.spec).not.toHaveProperty("futureOption");
    expect(parsed.job.spec.rl).not.toHaveProperty("futureKnob");
    expect(parsed.job.status?.phase).toBe("Training");
  });

  it("leaves the stored object as it was", () => {
    const job = stored();
    parseStoredJob(job);
    expect(job.spec.futureOption).toEqual({ enabled: true });
  });

  it("still fails for a real error, naming the field, and validateJob still rejects unknown fields", () => {
    const job = stored();
    job.spec.resources = { ...job.spec.resources, nodes: 0 };
    const parsed = parseStoredJob(job);
    expect(parsed.ok).toBe(false);
    const paths = parsed.ok ? [] : parsed.errors.map((e) => e.field);
    expect(paths).toContain("spec.resources.nodes");
    expect(paths.filter((p) => p.includes("future"))).toEqual([]);
    const checked = validateJob(stored());
    expect(checked.ok ? [] : checked.errors.map((e) => e.field)).toEqual(
      expect.arrayContaining(["spec.futureOption", "spec.rl.futureKnob"]),
    );
  });
});
