// metav1.Condition bookkeeping: a condition's lastTransitionTime moves only when its status does, so recomputing
// status from the same world yields byte-identical conditions (and the operator writes nothing).
import type { Condition } from "../api/schema.ts";

export type ConditionInput = Omit<Condition, "lastTransitionTime" | "observedGeneration">;

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

/** The condition types the job's status carries (docs/operator.md, "Status and conditions"). */
export const CONDITION = {
  secretsReady: "SecretsReady",
  endpointsReady: "EndpointsReady",
  storageReady: "StorageReady",
  childrenCreated: "ChildrenCreated",
  schedulingReady: "SchedulingReady",
  queued: "Queued",
  admitted: "Admitted",
  podsScheduled: "PodsScheduled",
  waitingForCapacity: "WaitingForCapacity",
  datasetReady: "DatasetReady",
  fineTuned: "FineTuned",
  succeeded: "Succeeded",
  failed: "Failed",
  suspended: "Suspended",
  reconciling: "Reconciling",
  stalled: "Stalled",
} as const;

/** Seconds between two RFC 3339 times (b - a). */
export function secondsBetween(a: string, b: string): number {
  return (Date.parse(b) - Date.parse(a)) / 1000;
}

/** `time` plus `seconds`, as RFC 3339 with second precision (the precision of metav1.Time). */
export function addSeconds(time: string, seconds: number): string {
  return new Date(Date.parse(time) + seconds * 1000).toISOString().replace(/\.\d{3}Z$/, "Z");
}
