// Pod failure policy: what ended the current attempt, and, in batch/v1 podFailurePolicy vocabulary, what it means.
import type { V1Pod } from "@kubernetes/client-node";
import { describe, expect, it } from "vitest";
import type { Status } from "../../../../src/api/schema.ts";
import { DEFAULT_OPERATOR_CONTEXT } from "../../../../src/children/pods.ts";
import {
  type AttemptFailure,
  DEFAULT_RULES,
  type FailureKind,
  type FailureRule,
  findFailure,
  judge,
  matches,
} from "../../../../src/operator/plan/pod-failure.ts";
import { stagePods } from "../../../../src/operator/plan/stages.ts";
import { at, condition, exited, job, pod, TWO_NODES, view } from "./world.ts";

const exitCodes = (
  operator: "In" | "NotIn",
  values: number[],
  containerName?: "trainer" | "user-simulator" | "judge",
) => ({ operator, values, ...(containerName ? { containerName } : {}) }) as NonNullable<FailureRule["onExitCodes"]>;
const onCodes = (action: FailureRule["action"], ...args: Parameters<typeof exitCodes>): FailureRule => ({
  action,
  onExitCodes: exitCodes(...args),
});
const onConditions = (
  action: FailureRule["action"],
  ...types: [string, "True" | "False" | "Unknown"][]
): FailureRule => ({
  action,
  onPodConditions: types.map(([type, status]) => ({ type, status })),
});

const failedWith = (trainer: number, sidecars: { judge?: number; "user-simulator"?: number } = {}) =>
  pod("job-a0-worker-1", {
    phase: "Failed",
    containers: [exited("trainer", trainer)],
    initContainers: Object.entries(sidecars).map(([name, code]) => exited(name, code)),
  });
const DISRUPTED = condition("DisruptionTarget", "True", { reason: "PreemptionByScheduler" });

describe("matches", () => {
  it.each<{ name: string; rule: FailureRule; pod: V1Pod; hit: { container?: string; exitCode?: number } | undefined }>([
    {
      name: "In: the trainer's code listed",
      rule: onCodes("FailJob", "In", [42]),
      pod: failedWith(42),
      hit: { container: "trainer", exitCode: 42 },
    },
    {
      name: "In: the trainer's code not listed",
      rule: onCodes("FailJob", "In", [42]),
      pod: failedWith(1),
      hit: undefined,
    },
    {
      name: "In: one of several codes",
      rule: onCodes("FailJob", "In", [3, 42, 7]),
      pod: failedWith(7),
      hit: { container: "trainer", exitCode: 7 },
    },
    {
      name: "NotIn: a code not listed",
      rule: onCodes("Count", "NotIn", [137]),
      pod: failedWith(1),
      hit: { container: "trainer", exitCode: 1 },
    },
    { name: "NotIn: a listed code", rule: onCodes("Count", "NotIn", [137]), pod: failedWith(137), hit: undefined },
    {
      name: "NotIn: exit code 0 never matches (it did not fail)",
      rule: onCodes("FailJob", "NotIn", [1]),
      pod: failedWith(0),
      hit: undefined,
    },
    {
      name: "NotIn [0]: exit code 0 still does not match",
      rule: onCodes("FailJob", "NotIn", [0]),
      pod: failedWith(0),
      hit: undefined,
    },
    {
      name: "a container still running has no code",
      rule: onCodes("FailJob", "NotIn", [0]),
      pod: pod("job-a0-worker-1", { phase: "Running" }),
      hit: undefined,
    },
    {
      name: "without containerName only the trainer counts, not a sidecar's code",
      rule: onCodes("FailJob", "In", [3]),
      pod: failedWith(0, { judge: 3 }),
      hit: undefined,
    },
    {
      name: "containerName judge reads the judge sidecar",
      rule: onCodes("FailJob", "In", [3], "judge"),
      pod: failedWith(1, { judge: 3 }),
      hit: { container: "judge", exitCode: 3 },
    },
    {
      name: "containerName user-simulator, NotIn",
      rule: onCodes("Ignore", "NotIn", [143], "user-simulator"),
      pod: failedWith(1, { "user-simulator": 2 }),
      hit: { container: "user-simulator", exitCode: 2 },
    },
    {
      name: "containerName trainer said explicitly",
      rule: onCodes("FailJob", "In", [42], "trainer"),
      pod: failedWith(42, { judge: 42 }),
      hit: { container: "trainer", exitCode: 42 },
    },
    {
      name: "containerName of a container the pod does not have",
      rule: onCodes("FailJob", "NotIn", [0], "judge"),
      pod: failedWith(1),
      hit: undefined,
    },
    {
      name: "onPodConditions: DisruptionTarget=True",
      rule: onConditions("Ignore", ["DisruptionTarget", "True"]),
      pod: pod("job-a0-worker-1", { phase: "Failed", conditions: [DISRUPTED] }),
      hit: {},
    },
    {
      name: "onPodConditions: the status must match too",
      rule: onConditions("Ignore", ["DisruptionTarget", "True"]),
      pod: pod("job-a0-worker-1", { phase: "Failed", conditions: [condition("DisruptionTarget", "False")] }),
      hit: undefined,
    },
    {
      name: "onPodConditions: a False condition when False is asked",
      rule: onConditions("FailJob", ["Ready", "False"]),
      pod: pod("job-a0-worker-1", { phase: "Failed", conditions: [condition("Ready", "False")] }),
      hit: {},
    },
    {
      name: "onPodConditions: any one of several",
      rule: onConditions("Ignore", ["TerminationTarget", "True"], ["example.com/Spot", "True"]),
      pod: pod("job-a0-worker-1", { phase: "Failed", conditions: [condition("example.com/Spot")] }),
      hit: {},
    },
    {
      name: "onPodConditions: no such condition",
      rule: onConditions("Ignore", ["DisruptionTarget", "True"]),
      pod: failedWith(1),
      hit: undefined,
    },
  ])("$name", ({ rule, pod, hit }) => {
    expect(matches(rule, pod)).toEqual(hit);
  });
});

const KUEUE_PREEMPTED = condition("TerminationTarget", "True", {
  reason: "WorkloadEvictedDueToPreempted",
  message: "Preempted to accommodate a workload due to prioritization in the ClusterQueue",
});
const KUEUE_DEACTIVATED = condition("TerminationTarget", "True", {
  reason: "WorkloadEvictedDueToDeactivated",
  message: "The workload is deactivated",
});

describe("judge", () => {
  const message = "what happened";
  it.each<{
    name: string;
    kind: FailureKind;
    pod: V1Pod | undefined;
    rules?: FailureRule[];
    detail?: { pod?: string; container?: string; exitCode?: number; queueEviction?: string };
    verdict: Partial<AttemptFailure>;
  }>([
    {
      name: "a pod that failed on its own counts",
      kind: "PodFailed",
      pod: failedWith(1),
      verdict: { action: "Count", decidedBy: "the default for PodFailed" },
    },
    {
      name: "a failed pod with DisruptionTarget is a disruption (the default rule)",
      kind: "PodFailed",
      pod: pod("job-a0-worker-1", { phase: "Failed", conditions: [DISRUPTED] }),
      verdict: {
        action: "Ignore",
        decidedBy: "the default rule for disruptions (DisruptionTarget or TerminationTarget)",
      },
    },
    {
      name: "Kueue's TerminationTarget is a disruption too",
      kind: "PodFailed",
      pod: pod("job-a0-worker-1", { phase: "Failed", conditions: [condition("TerminationTarget")] }),
      verdict: {
        action: "Ignore",
        decidedBy: "the default rule for disruptions (DisruptionTarget or TerminationTarget)",
      },
    },
    {
      name: "Kueue deactivating the workload fails the job: a new attempt would be admitted again",
      kind: "PodDeleted",
      pod: pod("job-a0-worker-1", { deletedAt: at(-1), conditions: [KUEUE_DEACTIVATED] }),
      detail: { queueEviction: "WorkloadEvictedDueToDeactivated" },
      verdict: {
        action: "FailJob",
        decidedBy:
          "Kueue deactivating the job's workload (WorkloadEvictedDueToDeactivated), which stops it rather than queueing it again",
      },
    },
    {
      name: "a user rule decides before Kueue's deactivation",
      kind: "PodDeleted",
      pod: pod("job-a0-worker-1", { deletedAt: at(-1), conditions: [KUEUE_DEACTIVATED] }),
      rules: [onConditions("Ignore", ["TerminationTarget", "True"])],
      detail: { queueEviction: "WorkloadEvictedDueToDeactivated" },
      verdict: { action: "Ignore", decidedBy: "failurePolicy.rules[0]" },
    },
    {
      name: "a pod deleted by someone else is not counted",
      kind: "PodDeleted",
      pod: pod("job-a0-worker-1", { deletedAt: at(-1) }),
      verdict: { action: "Ignore", decidedBy: "the default for PodDeleted" },
    },
    {
      name: "a lost pod is not counted",
      kind: "PodLost",
      pod: undefined,
      verdict: { action: "Ignore", decidedBy: "the default for PodLost" },
    },
    {
      name: "a startup timeout counts",
      kind: "StartupTimeout",
      pod: undefined,
      verdict: { action: "Count", decidedBy: "the default for StartupTimeout" },
    },
    {
      name: "the user's rules run before the default rule",
      kind: "PodFailed",
      pod: pod("job-a0-worker-1", { phase: "Failed", conditions: [DISRUPTED] }),
      rules: [onConditions("Count", ["DisruptionTarget", "True"])],
      verdict: { action: "Count", decidedBy: "failurePolicy.rules[0]" },
    },
    {
      name: "the first matching rule wins",
      kind: "PodFailed",
      pod: failedWith(137),
      rules: [onCodes("Ignore", "In", [137]), onCodes("FailJob", "NotIn", [0])],
      verdict: { action: "Ignore", decidedBy: "failurePolicy.rules[0]", exitCode: 137 },
    },
    {
      name: "a rule that does not match passes to the next",
      kind: "PodFailed",
      pod: failedWith(1),
      rules: [onCodes("Ignore", "In", [137]), onCodes("FailJob", "NotIn", [0])],
      verdict: { action: "FailJob", decidedBy: "failurePolicy.rules[1]", exitCode: 1 },
    },
    {
      name: "no user rule matches: the default rule, then the kind's default",
      kind: "PodFailed",
      pod: failedWith(1),
      rules: [onCodes("FailJob", "In", [42])],
      verdict: { action: "Count", decidedBy: "the default for PodFailed" },
    },
    {
      name: "a user rule can fail the job on a disruption",
      kind: "PodDeleted",
      pod: pod("job-a0-worker-1", { deletedAt: at(-1), conditions: [DISRUPTED] }),
      rules: [onConditions("FailJob", ["DisruptionTarget", "True"])],
      verdict: { action: "FailJob", decidedBy: "failurePolicy.rules[0]" },
    },
    {
      name: "no rule can match a pod that is gone",
      kind: "PodLost",
      pod: undefined,
      rules: [onCodes("FailJob", "NotIn", [0]), onConditions("FailJob", ["DisruptionTarget", "True"])],
      verdict: { action: "Ignore", decidedBy: "the default for PodLost" },
    },
    {
      name: "the rule's container and code replace the trainer's in the detail",
      kind: "PodFailed",
      pod: failedWith(1, { judge: 3 }),
      rules: [onCodes("FailJob", "In", [3], "judge")],
      detail: { pod: "job-a0-worker-1", container: "trainer", exitCode: 1 },
      verdict: { action: "FailJob", pod: "job-a0-worker-1", container: "judge", exitCode: 3 },
    },
    {
      name: "the detail stays when a condition rule decides",
      kind: "PodFailed",
      pod: pod("job-a0-worker-1", { phase: "Failed", conditions: [DISRUPTED], containers: [exited("trainer", 137)] }),
      detail: { pod: "job-a0-worker-1", container: "trainer", exitCode: 137 },
      verdict: { action: "Ignore", pod: "job-a0-worker-1", container: "trainer", exitCode: 137 },
    },
  ])("$name", ({ kind, pod, rules, detail = {}, verdict }) => {
    const failure = judge(kind, message, pod, rules, detail);
    expect(failure).toMatchObject({ kind, message, ...verdict });
  });

  it("has one default rule: DisruptionTarget or TerminationTarget True is ignored", () => {
    expect(DEFAULT_RULES).toEqual([
      {
        action: "Ignore",
        onPodConditions: [
          { type: "DisruptionTarget", status: "True" },
          { type: "TerminationTarget", status: "True" },
        ],
      },
    ]);
  });
});

describe("findFailure", () => {
  const j = job(TWO_NODES);
  const desired = stagePods(j, DEFAULT_OPERATOR_CONTEXT, "Training", 0);
  const running = (seen: { head?: number; worker?: number } = { head: 1, worker: 1 }): Status => ({
    phase: "Training",
    attempt: 0,
    roles: [
      { name: "prepare", desired: 1, pending: 0, running: 0, succeeded: 1, failed: 0 },
      { name: "head", desired: 1, pending: 0, running: seen.head ?? 0, succeeded: 0, failed: 0 },
      { name: "worker", desired: 1, pending: 0, running: seen.worker ?? 0, succeeded: 0, failed: 0 },
    ],
  });
  const head = pod("job-a0-head");
  const worker = pod("job-a0-worker-1");
  const failed = (name: string, code: number, finishedAt: string) =>
    pod(name, { phase: "Failed", containers: [exited("trainer", code, { finishedAt })] });

  it.each<{
    name: string;
    pods: V1Pod[];
    previous?: Status;
    rules?: FailureRule[];
    failure: Partial<AttemptFailure> | undefined;
  }>([
    { name: "all running: no failure", pods: [head, worker], failure: undefined },
    {
      name: "a worker exited 1",
      pods: [head, failed("job-a0-worker-1", 1, at(-5))],
      failure: {
        kind: "PodFailed",
        action: "Count",
        pod: "job-a0-worker-1",
        container: "trainer",
        exitCode: 1,
        message: "pod job-a0-worker-1 container trainer exited with code 1 (Error)",
      },
    },
    {
      name: "a failed pod of another attempt is not this attempt's failure",
      pods: [head, worker, failed("job-a1-worker-1", 1, at(-5))],
      failure: undefined,
    },
    {
      name: "a failed pod of another job of the same name is not this job's",
      pods: [head, { ...failed("job-a0-worker-1", 1, at(-5)), metadata: { ...worker.metadata, ownerReferences: [] } }],
      previous: running({ head: 1 }),
      failure: undefined,
    },
    {
      name: "a failed pod of a finished stage is not this stage's failure",
      pods: [failed("job-a0-prepare", 1, at(-5)), head, worker],
      failure: undefined,
    },
    {
      name: "a pod Kueue preempted: a disruption, with Kueue's reason and words",
      pods: [head, pod("job-a0-worker-1", { deletedAt: at(-1), conditions: [KUEUE_PREEMPTED] })],
      failure: {
        kind: "PodDeleted",
        action: "Ignore",
        pod: "job-a0-worker-1",
        queueEviction: "WorkloadEvictedDueToPreempted",
        message:
          "pod job-a0-worker-1 was deleted before it finished (WorkloadEvictedDueToPreempted: Preempted to accommodate a workload due to prioritization in the ClusterQueue)",
      },
    },
    {
      name: "a pod Kueue stopped that the kubelet reported Failed: still Kueue's eviction",
      pods: [
        head,
        pod("job-a0-worker-1", {
          phase: "Failed",
          deletedAt: at(-1),
          conditions: [KUEUE_PREEMPTED],
          containers: [exited("trainer", 137, { finishedAt: at(-1) })],
        }),
      ],
      failure: { kind: "PodFailed", action: "Ignore", queueEviction: "WorkloadEvictedDueToPreempted", exitCode: 137 },
    },
    {
      name: "a pod deleted by someone else while running",
      pods: [head, pod("job-a0-worker-1", { deletedAt: at(-1) })],
      failure: {
        kind: "PodDeleted",
        action: "Ignore",
        pod: "job-a0-worker-1",
        message: "pod job-a0-worker-1 was deleted before it finished",
      },
    },
    {
      name: "a pod evicted: the deletion names the disruption",
      pods: [
        head,
        pod("job-a0-worker-1", {
          deletedAt: at(-1),
          conditions: [
            condition("DisruptionTarget", "True", {
              reason: "EvictionByEvictionAPI",
              message: "Eviction API: evicting",
            }),
          ],
        }),
      ],
      failure: {
        kind: "PodDeleted",
        action: "Ignore",
        decidedBy: "the default rule for disruptions (DisruptionTarget or TerminationTarget)",
        message: "pod job-a0-worker-1 was deleted before it finished (EvictionByEvictionAPI: Eviction API: evicting)",
      },
    },
    {
      name: "a succeeded pod on its way out is no failure",
      pods: [head, pod("job-a0-worker-1", { phase: "Succeeded", deletedAt: at(-1) })],
      failure: undefined,
    },
    {
      name: "a failed pod on its way out is judged as failed",
      pods: [
        head,
        {
          ...failed("job-a0-worker-1", 1, at(-5)),
          metadata: { ...worker.metadata, deletionTimestamp: at(-1) as unknown as Date },
        },
      ],
      failure: { kind: "PodFailed", action: "Count", exitCode: 1 },
    },
    {
      name: "of several failures, the earliest is judged (the others failed because of it)",
      pods: [failed("job-a0-head", 1, at(-10)), failed("job-a0-worker-1", 137, at(-30))],
      failure: { kind: "PodFailed", pod: "job-a0-worker-1", exitCode: 137 },
    },
    {
      name: "the earliest, whichever order the cache lists them in",
      pods: [failed("job-a0-worker-1", 137, at(-10)), failed("job-a0-head", 1, at(-30))],
      failure: { kind: "PodFailed", pod: "job-a0-head", exitCode: 1 },
    },
    {
      name: "a disruption announced before the peer's exit is the cause",
      pods: [
        pod("job-a0-head", {
          phase: "Failed",
          containers: [exited("trainer", 143, { finishedAt: at(-20) })],
          conditions: [
            condition("DisruptionTarget", "True", {
              reason: "PreemptionByScheduler",
              lastTransitionTime: at(-50) as unknown as Date,
            }),
          ],
        }),
        failed("job-a0-worker-1", 1, at(-30)),
      ],
      failure: { kind: "PodFailed", pod: "job-a0-head", action: "Ignore" },
    },
    {
      name: "a deletion asked before the peer's exit is the cause",
      pods: [pod("job-a0-head", { deletedAt: at(-40) }), failed("job-a0-worker-1", 1, at(-30))],
      failure: { kind: "PodDeleted", pod: "job-a0-head" },
    },
    {
      name: "a FailJob verdict wins over an earlier counted failure",
      pods: [failed("job-a0-worker-1", 1, at(-30)), failed("job-a0-head", 42, at(-10))],
      rules: [onCodes("FailJob", "In", [42])],
      failure: {
        kind: "PodFailed",
        action: "FailJob",
        pod: "job-a0-head",
        exitCode: 42,
        decidedBy: "failurePolicy.rules[0]",
      },
    },
    {
      name: "a pod the last status counted that the cache no longer has was lost",
      pods: [head],
      previous: running(),
      failure: {
        kind: "PodLost",
        action: "Ignore",
        pod: "job-a0-worker-1",
        message:
          "pod job-a0-worker-1 disappeared without finishing (force-deleted, e.g. by the pod garbage collector after its node was removed)",
      },
    },
    {
      name: "a lost pod (its node went away) comes before the failures it caused",
      pods: [failed("job-a0-head", 1, at(-30))],
      previous: running(),
      failure: { kind: "PodLost", pod: "job-a0-worker-1" },
    },
    {
      name: "a pod the status never counted is not lost: it is not made yet",
      pods: [head],
      previous: running({ head: 1 }),
      failure: undefined,
    },
    {
      name: "no pod is lost while the status is of another phase (Restarting, before the pods are made)",
      pods: [],
      previous: { ...running(), phase: "Restarting" },
      failure: undefined,
    },
    {
      name: "no pod is lost while the status is of another attempt",
      pods: [],
      previous: { ...running(), attempt: 1 },
      failure: undefined,
    },
    {
      name: "a status that counted both, and both still there",
      pods: [head, worker],
      previous: running(),
      failure: undefined,
    },
  ])("$name", ({ pods, previous = running(), rules, failure }) => {
    const found = findFailure({ desired, pods: view(j, pods), previous, stage: "Training", attempt: 0, rules });
    if (failure === undefined) expect(found).toBeUndefined();
    else expect(found).toMatchObject(failure);
  });

  it.each<{ name: string; counted: number; present: string[]; lost: string | undefined }>([
    {
      name: "two of three workers counted, both there",
      counted: 2,
      present: ["job-a0-worker-1", "job-a0-worker-2"],
      lost: undefined,
    },
    {
      name: "two counted, one there: the first missing name is lost",
      counted: 2,
      present: ["job-a0-worker-2"],
      lost: "job-a0-worker-1",
    },
    {
      name: "one counted, one there: the other is not made yet",
      counted: 1,
      present: ["job-a0-worker-1"],
      lost: undefined,
    },
    { name: "three counted, none there", counted: 3, present: [], lost: "job-a0-worker-1" },
  ])("counts lost workers by role: $name", ({ counted, present, lost }) => {
    const four = job({ rl: { batchSize: 32, miniBatchSize: 32 }, resources: { nodes: 4 } });
    const want = stagePods(four, DEFAULT_OPERATOR_CONTEXT, "Training", 0);
    const previous: Status = {
      phase: "Training",
      attempt: 0,
      roles: [
        { name: "head", desired: 1, pending: 0, running: 1, succeeded: 0, failed: 0 },
        { name: "worker", desired: 3, pending: 1, running: counted - 1, succeeded: 0, failed: 0 },
      ],
    };
    const pods = [head, ...present.map((n) => pod(n))];
    const found = findFailure({
      desired: want,
      pods: view(four, pods),
      previous,
      stage: "Training",
      attempt: 0,
      rules: undefined,
    });
    expect(found?.pod).toBe(lost);
  });
});
