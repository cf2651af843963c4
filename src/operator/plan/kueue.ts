// Kueue policy: while Kueue holds a stage's pods back (its admission gate), the job says so, with the words of Kueue's
// own Workload (`couldn't assign flavors to pod set ...: insufficient unused quota ...`), and once Kueue admits them,
// says that (conditions Queued and Admitted). A queue that cannot admit anything as things stand (Kueue's reason
// Inadmissible: the LocalQueue or its ClusterQueue is missing or stopped) needs an administrator, and pods that Kueue
// does not manage at all (their namespace is outside its managedJobsNamespaceSelector) run without any quota: both
// are said, with a Warning. Gated pods ask for no capacity and start no startup clock (capacity.ts, startup.ts).
import type { V1Pod } from "@kubernetes/client-node";
import { CONDITION } from "../../api/conditions.ts";
import type { DesiredPod } from "../../children/pods.ts";
import type { ConditionChange, ConditionInput } from "../../kube/conditions.ts";
import { type KueueWorkload, type PodView, podName } from "./observed.ts";

/**
 * Kueue's scheduling gate and the label its webhook puts on the pods it manages (kubernetes-sigs/kueue's
 * pkg/controller/jobs/pod/constants/constants.go; its docs, "Run Plain Pods").
 */
export const KUEUE_ADMISSION_GATE = "kueue.x-k8s.io/admission";
export const KUEUE_MANAGED_LABEL = "kueue.x-k8s.io/managed";

export interface KueueConditions {
  queued: ConditionChange;
  admitted: ConditionChange;
  /** Kueue's message when it cannot admit the stage as things stand (reason Inadmissible). */
  inadmissible: string | undefined;
}

const REMOVE: KueueConditions = { queued: "remove", admitted: "remove", inadmissible: undefined };

export function kueueConditions(input: {
  queueName: string | undefined;
  desired: readonly DesiredPod[];
  pods: PodView;
  workloads: readonly KueueWorkload[];
}): KueueConditions {
  const { queueName, desired, pods, workloads } = input;
  const existing = desired.map((d) => pods.byName.get(d.metadata.name)).filter((p): p is V1Pod => p !== undefined);
  if (queueName === undefined || existing.length === 0) return REMOVE;
  const uids = new Set(existing.map((p) => p.metadata?.uid));
  const workload = workloads
    .filter((w) => w.podUids.some((u) => uids.has(u)))
    .sort((a, b) => a.name.localeCompare(b.name))[0];
  const verdict = workload ? fromWorkload(workload) : fromPods(existing, queueName);
  const queued: ConditionInput = verdict.admitted
    ? { type: CONDITION.queued, status: "False", reason: "Admitted", message: verdict.message }
    : { type: CONDITION.queued, status: "True", reason: verdict.reason, message: verdict.message };
  return {
    queued: verdict.reason === "NotManaged" ? { ...queued, status: "False" } : queued,
    admitted: verdict.admitted
      ? { type: CONDITION.admitted, status: "True", reason: "Admitted", message: verdict.message }
      : { type: CONDITION.admitted, status: "False", reason: verdict.reason, message: verdict.message },
    inadmissible: verdict.reason === "Inadmissible" ? verdict.message : undefined,
  };
}

interface Verdict {
  admitted: boolean;
  reason: string;
  message: string;
}

function fromWorkload(w: KueueWorkload): Verdict {
  const find = (type: string) => w.conditions.find((c) => c.type === type);
  const admitted = find("Admitted");
  if (admitted?.status === "True") {
    return { admitted: true, reason: "Admitted", message: `Kueue workload ${w.name}: ${admitted.message}` };
  }
  // Waiting for quota, or holding quota while admission checks run: Kueue's own reason and words either way.
  const quota = find("QuotaReserved");
  const why = quota?.status === "False" ? quota : (admitted ?? quota);
  return {
    admitted: false,
    reason: why?.reason || "Pending",
    message: `Kueue workload ${w.name}: ${why?.message || "waiting to be admitted"}`,
  };
}

function fromPods(existing: readonly V1Pod[], queueName: string): Verdict {
  const gated = existing.filter((p) => p.spec?.schedulingGates?.some((g) => g.name === KUEUE_ADMISSION_GATE));
  if (gated.length > 0) {
    return {
      admitted: false,
      reason: "Pending",
      message: `pod(s) ${gated.map(podName).join(", ")} wait for Kueue to admit them through LocalQueue ${queueName}`,
    };
  }
  const unmanaged = existing.filter((p) => p.metadata?.labels?.[KUEUE_MANAGED_LABEL] !== "true");
  if (unmanaged.length > 0) {
    return {
      admitted: false,
      reason: "NotManaged",
      message: `Kueue does not manage pod(s) ${unmanaged.map(podName).join(", ")} (is their namespace outside Kueue's managedJobsNamespaceSelector?): they run outside LocalQueue ${queueName}'s quota`,
    };
  }
  return { admitted: true, reason: "Admitted", message: `Kueue admitted the pods through LocalQueue ${queueName}` };
}
