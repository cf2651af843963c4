// Children policy: the objects the current attempt needs, each applied only when missing or different from what the
// cache shows; the pods last, never under a name another job's pod still holds.
import type { V1Pod } from "@kubernetes/client-node";
import { describe, expect, it } from "vitest";
import type { SpecInput } from "../../../../src/api/schema.ts";
import { DEFAULT_OPERATOR_CONTEXT } from "../../../../src/children/pods.ts";
import { type MissingChildren, missingChildren } from "../../../../src/operator/plan/children.ts";
import type { Observed } from "../../../../src/operator/plan/observed.ts";
import { stagePods } from "../../../../src/operator/plan/stages.ts";
import { renderConfigFiles } from "../../../../src/verl/files.ts";
import { at, job, pod, TWO_NODES, view, world } from "./world.ts";

const SELECTOR = { "collabllm.io/job-name": "job", "collabllm.io/role": "head", "collabllm.io/attempt": "0" };
const reversed = (o: Record<string, string>) => Object.fromEntries(Object.entries(o).reverse());

function plan(
  o: {
    spec?: Partial<SpecInput>;
    pods?: V1Pod[];
    observed?: Partial<Observed>;
    attempt?: number;
    desired?: boolean;
  } = {},
): MissingChildren {
  const j = job({ ...TWO_NODES, ...o.spec });
  const attempt = o.attempt ?? 0;
  const pods = o.pods ?? [];
  const observed = world(j, pods, {
    serviceSelector: { ...SELECTOR, "collabllm.io/attempt": String(attempt) },
    ...o.observed,
  });
  return missingChildren({
    observed,
    ctx: DEFAULT_OPERATOR_CONTEXT,
    attempt,
    pods: view(j, pods, attempt),
    desiredPods: o.desired === false ? [] : stagePods(j, DEFAULT_OPERATOR_CONTEXT, "Training", attempt),
  });
}
const applied = (p: MissingChildren) => p.apply.map((a) => `${a.kind}/${a.name}`);
const RUNNING = [pod("job-a0-head"), pod("job-a0-worker-1")];

describe("missingChildren", () => {
  it.each<{ name: string; input: Parameters<typeof plan>[0]; applied: string[] }>([
    { name: "everything there: nothing to apply", input: { pods: RUNNING }, applied: [] },
    {
      name: "a new job: every child, the pods last",
      input: { observed: { configMapData: undefined, serviceSelector: undefined, claimExists: false } },
      applied: [
        "ConfigMap/job-config",
        "Service/job-ray",
        "PersistentVolumeClaim/job-data",
        "Pod/job-a0-head",
        "Pod/job-a0-worker-1",
      ],
    },
    {
      name: "ConfigMap data that differs in one file",
      input: {
        pods: RUNNING,
        observed: {
          configMapData: Object.fromEntries(
            Object.entries(renderConfigFiles(job(TWO_NODES).spec, { jobName: "job" })).map(([k, v], i) => [
              k,
              i === 0 ? `${v}\n` : v,
            ]),
          ),
        },
      },
      applied: ["ConfigMap/job-config"],
    },
    {
      name: "ConfigMap with a file too many",
      input: {
        pods: RUNNING,
        observed: { configMapData: { ...renderConfigFiles(job(TWO_NODES).spec, { jobName: "job" }), extra: "" } },
      },
      applied: ["ConfigMap/job-config"],
    },
    {
      name: "ConfigMap data in another key order is the same",
      input: {
        pods: RUNNING,
        observed: { configMapData: reversed(renderConfigFiles(job(TWO_NODES).spec, { jobName: "job" })) },
      },
      applied: [],
    },
    {
      name: "the Service still selecting the previous attempt's head",
      input: {
        attempt: 1,
        pods: [pod("job-a1-head"), pod("job-a1-worker-1")],
        observed: { serviceSelector: SELECTOR },
      },
      applied: ["Service/job-ray"],
    },
    {
      name: "a Service whose selector someone emptied",
      input: { pods: RUNNING, observed: { serviceSelector: {} } },
      applied: ["Service/job-ray"],
    },
    {
      name: "a Service selector with a key too many",
      input: { pods: RUNNING, observed: { serviceSelector: { ...SELECTOR, extra: "x" } } },
      applied: ["Service/job-ray"],
    },
    {
      name: "the selector in another key order is the same",
      input: { pods: RUNNING, observed: { serviceSelector: reversed(SELECTOR) } },
      applied: [],
    },
    {
      name: "the operator's claim missing",
      input: { pods: RUNNING, observed: { claimExists: false } },
      applied: ["PersistentVolumeClaim/job-data"],
    },
    {
      name: "the user's claim is never made by the operator, even when missing",
      input: { spec: { storage: { existingClaim: "shared" } }, pods: RUNNING, observed: { claimExists: false } },
      applied: [],
    },
    { name: "one pod missing: only that one", input: { pods: [pod("job-a0-head")] }, applied: ["Pod/job-a0-worker-1"] },
    {
      name: "a pod of this job already there in any phase is not applied again",
      input: {
        pods: [
          pod("job-a0-head", { phase: "Failed" }),
          pod("job-a0-worker-1", { phase: "Pending", deletedAt: at(-1) }),
        ],
      },
      applied: [],
    },
    {
      name: "a name held by another job of the same name (deleted and made again): not until it goes",
      input: { pods: [pod("job-a0-head", { owner: "u-old", deletedAt: at(-5) })] },
      applied: ["Pod/job-a0-worker-1"],
    },
    {
      name: "a name held by a pod no job controls",
      input: { pods: [pod("job-a0-head", { owner: null })] },
      applied: ["Pod/job-a0-worker-1"],
    },
    {
      name: "pods that may not be made yet: the other children still are",
      input: { desired: false, observed: { configMapData: undefined } },
      applied: ["ConfigMap/job-config"],
    },
  ])("$name", ({ input, applied: want }) => {
    expect(applied(plan(input))).toEqual(want);
  });

  it("applies the Service of the current attempt's head", () => {
    const p = plan({ attempt: 2, observed: { serviceSelector: SELECTOR } });
    const service = p.apply.find((a) => a.kind === "Service")?.object as { spec: { selector: object } };
    expect(service.spec.selector).toEqual({ ...SELECTOR, "collabllm.io/attempt": "2" });
  });

  it.each<{ name: string; pods: V1Pod[]; attempt?: number; warned: string[] }>([
    { name: "no pod yet: a new token, nothing to warn of", pods: [], warned: [] },
    {
      name: "running pods keep the old token: warned, naming them",
      pods: [pod("job-a0-head"), pod("job-a0-worker-1", { phase: "Pending" })],
      warned: ["job-a0-head", "job-a0-worker-1"],
    },
    {
      name: "finished pods report nothing more",
      pods: [pod("job-a0-prepare", { phase: "Succeeded" }), pod("job-a0-head", { phase: "Failed" })],
      warned: [],
    },
    { name: "pods of an older attempt are on their way out", pods: [pod("job-a0-head")], attempt: 1, warned: [] },
  ])("the token Secret missing: $name", ({ pods, attempt = 0, warned }) => {
    const p = plan({ pods, attempt, observed: { tokenSecretExists: false } });
    expect(p.createTokenSecret).toBe(true);
    if (warned.length === 0) expect(p.events).toEqual([]);
    else
      expect(p.events).toEqual([
        {
          type: "Warning",
          reason: "TokenReplaced",
          message: `Secret job-token was deleted and is made again with a new token; the gateways of ${warned.join(", ")} keep the old one, so their usage and progress reports are refused until those pods restart`,
        },
      ]);
  });

  it("makes no token while the Secret exists", () => {
    const p = plan({ pods: RUNNING });
    expect(p).toEqual({ createTokenSecret: false, apply: [], events: [] });
  });
});
