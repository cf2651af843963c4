// Which trainer image a job's pods run: the job's own, else the operator's, whose bigcodebench variant for pass_rate
// (veRL's pass_rate metric scores 0 for the whole run when bigcodebench cannot be imported).
import { describe, expect, it } from "vitest";
import { DEFAULT_OPERATOR_CONTEXT, preparePod, trainerImage, trainingPods } from "../../../src/children/pods.ts";
import { exampleCase } from "../verl/cases.ts";

const ctx = { ...DEFAULT_OPERATOR_CONTEXT, trainerImage: "plain:1", bigcodebenchTrainerImage: "bcb:1" };

describe("trainer image", () => {
  it("is the bigcodebench variant for the shipped bigcodebench example, on every pod", () => {
    const { job } = exampleCase("bigcodebench");
    expect(trainerImage(job.spec, ctx)).toBe("bcb:1");
    const pods = [preparePod(job, ctx, 0), ...trainingPods(job, ctx, 0)];
    expect(new Set(pods.map((p) => p.spec.containers[0]!.image))).toEqual(new Set(["bcb:1"]));
  });

  it("is the plain image without pass_rate", () => {
    expect(trainerImage(exampleCase("math-hard").job.spec, ctx)).toBe("plain:1");
  });

  it("is the job's own when it names one, pass_rate or not", () => {
    const { job } = exampleCase("bigcodebench");
    expect(trainerImage({ ...job.spec, runtime: { ...job.spec.runtime, image: "mine:2" } }, ctx)).toBe("mine:2");
  });
});
