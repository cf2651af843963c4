// What the operator reads back from the cluster: fields it does not know are ignored, only a spec it cannot use fails.
import { describe, expect, it } from "vitest";
import { parseStoredJob, storedStatus } from "../../../src/api/stored.ts";
import { validJob } from "../../fixtures/invalid-jobs.ts";

/** A job as a newer CRD might have stored it. */
function stored(change: (job: any) => void) {
  const job: any = { ...validJob("job"), metadata: { name: "job", namespace: "ns", uid: "u", generation: 2 } };
  change(job);
  return parseStoredJob(job);
}

describe("parseStoredJob", () => {
  it.each([
    ["a spec field", (j: any) => (j.spec.futureField = { a: 1 }), "spec.futureField"],
    ["a nested spec field", (j: any) => (j.spec.rl = { futureKnob: 3 }), "spec.rl.futureKnob"],
    [
      "a field of a toleration",
      (j: any) => (j.spec.scheduling = { tolerations: [{ key: "a", operator: "Exists", futureMatch: "x" }] }),
      "spec.scheduling.tolerations[0].futureMatch",
    ],
    ["a status field", (j: any) => (j.status = { phase: "Training", futureStatus: { x: 1 } }), "status.futureStatus"],
    [
      "a field of a condition",
      (j: any) =>
        (j.status = {
          conditions: [
            { type: "A", status: "True", reason: "R", message: "", lastTransitionTime: "2026-01-01T00:00:00Z", x: 1 },
          ],
        }),
      "status.conditions[0].x",
    ],
  ])("reconciles a job with %s it does not know, ignoring it", (_, change, path) => {
    const result = stored(change);
    expect(result.ok ? [] : result.errors).toEqual([]);
    expect(result.ignored).toContain(path);
  });

  it("reconciles a job with a top-level field it does not know", () => {
    expect(stored((j) => (j.futureTopLevel = true)).ok).toBe(true);
  });

  it("keeps metadata whole", () => {
    const result = stored((j) => (j.metadata.labels = { a: "b" }));
    expect(result.ok && result.job.metadata).toMatchObject({ labels: { a: "b" }, uid: "u" });
  });

  it("leaves out a status value a newer operator wrote, keeping the rest", () => {
    const result = stored((j) => (j.status = { phase: "Hibernating", attempt: 2, restarts: "many" }));
    expect(result.ok && result.job.status).toEqual({ attempt: 2 });
    expect(result.ignored).toEqual([
      expect.stringContaining("status.phase"),
      expect.stringContaining("status.restarts"),
    ]);
  });

  it("fails a spec whose known fields it cannot use, naming them", () => {
    const result = stored((j) => (j.spec.runtime = { verl: "0.7.0" }));
    expect(result.ok ? [] : result.errors.map((e) => e.field)).toEqual(["spec.runtime.verl"]);
  });

  it("fails a job without a spec", () => {
    const result = stored((j) => delete j.spec);
    expect(result.ok).toBe(false);
  });

  it("reads the status it knows of a job it cannot parse", () => {
    expect(storedStatus({ status: { phase: "Training", attempt: 1, futureStatus: {}, restarts: "x" } })).toEqual({
      phase: "Training",
      attempt: 1,
    });
    expect(storedStatus({})).toEqual({});
  });
});
