// The condition types a job's status carries (docs/operator.md, "Status and conditions"): `kubectl wait
// --for=condition=<type>` and the GitOps health checks read them by these names.
export const CONDITION = {
  secretsReady: "SecretsReady",
  endpointsReady: "EndpointsReady",
  storageReady: "StorageReady",
  childrenCreated: "ChildrenCreated",
  schedulingReady: "SchedulingReady",
  /** The model servers of the served roles (spec.<role>.serve) have a ready replica. */
  servingReady: "ServingReady",
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
  /** Written by the report endpoint, never by the planner (one writer per field). */
  budgetExceeded: "BudgetExceeded",
  /** Written by the report endpoint: whether the projected spend fits the budget (report/pace.ts). */
  budgetSufficient: "BudgetSufficient",
} as const;

/** The conditions the report endpoint writes; the planner neither reads them as its own nor writes them. */
export const REPORTED_CONDITIONS: readonly string[] = [CONDITION.budgetExceeded, CONDITION.budgetSufficient];
