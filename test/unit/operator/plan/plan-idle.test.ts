// An idle job causes no writes: in every state a job can rest in, planning again from the status the last plan wrote,
// a little later, changes nothing, records no Event and applies or deletes nothing; and a requeue, when asked for,
// is never a hot loop.
import type { V1Pod } from "@kubernetes/client-node";
import { describe, expect, it } from "vitest";
import type { CollabTrainingJob, SpecInput, Status } from "../../../../src/api/schema.ts";
import type { Observed, PodEvent } from "../../../../src/operator/plan/observed.ts";
import type { Outcome } from "../../../../src/operator/plan/plan.ts";
import {
  at,
  DATASET_READY,
  exited,
  gated,
  job,
  NOW,
  planWorld,
  pod,
  podEvent,
  TWO_NODES,
  unplaced,
  waiting,
} from "./world.ts";

const prepared = pod("job-a0-prepare", { phase: "Succeeded" });
const gang = [prepared, pod("job-a0-head"), pod("job-a0-worker-1")];
const scaleUp = podEvent("TriggeredScaleUp", "cluster-autoscaler", -30);
const restarting: Status = {
  phase: "Restarting",
  stage: "Training",
  attempt: 1,
  restarts: 1,
  lastRestart: { attempt: 0, reason: "PodFailed", message: "m", counted: true, time: at(-2) },
  conditions: [DATASET_READY],
};

const QUEUED = {
  name: "job-a0-u1",
  podUids: ["uid-job-a0-head"],
  conditions: [{ type: "QuotaReserved", status: "False", reason: "Pending", message: "insufficient unused quota" }],
};
const INADMISSIBLE = {
  ...QUEUED,
  conditions: [
    { type: "QuotaReserved", status: "False", reason: "Inadmissible", message: "LocalQueue team doesn't exist" },
  ],
};

describe("an idle job", () => {
  it.each<{
    name: string;
    spec?: Partial<SpecInput>;
    status?: Status;
    pods: V1Pod[];
    events?: PodEvent[];
    secretKeys?: Record<string, string[]>;
    outcome?: Outcome;
    observed?: Partial<Observed>;
  }>([
    { name: "training, every pod running", pods: gang },
    { name: "preparing", pods: [pod("job-a0-prepare")] },
    {
      name: "waiting for capacity, with an autoscaler's word",
      pods: [prepared, pod("job-a0-head"), unplaced("job-a0-worker-1")],
      events: [scaleUp],
    },
    {
      name: "the startup clock running (an image that does not pull)",
      pods: [
        prepared,
        pod("job-a0-head"),
        pod("job-a0-worker-1", { phase: "Pending", containers: [waiting("trainer", "ErrImagePull")] }),
      ],
    },
    {
      name: "gated by a queue",
      pods: [prepared, ...["job-a0-head", "job-a0-worker-1"].map(gated)],
    },
    {
      name: "queued in Kueue, with the Workload's words",
      spec: { scheduling: { queueName: "team" } },
      pods: [prepared, ...["job-a0-head", "job-a0-worker-1"].map(gated)],
      observed: { served: { kueue: true, podGroups: true }, kueueWorkloads: [QUEUED] },
    },
    {
      name: "queued in Kueue on a LocalQueue that does not exist",
      spec: { scheduling: { queueName: "team" } },
      pods: [prepared, ...["job-a0-head", "job-a0-worker-1"].map(gated)],
      observed: { served: { kueue: true, podGroups: true }, kueueWorkloads: [INADMISSIBLE] },
    },
    {
      name: "a native gang, its PodGroup there",
      pods: gang,
      observed: {
        served: { kueue: false, podGroups: true },
        podGroups: [{ name: "job-a0-u1", attempt: "0", deleting: false }],
      },
    },
    {
      name: "a native gang that cannot be placed yet",
      pods: [prepared, unplaced("job-a0-head"), unplaced("job-a0-worker-1")],
      observed: {
        served: { kueue: false, podGroups: true },
        podGroups: [{ name: "job-a0-u1", attempt: "0", deleting: false }],
      },
    },
    {
      name: "blocked: a queue on a cluster without Kueue",
      spec: { scheduling: { queueName: "team" } },
      pods: [],
      observed: { served: { kueue: false, podGroups: true } },
    },
    { name: "restarting, within the backoff", status: restarting, pods: [] },
    {
      name: "restarting, the old attempt's pods terminating",
      status: restarting,
      pods: [pod("job-a0-head", { deletedAt: at(-1) }), pod("job-a0-worker-1", { phase: "Failed", deletedAt: at(-1) })],
    },
    { name: "blocked by a missing Secret", pods: [], secretKeys: {} },
    {
      name: "a child refused again on every retry",
      pods: [],
      outcome: {
        rejection: { kind: "Pod", name: "job-a0-prepare", code: 403, message: "no PriorityClass", fields: [] },
      },
    },
    { name: "suspended", spec: { suspend: true }, pods: [prepared] },
    {
      name: "failed, its finished pods kept for their logs",
      spec: { failurePolicy: { maxRestarts: 0 } },
      pods: [prepared, pod("job-a0-head", { phase: "Failed", containers: [exited("trainer", 1)] })],
    },
    {
      name: "succeeded, waiting for its TTL",
      spec: { ttlSecondsAfterFinished: 3600 },
      pods: [prepared, pod("job-a0-head", { phase: "Succeeded" })],
    },
  ])(
    "$name",
    ({
      spec = {},
      status,
      pods,
      events = [],
      secretKeys = { "llm-keys": ["OPENAI_API_KEY"] },
      outcome = {},
      observed = {},
    }) => {
      let current: CollabTrainingJob = job({ ...TWO_NODES, ...spec }, status);
      const observe = (now: string) => ({ now, podEvents: events, secretKeys, ...observed });
      // Converge: each plan's status is written and read back, as the reconciler does.
      for (let i = 0; i < 3; i++)
        current = { ...current, status: planWorld(current, pods, observe(NOW), outcome).status };
      const settled = planWorld(current, pods, observe(NOW), outcome);
      const later = planWorld(current, pods, observe(at(1)), outcome);
      for (const p of [settled, later]) {
        expect(p.status).toEqual(current.status);
        expect(p.events).toEqual([]);
        expect(p.deletePods).toEqual([]);
        // A refused child is applied again: that is the retry, once per backoff.
        expect(p.apply.map((a) => a.name)).toEqual(outcome.rejection ? [outcome.rejection.name] : []);
        if (p.requeueAfterMs !== undefined) expect(p.requeueAfterMs).toBeGreaterThanOrEqual(1000);
      }
    },
  );
});
