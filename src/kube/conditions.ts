// metav1.Condition bookkeeping: a condition's lastTransitionTime moves only when its status does, so recomputing
// status from the same world yields byte-identical conditions (and the operator writes nothing).
import type { Condition } from "../api/schema.ts";

export type ConditionInput = Omit<Condition, "lastTransitionTime" | "observedGeneration">;

/** A condition to set, one to remove, or the previous one to keep as it is. */
export type ConditionChange = ConditionInput | "remove" | "keep";

export function setCondition(
  conditions: readonly Condition[],
  next: ConditionInput,
  now: string,
  generation: number | undefined,
): Condition[] {
  const previous = conditions.find((c) => c.type === next.type);
  const lastTransitionTime = previous && previous.status === next.status ? previous.lastTransitionTime : now;
  const condition: Condition = {
    ...next,
    lastTransitionTime,
    ...(generation !== undefined ? { observedGeneration: generation } : {}),
  };
  return [...conditions.filter((c) => c.type !== next.type), condition].sort((a, b) => a.type.localeCompare(b.type));
}

export function removeCondition(conditions: readonly Condition[], type: string): Condition[] {
  return conditions.filter((c) => c.type !== type);
}

export function isTrue(conditions: readonly Condition[] | undefined, type: string): boolean {
  return conditions?.some((c) => c.type === type && c.status === "True") ?? false;
}
