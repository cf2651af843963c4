// The generic controller runtime: informer caches, a work queue, controllers, writes, events, leader election and
// the manager that runs them. It knows nothing about CollabTrainingJobs.

export {
  Controller,
  type ControllerOptions,
  type ObjectKey,
  type ReconcileResult,
  type Reconciler,
  type WatchSpec,
} from "./controller.ts";
export { type ObjectRef, resourcePath, serves } from "./discovery.ts";
export { EventRecorder, type EventRecorderOptions, type EventType } from "./events.ts";
export { ApiError, request, statusCode } from "./http.ts";
export { deepFreeze } from "./immutable.ts";
export type { Cache, InformerEvent } from "./informer.ts";
export { type KubeConfig, loadKubeConfig } from "./kubeconfig.ts";
export { type LeaderElectionOptions, LeaderElector } from "./leader-elector.ts";
export { Manager, type ManagerLeaderElection, type ManagerOptions } from "./manager.ts";
export { VersionMemo, type VersionMemoOptions } from "./memo.ts";
export { exposition, type StreamedMetric } from "./metrics.ts";
export { nextSlice } from "./slice.ts";
export type { IndexFunction } from "./store.ts";
export { sharedLines, slimPod, stripBookkeeping } from "./transform.ts";
export { type ApplyOptions, applyObject, type DeleteOptions, deleteObject, patchStatus } from "./writes.ts";
