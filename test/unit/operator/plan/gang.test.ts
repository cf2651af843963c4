// Gang policy: the mechanism a job gets from spec.scheduling and what the cluster serves, what blocks it, and how a
// stage's pods are put into one group (Kueue's pod-group labels, the native PodGroup) when there are several.
import { describe, expect, it } from "vitest";
import type { Condition, SpecInput } from "../../../../src/api/schema.ts";
import {
  type GangMechanism,
  gangMechanism,
  gangName,
  type ServedApis,
  stageGang,
} from "../../../../src/children/gang.ts";
import { DEFAULT_OPERATOR_CONTEXT } from "../../../../src/children/pods.ts";
import { type GangPolicy, gangPolicy, gangStatus } from "../../../../src/operator/plan/gang.ts";
import { stagePods } from "../../../../src/operator/plan/stages.ts";
import { at, job, TWO_NODES } from "./world.ts";

const BOTH: ServedApis = { kueue: true, podGroups: true };
const NEITHER: ServedApis = { kueue: false, podGroups: false };
const KUEUE_ONLY: ServedApis = { kueue: true, podGroups: false };
const NATIVE_ONLY: ServedApis = { kueue: false, podGroups: true };
type Scheduling = SpecInput["scheduling"];

describe("gangMechanism", () => {
  it.each<{ scheduling: Scheduling; served: ServedApis; mechanism: GangMechanism }>([
    { scheduling: {}, served: BOTH, mechanism: "Workload" },
    { scheduling: {}, served: NATIVE_ONLY, mechanism: "Workload" },
    { scheduling: {}, served: KUEUE_ONLY, mechanism: "None" },
    { scheduling: {}, served: NEITHER, mechanism: "None" },
    { scheduling: { queueName: "team" }, served: BOTH, mechanism: "Kueue" },
    { scheduling: { queueName: "team" }, served: NATIVE_ONLY, mechanism: "Kueue" },
    { scheduling: { gang: "Kueue", queueName: "team" }, served: NEITHER, mechanism: "Kueue" },
    { scheduling: { gang: "Workload" }, served: NEITHER, mechanism: "Workload" },
    { scheduling: { gang: "Workload", queueName: "team" }, served: BOTH, mechanism: "Workload" },
    { scheduling: { gang: "Disabled" }, served: BOTH, mechanism: "None" },
    { scheduling: { gang: "Disabled", queueName: "team" }, served: BOTH, mechanism: "None" },
  ])("$scheduling on a cluster serving $served: $mechanism", ({ scheduling, served, mechanism }) => {
    expect(gangMechanism(job({ scheduling }).spec.scheduling, served)).toBe(mechanism);
  });
});

describe("gangPolicy", () => {
  const NOT_SERVED_BEFORE: Condition = {
    type: "SchedulingReady",
    status: "False",
    reason: "NotServed",
    message: "",
    lastTransitionTime: at(-60),
  };
  it.each<{
    name: string;
    scheduling: Scheduling;
    served: ServedApis;
    before?: Condition[];
    policy: Partial<GangPolicy> & { says?: string[] };
  }>([
    {
      name: "Auto on a cluster serving the native API: a PodGroup, nothing said",
      scheduling: {},
      served: NATIVE_ONLY,
      policy: { mechanism: "Workload", problems: [], condition: undefined },
    },
    {
      name: "Auto on a bare cluster: no gang, nothing blocks",
      scheduling: {},
      served: NEITHER,
      policy: { mechanism: "None", problems: [], condition: undefined },
    },
    {
      name: "a queue on a cluster without Kueue blocks, naming queueName",
      scheduling: { queueName: "team" },
      served: NATIVE_ONLY,
      policy: { mechanism: "Kueue", says: ["spec.scheduling.queueName", "workloads.kueue.x-k8s.io/v1beta2"] },
    },
    {
      name: "a queue blocks without Kueue even with the gang disabled (the pods would run outside any quota)",
      scheduling: { gang: "Disabled", queueName: "team" },
      served: NATIVE_ONLY,
      policy: { mechanism: "None", says: ["spec.scheduling.queueName"] },
    },
    {
      name: "Workload on a cluster without the native API blocks, naming gang",
      scheduling: { gang: "Workload" },
      served: KUEUE_ONLY,
      policy: {
        mechanism: "Workload",
        says: ["spec.scheduling.gang: Workload", "podgroups.scheduling.k8s.io/v1beta1"],
      },
    },
    {
      name: "Workload and a queue, neither served: both said",
      scheduling: { gang: "Workload", queueName: "team" },
      served: NEITHER,
      policy: { mechanism: "Workload", says: ["spec.scheduling.queueName", "spec.scheduling.gang: Workload"] },
    },
    {
      name: "once served (after the operator's restart): SchedulingReady turns True",
      scheduling: { gang: "Kueue", queueName: "team" },
      served: KUEUE_ONLY,
      before: [NOT_SERVED_BEFORE],
      policy: {
        mechanism: "Kueue",
        problems: [],
        condition: {
          type: "SchedulingReady",
          status: "True",
          reason: "Served",
          message: "the cluster serves what spec.scheduling asks for (gang: Kueue)",
        },
      },
    },
  ])("$name", ({ scheduling, served, before = [], policy }) => {
    const { says, ...exact } = policy;
    const p = gangPolicy(job({ scheduling }).spec.scheduling, served, before);
    expect(p).toMatchObject(exact);
    if (says) {
      expect(p.condition).toMatchObject({ type: "SchedulingReady", status: "False", reason: "NotServed" });
      expect(p.problems).toHaveLength(says.filter((s) => s.startsWith("spec.")).length);
      for (const s of says) expect(p.condition?.message).toContain(s);
    }
  });

  it("status.gang names the attempt's group while the stage is a gang", () => {
    expect(gangStatus("Kueue", { name: "job-a2-u1", minCount: 4 })).toEqual({
      mechanism: "Kueue",
      podGroup: "job-a2-u1",
      minCount: 4,
    });
    expect(gangStatus("None", undefined)).toEqual({ mechanism: "None" });
  });
});

describe("stageGang", () => {
  const training = (spec: Partial<SpecInput>, mechanism: GangMechanism, attempt = 0) => {
    const j = job({ ...TWO_NODES, ...spec });
    return stageGang(j, attempt, stagePods(j, DEFAULT_OPERATOR_CONTEXT, "Training", attempt), mechanism);
  };
  const labels = (g: ReturnType<typeof training>) => g.pods.map((p) => p.metadata.labels);
  const annotations = (g: ReturnType<typeof training>) => g.pods.map((p) => p.metadata.annotations);

  it("names the group after the job, the attempt and a piece of its uid", () => {
    const j = job(TWO_NODES);
    expect(gangName({ ...j, metadata: { ...j.metadata, uid: "4ffd1071-c62e-4e29" } }, 3)).toBe("job-a3-4ffd10");
    expect(gangName(j, 0)).toBe("job-a0-u1");
  });

  it("Kueue: every pod in one pod group of the attempt, one-shot, queue-named", () => {
    const g = training({ scheduling: { queueName: "team" } }, "Kueue", 2);
    expect(g.group).toEqual({ name: "job-a2-u1", minCount: 2 });
    expect(g.podGroup).toBeUndefined();
    for (const l of labels(g))
      expect(l).toMatchObject({ "kueue.x-k8s.io/queue-name": "team", "kueue.x-k8s.io/pod-group-name": "job-a2-u1" });
    for (const a of annotations(g))
      expect(a).toEqual({
        "cluster-autoscaler.kubernetes.io/safe-to-evict": "false",
        "karpenter.sh/do-not-disrupt": "true",
        "kueue.x-k8s.io/pod-group-total-count": "2",
        "kueue.x-k8s.io/retriable-in-group": "false",
      });
    for (const p of g.pods) expect(p.spec).not.toHaveProperty("schedulingGroup");
  });

  it("Workload: a PodGroup of every pod, made before them, each pod naming it", () => {
    const g = training({ resources: { nodes: 4 }, rl: { batchSize: 32, miniBatchSize: 16 } }, "Workload");
    expect(g.group).toEqual({ name: "job-a0-u1", minCount: 4 });
    expect(g.podGroup).toEqual({
      apiVersion: "scheduling.k8s.io/v1beta1",
      kind: "PodGroup",
      metadata: {
        name: "job-a0-u1",
        namespace: "ns",
        labels: {
          "app.kubernetes.io/managed-by": "collab-operator",
          "collabllm.io/job-name": "job",
          "collabllm.io/attempt": "0",
        },
        ownerReferences: [expect.objectContaining({ kind: "CollabTrainingJob", uid: "u-1", controller: true })],
      },
      spec: { schedulingPolicy: { gang: { minCount: 4 } }, disruptionMode: { all: {} } },
    });
    for (const p of g.pods) expect(p.spec).toMatchObject({ schedulingGroup: { podGroupName: "job-a0-u1" } });
    for (const l of labels(g)) expect(l).not.toHaveProperty("kueue.x-k8s.io/pod-group-name");
  });

  it("Workload with a queue: the PodGroup and Kueue's group, one name", () => {
    const g = training({ scheduling: { gang: "Workload", queueName: "team" } }, "Workload");
    expect(g.podGroup?.metadata.name).toBe("job-a0-u1");
    for (const p of g.pods) {
      expect(p.spec).toMatchObject({ schedulingGroup: { podGroupName: "job-a0-u1" } });
      expect(p.metadata.labels).toMatchObject({ "kueue.x-k8s.io/pod-group-name": "job-a0-u1" });
    }
  });

  it("the PodGroup's priority is the pods' PriorityClass", () => {
    const g = training({ scheduling: { priorityClassName: "research-high" } }, "Workload");
    expect(g.podGroup?.spec).toMatchObject({ priorityClassName: "research-high" });
  });

  it.each<{ name: string; spec: Partial<SpecInput>; mechanism: GangMechanism; stage?: "Preparing" | "Training" }>([
    { name: "no mechanism", spec: TWO_NODES, mechanism: "None" },
    {
      name: "gang Disabled with a queue: single-pod workloads",
      spec: { scheduling: { queueName: "q" } },
      mechanism: "None",
    },
    { name: "a one-node training stage", spec: { resources: { nodes: 1 } }, mechanism: "Workload" },
    { name: "the prepare pod", spec: TWO_NODES, mechanism: "Kueue", stage: "Preparing" },
  ])("$name: the pods as they are, no group", ({ spec, mechanism, stage = "Training" }) => {
    const j = job({ ...TWO_NODES, ...spec });
    const pods = stagePods(j, DEFAULT_OPERATOR_CONTEXT, stage, 0);
    expect(stageGang(j, 0, pods, mechanism)).toEqual({ pods });
  });
});
