// Suspend policy: spec.suspend deletes the unfinished pods and keeps everything else (volume, finished stages,
// counters). Resuming starts the stage again as a new attempt, because the suspended attempt's pods may still be
// terminating under the old names; the deadline clock starts anew, as batch/v1 Jobs do.

import { CONDITION } from "../../api/conditions.ts";
import type { Condition } from "../../api/schema.ts";
import { type ConditionInput, isTrue } from "../../kube/conditions.ts";

export type Suspension =
  | { state: "suspended"; conditions: ConditionInput[] }
  | { state: "running"; resumed: boolean; conditions: ConditionInput[] };

export function suspension(suspend: boolean, before: readonly Condition[]): Suspension {
  if (suspend) {
    return {
      state: "suspended",
      conditions: [
        { type: CONDITION.suspended, status: "True", reason: "Suspended", message: "spec.suspend is true" },
        { type: CONDITION.reconciling, status: "False", reason: "Suspended", message: "the job is suspended" },
        { type: CONDITION.stalled, status: "False", reason: "Suspended", message: "" },
      ],
    };
  }
  const resumed = isTrue(before, CONDITION.suspended);
  const known = before.some((c) => c.type === CONDITION.suspended);
  return {
    state: "running",
    resumed,
    conditions: known
      ? [{ type: CONDITION.suspended, status: "False", reason: "Resumed", message: "spec.suspend is false" }]
      : [],
  };
}
