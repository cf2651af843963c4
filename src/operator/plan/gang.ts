// Gang policy: which mechanism holds a job's training pods back until all of them can start (Kueue's pod group, the
// native PodGroup, or none), decided from spec.scheduling and what the cluster serves, and whether what the spec asks
// for is there at all. A queue or a gang API the cluster does not serve blocks pod creation, as a missing Secret does:
// pods made without it would start one by one, and a half-placed gang holds its GPUs idle.

import { CONDITION } from "../../api/conditions.ts";
import type { Condition, Spec, Status } from "../../api/schema.ts";
import { type GangMechanism, gangMechanism, type ServedApis } from "../../children/gang.ts";
import type { ConditionInput } from "../../kube/conditions.ts";

export interface GangPolicy {
  mechanism: GangMechanism;
  /** Why no pod may be created, as "field: message"; empty when the cluster serves what the spec asks for. */
  problems: string[];
  /** SchedulingReady: False while blocked; True once it was False and no longer is; otherwise not written. */
  condition: ConditionInput | undefined;
}

export function gangPolicy(
  scheduling: Spec["scheduling"],
  served: ServedApis,
  before: readonly Condition[],
): GangPolicy {
  const mechanism = gangMechanism(scheduling, served);
  const problems: string[] = [];
  if (scheduling.queueName !== undefined && !served.kueue) {
    problems.push(
      `spec.scheduling.queueName: the cluster does not serve Kueue (workloads.kueue.x-k8s.io/v1beta2); install Kueue 0.17 or newer (the operator notices within a minute), or remove queueName`,
    );
  }
  if (mechanism === "Workload" && !served.podGroups) {
    problems.push(
      `spec.scheduling.gang: Workload needs native gang scheduling (podgroups.scheduling.k8s.io/v1beta1: Kubernetes 1.37 with the GenericWorkload feature gate and --runtime-config=scheduling.k8s.io/v1beta1=true), which the cluster does not serve; enable it (the operator notices within a minute), or use Auto`,
    );
  }
  const was = before.find((c) => c.type === CONDITION.schedulingReady);
  const condition: ConditionInput | undefined =
    problems.length > 0
      ? { type: CONDITION.schedulingReady, status: "False", reason: "NotServed", message: problems.join("; ") }
      : was
        ? {
            type: CONDITION.schedulingReady,
            status: "True",
            reason: "Served",
            message: `the cluster serves what spec.scheduling asks for (gang: ${mechanism})`,
          }
        : undefined;
  return { mechanism, problems, condition };
}

/** status.gang: the mechanism, and the current attempt's group while its stage is a gang. */
export function gangStatus(
  mechanism: GangMechanism,
  group: { name: string; minCount: number } | undefined,
): NonNullable<Status["gang"]> {
  return { mechanism, ...(group ? { podGroup: group.name, minCount: group.minCount } : {}) };
}
