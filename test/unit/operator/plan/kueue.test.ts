// Queue policy: while Kueue holds the stage's pods back the job says Queued, with the words of Kueue's Workload; once
// admitted, Admitted. An inadmissible queue and pods Kueue does not manage are said too.
import type { V1Pod } from "@kubernetes/client-node";
import { describe, expect, it } from "vitest";
import { DEFAULT_OPERATOR_CONTEXT } from "../../../../src/children/pods.ts";
import { type KueueConditions, kueueConditions } from "../../../../src/operator/plan/kueue.ts";
import type { KueueWorkload } from "../../../../src/operator/plan/observed.ts";
import { stagePods } from "../../../../src/operator/plan/stages.ts";
import { job, pod, TWO_NODES, view } from "./world.ts";

const j = job({ ...TWO_NODES, scheduling: { queueName: "team" } });
const desired = stagePods(j, DEFAULT_OPERATOR_CONTEXT, "Training", 0);

/** A pod as Kueue's webhook leaves it: managed, with its uid, and gated until admitted. */
function kueuePod(name: string, state: "gated" | "admitted" | "unmanaged"): V1Pod {
  const p = pod(name, state === "gated" ? { phase: "Pending", node: null } : {});
  return {
    ...p,
    metadata: {
      ...p.metadata,
      uid: `uid-${name}`,
      labels: { ...p.metadata?.labels, ...(state === "unmanaged" ? {} : { "kueue.x-k8s.io/managed": "true" }) },
    },
    spec: {
      ...p.spec,
      containers: [],
      ...(state === "gated"
        ? { schedulingGates: [{ name: "kueue.x-k8s.io/admission" }, { name: "kueue.x-k8s.io/topology" }] }
        : {}),
    },
  };
}

const QUOTA =
  "couldn't assign flavors to pod set 9d3f2a1c: insufficient unused quota for nvidia.com/gpu in flavor h100, 16 more needed";
const workload = (conditions: KueueWorkload["conditions"], owners = ["uid-job-a0-head"]): KueueWorkload => ({
  name: "job-a0-u1",
  podUids: owners,
  conditions,
});
const cond = (type: string, status: string, reason: string, message: string) => ({ type, status, reason, message });
const PENDING = workload([
  cond("QuotaReserved", "False", "Pending", QUOTA),
  cond("PodsReady", "False", "WaitForStart", "Not all pods are ready or succeeded"),
]);
const ADMITTED = workload([
  cond("QuotaReserved", "True", "QuotaReserved", "Quota reserved in ClusterQueue gpus"),
  cond("Admitted", "True", "Admitted", "The workload is admitted"),
]);
const NO_QUEUE = workload([cond("QuotaReserved", "False", "Inadmissible", "LocalQueue team doesn't exist")]);

const queued = (reason: string, message: string): KueueConditions => ({
  queued: { type: "Queued", status: "True", reason, message },
  admitted: { type: "Admitted", status: "False", reason, message },
  inadmissible: reason === "Inadmissible" ? message : undefined,
});
const admitted = (message: string): KueueConditions => ({
  queued: { type: "Queued", status: "False", reason: "Admitted", message },
  admitted: { type: "Admitted", status: "True", reason: "Admitted", message },
  inadmissible: undefined,
});
const GATED = [kueuePod("job-a0-head", "gated"), kueuePod("job-a0-worker-1", "gated")];
const RUNNING = [kueuePod("job-a0-head", "admitted"), kueuePod("job-a0-worker-1", "admitted")];

describe("kueueConditions", () => {
  it.each<{
    name: string;
    queueName?: string | null;
    pods: V1Pod[];
    workloads?: KueueWorkload[];
    result: KueueConditions;
  }>([
    {
      name: "no queue: nothing said (and anything said before removed)",
      queueName: null,
      pods: GATED,
      workloads: [PENDING],
      result: { queued: "remove", admitted: "remove", inadmissible: undefined },
    },
    {
      name: "no pod of the stage made yet: nothing said of another stage's",
      pods: [kueuePod("job-a0-prepare", "admitted")],
      result: { queued: "remove", admitted: "remove", inadmissible: undefined },
    },
    {
      name: "gated, Kueue's Workload not made yet",
      pods: GATED,
      result: queued(
        "Pending",
        "pod(s) job-a0-head, job-a0-worker-1 wait for Kueue to admit them through LocalQueue team",
      ),
    },
    {
      name: "gated, waiting for quota: Kueue's reason and words",
      pods: GATED,
      workloads: [PENDING],
      result: queued("Pending", `Kueue workload job-a0-u1: ${QUOTA}`),
    },
    {
      name: "the Workload is found by any pod that owns it",
      pods: GATED,
      workloads: [workload(PENDING.conditions, ["uid-other", "uid-job-a0-worker-1"])],
      result: queued("Pending", `Kueue workload job-a0-u1: ${QUOTA}`),
    },
    {
      name: "another job's Workload says nothing of this one",
      pods: GATED,
      workloads: [workload(ADMITTED.conditions, ["uid-someone-else"])],
      result: queued(
        "Pending",
        "pod(s) job-a0-head, job-a0-worker-1 wait for Kueue to admit them through LocalQueue team",
      ),
    },
    {
      name: "the LocalQueue does not exist: Inadmissible, for a human",
      pods: GATED,
      workloads: [NO_QUEUE],
      result: queued("Inadmissible", "Kueue workload job-a0-u1: LocalQueue team doesn't exist"),
    },
    {
      name: "quota reserved, admission checks pending: Kueue's Admitted condition says why",
      pods: GATED,
      workloads: [
        workload([
          cond("QuotaReserved", "True", "QuotaReserved", "Quota reserved in ClusterQueue gpus"),
          cond("Admitted", "False", "UnsatisfiedChecks", "The workload has not all checks ready"),
        ]),
      ],
      result: queued("UnsatisfiedChecks", "Kueue workload job-a0-u1: The workload has not all checks ready"),
    },
    {
      name: "admitted",
      pods: RUNNING,
      workloads: [ADMITTED],
      result: admitted("Kueue workload job-a0-u1: The workload is admitted"),
    },
    {
      name: "admitted, its Workload not in the cache (yet or any more): the pods say it",
      pods: RUNNING,
      result: admitted("Kueue admitted the pods through LocalQueue team"),
    },
    {
      name: "one pod made so far, gated: said already",
      pods: [GATED[0] as V1Pod],
      result: queued("Pending", "pod(s) job-a0-head wait for Kueue to admit them through LocalQueue team"),
    },
    {
      name: "pods Kueue does not manage run outside the quota: said, never Admitted",
      pods: [kueuePod("job-a0-head", "unmanaged"), kueuePod("job-a0-worker-1", "unmanaged")],
      result: {
        queued: {
          type: "Queued",
          status: "False",
          reason: "NotManaged",
          message:
            "Kueue does not manage pod(s) job-a0-head, job-a0-worker-1 (is their namespace outside Kueue's managedJobsNamespaceSelector?): they run outside LocalQueue team's quota",
        },
        admitted: {
          type: "Admitted",
          status: "False",
          reason: "NotManaged",
          message:
            "Kueue does not manage pod(s) job-a0-head, job-a0-worker-1 (is their namespace outside Kueue's managedJobsNamespaceSelector?): they run outside LocalQueue team's quota",
        },
        inadmissible: undefined,
      },
    },
  ])("$name", ({ queueName, pods, workloads = [], result }) => {
    expect(
      kueueConditions({
        queueName: queueName === null ? undefined : (queueName ?? "team"),
        desired,
        pods: view(j, pods),
        workloads,
      }),
    ).toEqual(result);
  });
});
