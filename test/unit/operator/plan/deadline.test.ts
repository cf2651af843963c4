// Deadline policy: spec.activeDeadlineSeconds counted from status.startTime; past it the job fails, before it the
// reconcile is scheduled for the moment it runs out.
import type { V1Pod } from "@kubernetes/client-node";
import { describe, expect, it } from "vitest";
import type { Status } from "../../../../src/api/schema.ts";
import {
  type DeadlineCheck,
  deadlineCheck,
  ESI_ENV,
  esiEnv,
  esiMarginSeconds,
} from "../../../../src/operator/plan/deadline.ts";
import { at, DATASET_READY, job, NOW, planWorld, TWO_NODES } from "./world.ts";

describe("deadlineCheck", () => {
  it.each<{ name: string; seconds: number | undefined; startTime: string | undefined; check: DeadlineCheck }>([
    { name: "no deadline", seconds: undefined, startTime: at(-1_000_000), check: undefined },
    { name: "not started (no pod bound yet): no clock", seconds: 60, startTime: undefined, check: undefined },
    { name: "just started", seconds: 3600, startTime: NOW, check: { requeueAfterMs: 3_601_000 } },
    {
      name: "one second before: wakes a second after it runs out",
      seconds: 3600,
      startTime: at(-3599),
      check: { requeueAfterMs: 2000 },
    },
    {
      name: "exactly at the deadline",
      seconds: 3600,
      startTime: at(-3600),
      check: {
        exceeded: `the job ran past spec.activeDeadlineSeconds (3600 s since it started at ${at(-3600)}, due ${NOW})`,
      },
    },
    {
      name: "long past it",
      seconds: 1,
      startTime: at(-86_400),
      check: {
        exceeded: `the job ran past spec.activeDeadlineSeconds (1 s since it started at ${at(-86_400)}, due ${at(-86_399)})`,
      },
    },
  ])("$name", ({ seconds, startTime, check }) => {
    expect(deadlineCheck(seconds, startTime, NOW)).toEqual(check);
  });
});

describe("the deadline veRL is told (ESI)", () => {
  it.each([
    [{}, 30],
    [{ checkpointSeconds: 45 }, 30],
    [{ checkpointSeconds: 100.5 }, 71],
    [{ checkpointSeconds: 100, meanStepSeconds: 90, longestStepSeconds: 150 }, 130],
    [{ meanStepSeconds: 90 }, 30],
  ])("margin for %j: %i s", (measured, margin) => {
    expect(esiMarginSeconds(measured)).toBe(margin);
  });

  it("is the deadline less the margin, in unix seconds, as MLP_CURRENT_CAPACITY_BLOCK_EXPIRATION_TIMESTAMP", () => {
    expect(esiEnv(3600, NOW, at(100), 30)).toEqual([
      { name: ESI_ENV, value: String(Date.parse(NOW) / 1000 + 3600 - 30) },
    ]);
    // Not started yet: from now.
    expect(esiEnv(3600, undefined, at(100), 30)).toEqual([
      { name: ESI_ENV, value: String(Date.parse(at(100)) / 1000 + 3600 - 30) },
    ]);
    expect(esiEnv(undefined, NOW, NOW, 30)).toEqual([]);
  });

  it("reaches every training pod's trainer, and names the latest checkpoint when the deadline passes", () => {
    const started: Status = {
      phase: "Training",
      stage: "Training",
      attempt: 1,
      startTime: at(-3000),
      conditions: [DATASET_READY],
      progress: { step: 40, totalSteps: 100, stepOfTotal: "40/100", checkpointStep: 38, checkpointSeconds: 90 },
      pace: {
        lastStep: { step: 40, steps: 1, seconds: 60, tokens: 0, userSimulator: { tokens: 0 }, judge: { tokens: 0 } },
        perStep: {
          steps: 10,
          seconds: 60,
          longestSeconds: 100,
          tokens: 0,
          userSimulator: { tokens: 0 },
          judge: { tokens: 0 },
        },
      },
    };
    const j = job({ ...TWO_NODES, activeDeadlineSeconds: 3600 }, started);
    const p = planWorld(j, []);
    const pods = p.apply.filter((a) => a.kind === "Pod");
    expect(pods.map((a) => a.name)).toEqual(["job-a1-head", "job-a1-worker-1"]);
    // 30 s of save beyond 60, 40 s of the longest step beyond the mean, 30 s of slack.
    const due = String(Date.parse(at(600)) / 1000 - 100);
    for (const a of pods) {
      const env = (a.object as V1Pod).spec?.containers[0]?.env ?? [];
      expect(env).toContainEqual({ name: ESI_ENV, value: due });
    }
    const late = planWorld(
      job({ ...TWO_NODES, activeDeadlineSeconds: 3600 }, { ...started, startTime: at(-3700) }),
      [],
    );
    expect(late.status.conditions?.find((c) => c.type === "Failed")?.message).toContain(
      "the latest checkpoint is step 38",
    );
  });
});
