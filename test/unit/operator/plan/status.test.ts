// Status policy: the part of the status this writer owns, and the Events its condition changes call for.
import type { V1Pod } from "@kubernetes/client-node";
import { describe, expect, it } from "vitest";
import type { Condition, Phase, SpecInput } from "../../../../src/api/schema.ts";
import type { PlannedEvent } from "../../../../src/operator/plan/observed.ts";
import { isFinishedJob, ownConditions, ownedStatus, transitions } from "../../../../src/operator/plan/status.ts";
import { at, job, NOW, pod, TWO_NODES } from "./world.ts";

const c = (type: string, status: Condition["status"], reason = type, message = `${type} ${status}`): Condition => ({
  type,
  status,
  reason,
  message,
  lastTransitionTime: at(-60),
});

function status(
  o: { spec?: Partial<SpecInput>; pods?: V1Pod[]; conditions?: Condition[]; phase?: Phase; attempt?: number } = {},
) {
  return ownedStatus({
    job: job({ ...TWO_NODES, ...o.spec }),
    pods: o.pods ?? [],
    conditions: o.conditions ?? [],
    phase: o.phase ?? "Training",
    attempt: o.attempt ?? 0,
    stage: undefined,
    counters: { restarts: 0, disruptions: 0 },
    lastRestart: undefined,
    startTime: undefined,
    completionTime: undefined,
  });
}

describe("ownConditions", () => {
  it.each<{ name: string; conditions: Condition[] | undefined; own: string[] }>([
    { name: "none", conditions: undefined, own: [] },
    {
      name: "BudgetExceeded belongs to the report endpoint",
      conditions: [c("BudgetExceeded", "True"), c("Failed", "True")],
      own: ["Failed"],
    },
    {
      name: "all others are this writer's",
      conditions: [c("SecretsReady", "True"), c("Stalled", "False")],
      own: ["SecretsReady", "Stalled"],
    },
  ])("$name", ({ conditions, own }) => {
    expect(ownConditions(conditions).map((x) => x.type)).toEqual(own);
  });
});

describe("isFinishedJob", () => {
  it.each<{ name: string; conditions: Condition[]; finished: boolean }>([
    { name: "running", conditions: [c("Reconciling", "True")], finished: false },
    { name: "succeeded", conditions: [c("Succeeded", "True")], finished: true },
    { name: "failed", conditions: [c("Failed", "True")], finished: true },
    {
      name: "Failed=False is not finished",
      conditions: [c("Failed", "False"), c("Succeeded", "False")],
      finished: false,
    },
    {
      name: "Stalled alone (a bad spec) is not finished",
      conditions: [c("Stalled", "True", "InvalidSpec")],
      finished: false,
    },
  ])("$name", ({ conditions, finished }) => {
    expect(isFinishedJob(conditions)).toBe(finished);
  });
});

describe("ownedStatus", () => {
  it("writes the counters and attempt always, the optional times and stage only when known", () => {
    const s = ownedStatus({
      job: job(),
      pods: [],
      conditions: [],
      phase: "Pending",
      attempt: 0,
      stage: undefined,
      counters: { restarts: 0, disruptions: 0 },
      lastRestart: undefined,
      startTime: undefined,
      completionTime: undefined,
    });
    expect(s).toEqual({
      phase: "Pending",
      observedGeneration: 1,
      conditions: [],
      restarts: 0,
      disruptions: 0,
      attempt: 0,
      roles: [
        { name: "prepare", desired: 1, pending: 0, running: 0, succeeded: 0, failed: 0 },
        { name: "head", desired: 1, pending: 0, running: 0, succeeded: 0, failed: 0 },
      ],
      outputs: { checkpointDir: expect.any(String), modelDir: expect.any(String), volumeClaim: "job-data" },
      message: "Pending",
    });
    const lastRestart = { attempt: 1, reason: "PodFailed", message: "m", counted: true, time: NOW };
    const full = ownedStatus({
      job: job({ storage: { existingClaim: "shared" } }),
      pods: [],
      conditions: [],
      phase: "Restarting",
      attempt: 2,
      stage: "Training",
      counters: { restarts: 1, disruptions: 3 },
      lastRestart,
      startTime: at(-600),
      completionTime: NOW,
    });
    expect(full).toMatchObject({
      stage: "Training",
      startTime: at(-600),
      completionTime: NOW,
      restarts: 1,
      disruptions: 3,
      attempt: 2,
      lastRestart,
      outputs: { volumeClaim: "shared" },
    });
  });

  it.each<{ name: string; spec?: Partial<SpecInput>; pods: V1Pod[]; attempt?: number; roles: string[] }>([
    {
      name: "one node: no worker role",
      spec: { resources: { nodes: 1 } },
      pods: [],
      roles: ["prepare 1/0000", "head 1/0000"],
    },
    {
      name: "SFT enabled: an sft role",
      spec: { sft: { enabled: true } },
      pods: [],
      roles: ["prepare 1/0000", "sft 1/0000", "head 1/0000", "worker 1/0000"],
    },
    {
      name: "pods counted by phase",
      pods: [
        pod("job-a0-prepare", { phase: "Succeeded" }),
        pod("job-a0-head", { phase: "Running" }),
        pod("job-a0-worker-1", { phase: "Pending" }),
      ],
      roles: ["prepare 1/0010", "head 1/0100", "worker 1/1000"],
    },
    {
      name: "a failed pod",
      pods: [pod("job-a0-worker-1", { phase: "Failed" })],
      roles: ["prepare 1/0000", "head 1/0000", "worker 1/0001"],
    },
    {
      name: "pods on their way out are not counted (a pod counted and then missing is taken for lost)",
      pods: [pod("job-a0-head", { deletedAt: at(-1) }), pod("job-a0-worker-1", { phase: "Failed", deletedAt: at(-1) })],
      roles: ["prepare 1/0000", "head 1/0000", "worker 1/0000"],
    },
    {
      name: "only the current attempt's pods",
      pods: [pod("job-a0-head"), pod("job-a1-head", { phase: "Pending" })],
      attempt: 1,
      roles: ["prepare 1/0000", "head 1/1000", "worker 1/0000"],
    },
  ])("counts roles: $name", ({ spec, pods, attempt, roles }) => {
    const s = status({ spec, pods, attempt });
    expect(s.roles?.map((r) => `${r.name} ${r.desired}/${r.pending}${r.running}${r.succeeded}${r.failed}`)).toEqual(
      roles,
    );
  });

  it.each<{ name: string; conditions: Condition[]; phase?: Phase; message: string }>([
    { name: "nothing to tell: the phase", conditions: [c("SecretsReady", "True")], message: "Training" },
    {
      name: "the failure first",
      conditions: [c("Failed", "True"), c("ChildrenCreated", "False"), c("SecretsReady", "False")],
      message: "Failed True",
    },
    {
      name: "then a refused child",
      conditions: [c("ChildrenCreated", "False"), c("SecretsReady", "False")],
      message: "ChildrenCreated False",
    },
    {
      name: "then a missing Secret",
      conditions: [c("SecretsReady", "False"), c("StorageReady", "False")],
      message: "SecretsReady False",
    },
    {
      name: "then a missing claim",
      conditions: [c("StorageReady", "False"), c("WaitingForCapacity", "True")],
      message: "StorageReady False",
    },
    {
      name: "then the wait for capacity",
      conditions: [c("WaitingForCapacity", "True"), c("PodsScheduled", "False")],
      message: "WaitingForCapacity True",
    },
    {
      name: "then an unplaced pod",
      conditions: [c("PodsScheduled", "False"), c("Stalled", "True", "InvalidSpec")],
      message: "PodsScheduled False",
    },
    {
      name: "then a bad spec",
      conditions: [c("Stalled", "True", "InvalidSpec"), c("Reconciling", "True", "Restarting")],
      message: "Stalled True",
    },
    { name: "then a restart", conditions: [c("Reconciling", "True", "Restarting")], message: "Reconciling True" },
    {
      name: "good news is not told: the phase",
      conditions: [c("ChildrenCreated", "True"), c("WaitingForCapacity", "False"), c("PodsScheduled", "True")],
      message: "Training",
    },
    {
      name: "a stalled job for another reason: its own condition tells",
      conditions: [c("Stalled", "True", "ChildRejected")],
      phase: "Pending",
      message: "Pending",
    },
  ])("says in status.message: $name", ({ conditions, phase, message }) => {
    expect(status({ conditions, phase }).message).toBe(message);
  });
});

describe("transitions", () => {
  it.each<{ name: string; before: Condition[]; after: Condition[]; events: PlannedEvent[] }>([
    {
      name: "nothing changed",
      before: [c("SecretsReady", "True", "SecretsFound")],
      after: [c("SecretsReady", "True", "SecretsFound")],
      events: [],
    },
    {
      name: "only the message changed",
      before: [c("PodsScheduled", "False", "Unschedulable", "0/8 nodes")],
      after: [c("PodsScheduled", "False", "Unschedulable", "0/9 nodes")],
      events: [],
    },
    {
      name: "a new True condition",
      before: [],
      after: [c("SecretsReady", "True", "SecretsFound", "found")],
      events: [{ type: "Normal", reason: "SecretsFound", message: "found" }],
    },
    {
      name: "a new bad condition is a Warning",
      before: [],
      after: [c("SecretsReady", "False", "SecretNotFound", "missing")],
      events: [{ type: "Warning", reason: "SecretNotFound", message: "missing" }],
    },
    {
      name: "a new harmless False condition is not told",
      before: [],
      after: [c("WaitingForCapacity", "False", "Scheduled"), c("Suspended", "False", "Resumed")],
      events: [],
    },
    {
      name: "a change of status",
      before: [c("Suspended", "True", "Suspended")],
      after: [c("Suspended", "False", "Resumed", "spec.suspend is false")],
      events: [{ type: "Normal", reason: "Resumed", message: "spec.suspend is false" }],
    },
    {
      name: "a change of reason alone",
      before: [c("WaitingForCapacity", "True", "Unschedulable")],
      after: [c("WaitingForCapacity", "True", "ScaleUpTriggered", "scaling")],
      events: [{ type: "Normal", reason: "ScaleUpTriggered", message: "scaling" }],
    },
    {
      name: "the end of a wait is told, since its start was",
      before: [c("WaitingForCapacity", "True", "Unschedulable")],
      after: [c("WaitingForCapacity", "False", "Scheduled", "placed")],
      events: [{ type: "Normal", reason: "Scheduled", message: "placed" }],
    },
    {
      name: "each Warning condition",
      before: [],
      after: [
        c("StorageReady", "False", "ClaimNotFound", "a"),
        c("ChildrenCreated", "False", "ChildForbidden", "b"),
        c("WaitingForCapacity", "True", "Unschedulable", "c"),
        c("Failed", "True", "MaxRestartsExceeded", "d"),
      ],
      events: [
        { type: "Warning", reason: "ClaimNotFound", message: "a" },
        { type: "Warning", reason: "ChildForbidden", message: "b" },
        { type: "Warning", reason: "Unschedulable", message: "c" },
        { type: "Warning", reason: "MaxRestartsExceeded", message: "d" },
      ],
    },
    {
      name: "PodsScheduled is quiet: WaitingForCapacity tells a wait, and a pod waiting for its volume is no news",
      before: [],
      after: [c("PodsScheduled", "False", "Unschedulable", "x"), c("PodsScheduled", "False", "WaitingForVolume", "y")],
      events: [],
    },
    {
      name: "a wait an autoscaler answers is news, not a warning",
      before: [],
      after: [c("WaitingForCapacity", "True", "NodeNominated", "nominated")],
      events: [{ type: "Normal", reason: "NodeNominated", message: "nominated" }],
    },
    {
      name: "kstatus bookkeeping is quiet",
      before: [c("Reconciling", "True", "Preparing"), c("Stalled", "False", "Progressing")],
      after: [c("Reconciling", "True", "Restarting"), c("Stalled", "True", "Failed")],
      events: [],
    },
    {
      name: "but a bad spec stalling the job is a Warning",
      before: [c("Stalled", "False", "Progressing")],
      after: [c("Stalled", "True", "InvalidSpec", "spec.rl.overrides[0]: ...")],
      events: [{ type: "Warning", reason: "InvalidSpec", message: "spec.rl.overrides[0]: ..." }],
    },
    {
      name: "a removed condition is not told",
      before: [c("PodsScheduled", "False", "Unschedulable"), c("WaitingForCapacity", "True", "Unschedulable")],
      after: [],
      events: [],
    },
  ])("$name", ({ before, after, events }) => {
    expect(transitions(before, after)).toEqual(events);
  });
});
