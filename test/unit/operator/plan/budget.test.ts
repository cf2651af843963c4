// Budget policy: once BudgetExceeded=True the training stage lets its pods go and waits for a raise (Release, the
// default) or fails (Stop); Wait keeps a running attempt.
import { describe, expect, it } from "vitest";
import type { CollabTrainingJob, Condition, SpecInput, Status } from "../../../../src/api/schema.ts";
import { budgetState } from "../../../../src/operator/plan/budget.ts";
import { at, DATASET_READY, exited, job, planWorld, pod } from "./world.ts";

const spent = (generation = 1): Condition => ({
  type: "BudgetExceeded",
  status: "True",
  reason: "TokenBudgetSpent",
  message: "1000 of 1000 tokens used",
  observedGeneration: generation,
  lastTransitionTime: at(-30),
});
const training = (conditions: Condition[], more: Partial<Status> = {}): Status => ({
  phase: "Training",
  stage: "Training",
  attempt: 0,
  restarts: 0,
  conditions: [DATASET_READY, ...conditions],
  usage: { totalTokens: 1000 },
  progress: { step: 12, totalSteps: 40, stepOfTotal: "12/40", checkpointStep: 10 },
  ...more,
});
const withGeneration = (j: CollabTrainingJob, generation: number): CollabTrainingJob => ({
  ...j,
  metadata: { ...j.metadata, generation },
});
const budgeted = (more: Partial<SpecInput["budget"]> = {}): Partial<SpecInput> => ({
  budget: { maxTokens: 1000, ...more },
});
const running = [pod("job-a0-head")];

describe("budgetState", () => {
  it.each<{ name: string; spec: Partial<SpecInput>; status: Status; generation?: number; spent: boolean }>([
    { name: "no condition", spec: budgeted(), status: training([]), spent: false },
    {
      name: "BudgetExceeded=False",
      spec: budgeted(),
      status: training([{ ...spent(), status: "False" }]),
      spent: false,
    },
    { name: "BudgetExceeded=True", spec: budgeted(), status: training([spent()]), spent: true },
    { name: "the budget removed", spec: {}, status: training([spent()]), spent: false },
    {
      name: "raised above what was used",
      spec: budgeted({ maxTokens: 5000 }),
      status: training([spent()]),
      generation: 2,
      spent: false,
    },
    {
      name: "changed but still at or below what was used",
      spec: budgeted({ maxTokens: 900 }),
      status: training([spent()]),
      generation: 2,
      spent: true,
    },
  ])("$name: spent $spent", ({ spec, status, generation, spent: want }) => {
    expect(budgetState(withGeneration(job(spec, status), generation ?? 1)).spent).toBe(want);
  });
});

describe("the plan of a training stage whose budget is spent", () => {
  it("Release (the default): lets the attempt's pods go at once, counts no restart, and waits for a raise", () => {
    const p = planWorld(job(budgeted(), training([spent()])), running);
    expect(p.deletePods).toContain("job-a0-head");
    expect(p.status).toMatchObject({
      phase: "Restarting",
      attempt: 1,
      restarts: 0,
      disruptions: 0,
      waiting: "Budget: TokenBudgetSpent",
    });
    expect(p.status.lastRestart).toMatchObject({ reason: "BudgetExceeded", counted: false });
    expect(p.events).toContainEqual(expect.objectContaining({ type: "Warning", reason: "BudgetExceeded" }));
    expect(p.events.find((e) => e.reason === "BudgetExceeded")?.message).toContain("the latest checkpoint is step 10");
  });

  it("Release: creates no pod of the next attempt until the budget is raised, then resumes", () => {
    const waiting = job(budgeted(), training([spent()], { attempt: 1, phase: "Restarting" }));
    const held = planWorld(waiting, []);
    expect(held.apply.filter((a) => a.kind === "Pod")).toEqual([]);
    expect(held.status.waiting).toBe("Budget: TokenBudgetSpent");
    expect(held.status.conditions?.find((c) => c.type === "Reconciling")).toMatchObject({ reason: "BudgetExceeded" });
    const raised = withGeneration(
      job(budgeted({ maxTokens: 5000 }), training([spent()], { attempt: 1, phase: "Restarting" })),
      2,
    );
    const resumed = planWorld(raised, []);
    expect(resumed.apply.filter((a) => a.kind === "Pod").map((a) => a.name)).toContain("job-a1-head");
    expect(resumed.status.waiting).toBeUndefined();
  });

  it("a trainer that failed on the refusals is not judged: no restart is counted", () => {
    const failed = pod("job-a0-head", { phase: "Failed", containers: [exited("trainer", 1)] });
    const p = planWorld(job(budgeted(), training([spent()])), [failed]);
    expect(p.status).toMatchObject({ restarts: 0, attempt: 1 });
    expect(p.status.lastRestart).toMatchObject({ reason: "BudgetExceeded", counted: false });
  });

  it("Wait: keeps a running attempt (the gateways refuse its calls); one that failed meanwhile goes, uncounted", () => {
    const kept = planWorld(job(budgeted({ onExhausted: "Wait" }), training([spent()])), running);
    expect(kept.deletePods).toEqual([]);
    expect(kept.status).toMatchObject({ phase: "Training", attempt: 0 });
    const failed = pod("job-a0-head", { phase: "Failed", containers: [exited("trainer", 1)] });
    const gone = planWorld(job(budgeted({ onExhausted: "Wait" }), training([spent()])), [failed]);
    expect(gone.status).toMatchObject({
      phase: "Restarting",
      attempt: 1,
      restarts: 0,
      waiting: "Budget: TokenBudgetSpent",
    });
  });

  it("Stop: the job fails with BudgetExceeded, naming the latest checkpoint, its pods let go", () => {
    const p = planWorld(job(budgeted({ onExhausted: "Stop" }), training([spent()])), running);
    expect(p.status.phase).toBe("Failed");
    const failed = p.status.conditions?.find((c) => c.type === "Failed");
    expect(failed).toMatchObject({ reason: "BudgetExceeded" });
    expect(failed?.message).toContain("the latest checkpoint is step 10");
    expect(p.status.restarts).toBe(0);
    expect(p.deletePods).toContain("job-a0-head");
  });

  it("leaves the stages before training alone (they call no endpoint)", () => {
    const preparing = job(budgeted(), { phase: "Preparing", stage: "Preparing", attempt: 0, conditions: [spent()] });
    expect(planWorld(preparing, [pod("job-a0-prepare")]).status.phase).toBe("Preparing");
  });
});
