// Startup policy: once the first pod of an attempt's stage is bound, every pod of the stage must be running within
// scheduling.startupTimeoutSeconds; pods that wait for capacity or in a queue start no clock.
import type { V1Pod } from "@kubernetes/client-node";
import { describe, expect, it } from "vitest";
import { DEFAULT_OPERATOR_CONTEXT } from "../../../../src/children/pods.ts";
import { stagePods } from "../../../../src/operator/plan/stages.ts";
import { firstScheduled, type StartupCheck, startupCheck } from "../../../../src/operator/plan/startup.ts";
import { at, exited, gated, job, NO_GPU, NOW, pod, TWO_NODES, unplaced, view, waiting } from "./world.ts";

const TIMEOUT = 1800;
const j = job(TWO_NODES);
const pulling = (name: string, scheduledAt = at(-60)) =>
  pod(name, {
    phase: "Pending",
    scheduledAt,
    containers: [waiting("trainer", "ImagePullBackOff", "Back-off pulling image")],
  });
describe("startupCheck", () => {
  it.each<{ name: string; pods: V1Pod[]; now?: string; attempt?: number; check: StartupCheck }>([
    { name: "all running: nothing to watch", pods: [pod("job-a0-head"), pod("job-a0-worker-1")], check: {} },
    { name: "no pod made yet: no clock", pods: [], check: {} },
    {
      name: "all gated by a queue: no clock",
      pods: [gated("job-a0-head"), gated("job-a0-worker-1")],
      now: at(86_400),
      check: {},
    },
    {
      name: "all waiting for capacity: no clock",
      pods: [unplaced("job-a0-head"), unplaced("job-a0-worker-1")],
      now: at(86_400),
      check: {},
    },
    {
      name: "one bound, one pulling: wakes when the timeout runs out, a second after",
      pods: [pod("job-a0-head"), pulling("job-a0-worker-1")],
      check: { requeueAfterMs: (TIMEOUT - 60) * 1000 + 1000 },
    },
    {
      name: "the clock starts at the earliest PodScheduled=True",
      pods: [pulling("job-a0-head", at(-30)), pulling("job-a0-worker-1", at(-100))],
      check: { requeueAfterMs: (TIMEOUT - 100) * 1000 + 1000 },
    },
    {
      name: "one second before the timeout",
      pods: [pod("job-a0-head", { scheduledAt: at(-(TIMEOUT - 1)) }), pulling("job-a0-worker-1")],
      check: { requeueAfterMs: 2000 },
    },
    {
      name: "finished pods are past startup",
      pods: [
        pod("job-a0-head", { phase: "Succeeded", scheduledAt: at(-TIMEOUT * 2) }),
        pod("job-a0-worker-1", { phase: "Failed" }),
      ],
      check: {},
    },
  ])("$name", ({ pods, now = NOW, attempt = 0, check }) => {
    const desired = stagePods(j, DEFAULT_OPERATOR_CONTEXT, "Training", attempt);
    expect(startupCheck({ desired, pods: view(j, pods, attempt), attempt, timeoutSeconds: TIMEOUT, now })).toEqual(
      check,
    );
  });

  it.each<{ name: string; pods: V1Pod[]; action: string; decidedBy: string; message: string }>([
    {
      name: "exactly at the timeout, an image that does not pull: counted",
      pods: [pod("job-a0-head", { scheduledAt: at(-TIMEOUT) }), pulling("job-a0-worker-1")],
      action: "Count",
      decidedBy: "the default for StartupTimeout (the pods were placed but did not start)",
      message: `attempt 0: job-a0-worker-1 (container trainer ImagePullBackOff: Back-off pulling image) not running ${TIMEOUT} s after pod job-a0-head was scheduled (spec.scheduling.startupTimeoutSeconds)`,
    },
    {
      name: "a pod waiting for capacity: not the job's fault",
      pods: [pod("job-a0-head", { scheduledAt: at(-TIMEOUT) }), unplaced("job-a0-worker-1")],
      action: "Ignore",
      decidedBy: "a pod waiting for capacity or not created, which is not the job's fault",
      message: `attempt 0: job-a0-worker-1 (Unschedulable: ${NO_GPU}) not running ${TIMEOUT} s after pod job-a0-head was scheduled (spec.scheduling.startupTimeoutSeconds)`,
    },
    {
      name: "a pod never made (say, refused by the apiserver): not the job's fault either",
      pods: [pod("job-a0-head", { scheduledAt: at(-TIMEOUT) })],
      action: "Ignore",
      decidedBy: "a pod waiting for capacity or not created, which is not the job's fault",
      message: `attempt 0: job-a0-worker-1 (not created) not running ${TIMEOUT} s after pod job-a0-head was scheduled (spec.scheduling.startupTimeoutSeconds)`,
    },
    {
      name: "every pod not running is named, the bound ones by their phase",
      pods: [pod("job-a0-head", { phase: "Pending", scheduledAt: at(-TIMEOUT - 5) }), unplaced("job-a0-worker-1")],
      action: "Ignore",
      decidedBy: "a pod waiting for capacity or not created, which is not the job's fault",
      message: `attempt 0: job-a0-head (Pending), job-a0-worker-1 (Unschedulable: ${NO_GPU}) not running ${TIMEOUT} s after pod job-a0-head was scheduled (spec.scheduling.startupTimeoutSeconds)`,
    },
    {
      name: "an init container that cannot start is named",
      pods: [
        pod("job-a0-head", {
          phase: "Pending",
          scheduledAt: at(-TIMEOUT),
          initContainers: [waiting("judge", "CreateContainerConfigError", 'secret "llm-keys" not found')],
        }),
        pod("job-a0-worker-1"),
      ],
      action: "Count",
      decidedBy: "the default for StartupTimeout (the pods were placed but did not start)",
      message: `attempt 0: job-a0-head (container judge CreateContainerConfigError: secret "llm-keys" not found) not running ${TIMEOUT} s after pod job-a0-head was scheduled (spec.scheduling.startupTimeoutSeconds)`,
    },
  ])("times out: $name", ({ pods, action, decidedBy, message }) => {
    const desired = stagePods(j, DEFAULT_OPERATOR_CONTEXT, "Training", 0);
    const check = startupCheck({ desired, pods: view(j, pods), attempt: 0, timeoutSeconds: TIMEOUT, now: NOW });
    const forCapacity = action === "Ignore" ? { forCapacity: true } : {};
    expect(check).toEqual({ failure: { kind: "StartupTimeout", action, decidedBy, message, ...forCapacity } });
  });

  it("reads only the pods of its attempt", () => {
    const desired = stagePods(j, DEFAULT_OPERATOR_CONTEXT, "Training", 1);
    const old = [
      pod("job-a0-head", { scheduledAt: at(-TIMEOUT * 2) }),
      pod("job-a0-worker-1", { scheduledAt: at(-TIMEOUT * 2) }),
    ];
    const check = startupCheck({ desired, pods: view(j, old, 1), attempt: 1, timeoutSeconds: TIMEOUT, now: NOW });
    expect(check).toEqual({});
  });
});

describe("firstScheduled", () => {
  it.each<{ name: string; pods: V1Pod[]; first: { pod: string; at: string } | undefined }>([
    { name: "none", pods: [], first: undefined },
    { name: "none bound", pods: [unplaced("job-a0-head"), gated("job-a0-worker-1")], first: undefined },
    {
      name: "the earliest of several",
      pods: [pod("job-a0-head", { scheduledAt: at(-10) }), pod("job-a0-worker-1", { scheduledAt: at(-20) })],
      first: { pod: "job-a0-worker-1", at: at(-20) },
    },
    {
      name: "finished pods count: they were bound",
      pods: [pod("job-a0-prepare", { phase: "Succeeded", containers: [exited("trainer", 0)], scheduledAt: at(-900) })],
      first: { pod: "job-a0-prepare", at: at(-900) },
    },
    {
      name: "a time the typed client made a Date of",
      pods: [
        {
          ...pod("job-a0-head"),
          status: {
            conditions: [{ type: "PodScheduled", status: "True", lastTransitionTime: new Date(Date.parse(at(-5))) }],
          },
        },
      ],
      first: { pod: "job-a0-head", at: "2026-11-22T09:59:55.000Z" },
    },
  ])("$name", ({ pods, first }) => {
    expect(firstScheduled(pods)).toEqual(first);
  });

  it("ignores a PodScheduled=True without a time", () => {
    const p = pod("job-a0-head");
    p.status = { conditions: [{ type: "PodScheduled", status: "True" }] };
    expect(firstScheduled([p])).toBeUndefined();
  });
});
