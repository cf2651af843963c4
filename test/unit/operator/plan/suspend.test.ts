// Suspend policy: spec.suspend deletes the unfinished pods and keeps everything else; resuming starts a new attempt.
import { describe, expect, it } from "vitest";
import type { Condition } from "../../../../src/api/schema.ts";
import type { ConditionInput } from "../../../../src/kube/conditions.ts";
import { type Suspension, suspension } from "../../../../src/operator/plan/suspend.ts";
import { at } from "./world.ts";

const suspended = (status: Condition["status"]): Condition => ({
  type: "Suspended",
  status,
  reason: status === "True" ? "Suspended" : "Resumed",
  message: "",
  lastTransitionTime: at(-60),
});
const SUSPENDED_CONDITIONS: ConditionInput[] = [
  { type: "Suspended", status: "True", reason: "Suspended", message: "spec.suspend is true" },
  { type: "Reconciling", status: "False", reason: "Suspended", message: "the job is suspended" },
  { type: "Stalled", status: "False", reason: "Suspended", message: "" },
];
const RESUMED_CONDITION: ConditionInput = {
  type: "Suspended",
  status: "False",
  reason: "Resumed",
  message: "spec.suspend is false",
};

describe("suspension", () => {
  it.each<{ name: string; suspend: boolean; before: Condition[]; result: Suspension }>([
    {
      name: "never suspended: nothing to say",
      suspend: false,
      before: [],
      result: { state: "running", resumed: false, conditions: [] },
    },
    {
      name: "suspended now",
      suspend: true,
      before: [],
      result: { state: "suspended", conditions: SUSPENDED_CONDITIONS },
    },
    {
      name: "still suspended",
      suspend: true,
      before: [suspended("True")],
      result: { state: "suspended", conditions: SUSPENDED_CONDITIONS },
    },
    {
      name: "suspended again after a resume",
      suspend: true,
      before: [suspended("False")],
      result: { state: "suspended", conditions: SUSPENDED_CONDITIONS },
    },
    {
      name: "resumed: a new attempt",
      suspend: false,
      before: [suspended("True")],
      result: { state: "running", resumed: true, conditions: [RESUMED_CONDITION] },
    },
    {
      name: "running since a resume: not resumed again",
      suspend: false,
      before: [suspended("False")],
      result: { state: "running", resumed: false, conditions: [RESUMED_CONDITION] },
    },
  ])("$name", ({ suspend, before, result }) => {
    expect(suspension(suspend, before)).toEqual(result);
  });
});
