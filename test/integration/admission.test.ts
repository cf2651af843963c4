// The CRD as the real apiserver enforces it: examples accepted with defaults, every invalid row rejected naming its
// field (the same table zod must reject, see test/unit/api), immutable fields refused on update.
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { readManifests } from "../../src/api/manifest.ts";
import { GROUP, PLURAL, VERSION } from "../../src/api/schema.ts";
import { validateJob } from "../../src/api/validate.ts";
import { ROOT } from "../cluster/cluster.ts";
import { INVALID_CASES, type Manifest, VALID_CASES, validJob } from "../fixtures/invalid-jobs.ts";
import { apiStatus, custom, testNamespace } from "./kube.ts";

const objects = { group: GROUP, version: VERSION, plural: PLURAL };

async function dryRunCreate(namespace: string, body: Manifest) {
  return custom.createNamespacedCustomObject({ ...objects, namespace, body, dryRun: "All", fieldValidation: "Strict" });
}

/** The CollabTrainingJobs of an example file as kubectl reads them. */
function examplesOf(text: string): Manifest[] {
  const read = readManifests(text);
  if (!read.ok) throw new Error(read.errors.join("; "));
  return read.documents.filter((o) => (o as Manifest | null)?.kind === "CollabTrainingJob") as Manifest[];
}

function examples(): { file: string; job: Manifest }[] {
  return readdirSync(join(ROOT, "examples"))
    .filter((f) => f.endsWith(".yaml"))
    .flatMap((file) => examplesOf(readFileSync(join(ROOT, "examples", file), "utf8")).map((job) => ({ file, job })));
}

describe("admission by the real apiserver", () => {
  let ns: string;
  beforeAll(async () => {
    ns = await testNamespace("admission");
  });

  it.each(examples())("accepts $file and returns it with defaults filled in", async ({ job }) => {
    const created = (await dryRunCreate(ns, { ...job, metadata: { ...job.metadata, namespace: ns } })) as Manifest & {
      spec: Record<string, any>;
    };
    expect(created.spec.runtime.verl).toBe("0.6.0");
    expect(created.spec.scheduling.startupTimeoutSeconds).toBe(1800);
    expect(created.spec.rollout.multiTurn.futureConversations).toBeGreaterThan(0);
    // The server's defaults are zod's defaults.
    const parsed = validateJob(job);
    if (!parsed.ok) throw new Error(JSON.stringify(parsed.errors));
    expect(created.spec).toEqual(JSON.parse(JSON.stringify(parsed.job.spec)));
  });

  it.each(VALID_CASES)("accepts $name, as zod does, with the same defaults", async ({ change }) => {
    const job = validJob();
    change(job);
    const created = (await dryRunCreate(ns, { ...job, metadata: { ...job.metadata, namespace: ns } })) as Manifest;
    const parsed = validateJob(job);
    if (!parsed.ok) throw new Error(JSON.stringify(parsed.errors));
    expect(created.spec).toEqual(JSON.parse(JSON.stringify(parsed.job.spec)));
  });

  it.each(INVALID_CASES)("rejects $name, naming $field", async ({ change, field }) => {
    const job = validJob();
    change(job);
    const error = await dryRunCreate(ns, { ...job, metadata: { ...job.metadata, namespace: ns } }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error, "the apiserver accepted it").toBeDefined();
    const status = apiStatus(error);
    expect([400, 422]).toContain(status.code);
    expect(status.message).toContain(field);
    // zod agrees on the same row.
    const zod = validateJob(job);
    expect(zod.ok ? [] : zod.errors.map((e) => e.field)).toContain(field);
  });

  /** Creates a valid job, changes its stored spec, and sends it back: the update's outcome. */
  async function createThenUpdate(name: string, change: (spec: Record<string, any>) => void) {
    const stored = (await custom.createNamespacedCustomObject({
      ...objects,
      namespace: ns,
      body: validJob(name),
    })) as Manifest & {
      spec: Record<string, any>;
    };
    change(stored.spec);
    return custom.replaceNamespacedCustomObject({ ...objects, namespace: ns, name, body: stored }).then(
      (updated) => ({ updated: updated as Manifest & { spec: Record<string, any> }, error: undefined }),
      (error: unknown) => ({ updated: undefined, error }),
    );
  }

  it.each([
    { field: "spec.model", change: (s: Record<string, any>) => (s.model = "Qwen/Qwen2.5-14B-Instruct") },
    { field: "spec.rl", change: (s: Record<string, any>) => (s.rl = { batchSize: 32 }) },
    { field: "spec.resources", change: (s: Record<string, any>) => (s.resources = { nodes: 2 }) },
    { field: "spec.storage", change: (s: Record<string, any>) => (s.storage = { size: "2Ti" }) },
  ])("refuses to change $field after creation", async ({ field, change }) => {
    const { error } = await createThenUpdate(`immutable-${field.split(".")[1]}`, change);
    const status = apiStatus(error);
    expect(status.code).toBe(422);
    expect(status.message).toContain(field);
    expect(status.message).toContain("immutable");
  });

  it("lets a running job be suspended and its budget raised", async () => {
    const { updated, error } = await createThenUpdate("mutable", (spec) => {
      spec.suspend = true;
      spec.budget = { maxTokens: 1000 };
    });
    expect(error).toBeUndefined();
    expect(updated?.spec.suspend).toBe(true);
    expect(updated?.spec.budget).toEqual({ maxTokens: 1000, onExhausted: "Release" });
  });
});
