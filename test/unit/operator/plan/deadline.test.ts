// Deadline policy: spec.activeDeadlineSeconds counted from status.startTime; past it the job fails, before it the
// reconcile is scheduled for the moment it runs out.
import { describe, expect, it } from "vitest";
import { type DeadlineCheck, deadlineCheck } from "../../../../src/operator/plan/deadline.ts";
import { at, NOW } from "./world.ts";

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
