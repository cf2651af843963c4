// The job's /status has two writers, each owning its fields under its own field manager (docs/operator.md, "One writer
// per field"): the reconciler (phase, conditions but BudgetExceeded, counters, ...) and the report endpoint (progress,
// usage, BudgetExceeded). Both write by server-side apply, so neither can remove the other's fields.
import type { KubernetesObject } from "@kubernetes/client-node";
import { API_VERSION, KIND } from "../api/schema.ts";
import { type KubeConfig, type ObjectKey, patchStatus } from "../runtime/index.ts";

export const STATUS_MANAGER = "collab-operator-status";
export const PROGRESS_MANAGER = "collab-operator-progress";

/** The job's own object reference. */
export function jobRef(key: ObjectKey) {
  return { apiVersion: API_VERSION, kind: KIND, namespace: key.namespace, name: key.name };
}

/** Applies `status` to the job's /status as `manager`; returns the job as the apiserver then holds it. */
export function writeJobStatus(
  kc: KubeConfig,
  key: ObjectKey,
  status: object,
  manager: typeof STATUS_MANAGER | typeof PROGRESS_MANAGER,
  signal: AbortSignal,
): Promise<KubernetesObject> {
  return patchStatus(kc, jobRef(key), status, manager, { signal });
}
