// The order plan() runs the policies in, where it matters: what the job becomes when several of them apply to the
// same world at once (the operator was away, or two things happened within a reconcile).
import type { V1Pod } from "@kubernetes/client-node";
import { describe, expect, it } from "vitest";
import type { CollabTrainingJob, Phase, SpecInput } from "../../../../src/api/schema.ts";
import type { Plan } from "../../../../src/operator/plan/plan.ts";
import { at, exited, job, planWorld, pod, TWO_NODES } from "./world.ts";

/** A two-node job in Training, its pods bound an hour ago, as the last status recorded it. */
function training(spec: Partial<SpecInput> = {}): CollabTrainingJob {
  const bound = { scheduledAt: at(-3600) };
  const j = job({ ...TWO_NODES, ...spec });
  const pods = [
    pod("job-a0-prepare", { phase: "Succeeded", ...bound }),
    pod("job-a0-head", bound),
    pod("job-a0-worker-1", bound),
  ];
  return { ...j, status: planWorld(j, pods, { now: at(-60) }).status };
}
const bound = { scheduledAt: at(-3600) };
const prepared = pod("job-a0-prepare", { phase: "Succeeded", ...bound });
const headDone = (finishedAt: string) =>
  pod("job-a0-head", { phase: "Succeeded", containers: [exited("trainer", 0, { finishedAt })], ...bound });
const workerFailed = (finishedAt: string) =>
  pod("job-a0-worker-1", { phase: "Failed", containers: [exited("trainer", 1, { finishedAt })], ...bound });
const cond = (p: Plan, type: string) => p.status.conditions?.find((c) => c.type === type);

describe("plan: when several policies apply at once", () => {
  it.each<{
    name: string;
    spec?: Partial<SpecInput>;
    pods: V1Pod[];
    overrides?: { secretKeys?: Record<string, string[]> };
    phase: Phase;
    failed?: string;
    recorded?: string[];
  }>([
    {
      name: "the head succeeded and a worker then lost it: the job succeeded",
      pods: [prepared, headDone(at(-20)), workerFailed(at(-10))],
      phase: "Succeeded",
      recorded: ["Succeeded"],
    },
    {
      name: "the head succeeded before the deadline, seen after it: the job succeeded",
      spec: { activeDeadlineSeconds: 3590 },
      pods: [prepared, headDone(at(-20)), pod("job-a0-worker-1", bound)],
      phase: "Succeeded",
      recorded: ["Succeeded"],
    },
    {
      name: "the head succeeded as the job was suspended: the job succeeded, training does not run again",
      spec: { suspend: true },
      pods: [prepared, headDone(at(-20)), pod("job-a0-worker-1", bound)],
      phase: "Succeeded",
      recorded: ["Succeeded"],
    },
    {
      name: "the head succeeded while a Secret went missing: the job succeeded",
      pods: [prepared, headDone(at(-20)), pod("job-a0-worker-1", bound)],
      overrides: { secretKeys: {} },
      phase: "Succeeded",
      recorded: ["Succeeded"],
    },
    {
      name: "a worker failed as the job was suspended: suspended, no restart counted",
      spec: { suspend: true },
      pods: [prepared, pod("job-a0-head", bound), workerFailed(at(-10))],
      phase: "Suspended",
    },
    {
      name: "a worker failed after the deadline: the deadline decides",
      spec: { activeDeadlineSeconds: 3590 },
      pods: [prepared, pod("job-a0-head", bound), workerFailed(at(-5))],
      phase: "Failed",
      failed: "DeadlineExceeded",
    },
  ])("$name", ({ spec = {}, pods, overrides = {}, phase, failed, recorded = [] }) => {
    const p = planWorld(training(spec), pods, overrides);
    expect(p.status.phase).toBe(phase);
    expect(p.status.restarts).toBe(0);
    expect(cond(p, "Failed")?.reason).toBe(failed);
    for (const type of recorded) expect(cond(p, type)?.status).toBe("True");
  });

  it("records a stage finished as the job was suspended, so resuming does not run it again", () => {
    const j = job({ ...TWO_NODES });
    const preparing = { ...j, status: planWorld(j, [pod("job-a0-prepare")], { now: at(-60) }).status };
    const suspending = planWorld({ ...preparing, spec: { ...preparing.spec, suspend: true } }, [
      pod("job-a0-prepare", { phase: "Succeeded" }),
    ]);
    expect(suspending.status.phase).toBe("Suspended");
    expect(cond(suspending, "DatasetReady")?.status).toBe("True");
    const resumed = planWorld({ ...preparing, status: suspending.status }, [], { now: at(60) });
    expect(resumed.apply.filter((a) => a.kind === "Pod").map((a) => a.name)).toEqual([
      "job-a1-head",
      "job-a1-worker-1",
    ]);
  });
  it("carries out a restart from its status alone: written, then the operator died before deleting anything", () => {
    const j = training();
    const gang = [prepared, pod("job-a0-head", bound), workerFailed(at(-10))];
    const decided = planWorld(j, gang);
    expect(decided.status).toMatchObject({ phase: "Restarting", attempt: 1, restarts: 1 });
    const again = planWorld({ ...j, status: decided.status }, gang, { now: at(5) });
    expect(again.deletePods.sort()).toEqual(["job-a0-head", "job-a0-prepare", "job-a0-worker-1"]);
    expect(again.status).toMatchObject({ phase: "Restarting", attempt: 1, restarts: 1, disruptions: 0 });
    expect(again.events).toEqual([]);
    expect(again.apply.filter((a) => a.kind === "Pod")).toEqual([]);
  });
});
