import type { V1Pod } from "@kubernetes/client-node";
import { describe, expect, it } from "vitest";
import type { CollabTrainingJob } from "../../../../src/api/schema.ts";
import { DEFAULT_OPERATOR_CONTEXT } from "../../../../src/children/pods.ts";
import { type Plan, plan } from "../../../../src/operator/plan/plan.ts";
import { job, NOW, world } from "./world.ts";

const LATER = "2026-11-22T11:00:00Z";

function pod(
  name: string,
  role: string,
  phase: string,
  extra: Partial<V1Pod["status"]> = {},
  attempt = 0,
  uid = "u-1",
): V1Pod {
  return {
    metadata: {
      name,
      labels: { "collabllm.io/job-name": "job", "collabllm.io/role": role, "collabllm.io/attempt": String(attempt) },
      ownerReferences: [
        { apiVersion: "collabllm.io/v1alpha1", kind: "CollabTrainingJob", name: "job", uid, controller: true },
      ],
    },
    spec: { containers: [], nodeName: "node-1" },
    status: { phase, ...extra },
  };
}

const applied = (p: Plan) => p.apply.map((a) => `${a.kind}/${a.name}`);
const cond = (p: Plan, type: string) => p.status.conditions?.find((c) => c.type === type);

/** Runs the plan's status back into the job, as the apiserver would after the write. */
const afterWrite = (j: CollabTrainingJob, p: Plan): CollabTrainingJob => ({ ...j, status: p.status });

describe("plan", () => {
  it("creates the children, then the prepare pod, for a new job", () => {
    const j = job();
    const p = plan(
      world(j, [], {
        configMapData: undefined,
        serviceSelector: undefined,
        tokenSecretExists: false,
        claimExists: false,
      }),
      DEFAULT_OPERATOR_CONTEXT,
    );
    expect(p.createTokenSecret).toBe(true);
    expect(applied(p)).toEqual([
      "ConfigMap/job-config",
      "Service/job-ray",
      "PersistentVolumeClaim/job-data",
      "Pod/job-a0-prepare",
    ]);
    expect(p.status.phase).toBe("Pending");
    expect(cond(p, "Reconciling")).toMatchObject({ status: "True", reason: "Preparing" });
  });

  it("requests no pod while a referenced Secret or key is missing, and names them", () => {
    const p = plan(world(job(), [], { secretKeys: { "llm-keys": ["OTHER"] } }), DEFAULT_OPERATOR_CONTEXT);
    expect(applied(p).filter((a) => a.startsWith("Pod/"))).toEqual([]);
    expect(cond(p, "SecretsReady")).toMatchObject({ status: "False", reason: "SecretNotFound" });
    expect(cond(p, "SecretsReady")?.message).toContain(
      "spec.judge.apiKeySecretRef: Secret llm-keys has no key OPENAI_API_KEY",
    );
    expect(cond(p, "Stalled")?.status).toBe("True");
    expect(p.status.waiting).toBe("Blocked: SecretNotFound");
    expect(p.events).toContainEqual(expect.objectContaining({ type: "Warning", reason: "SecretNotFound" }));
  });

  it("moves to training once the prepare pod succeeded, skipping SFT when disabled", () => {
    const j = job({ rl: { batchSize: 16, miniBatchSize: 8 }, resources: { nodes: 2 } });
    const p = plan(world(j, [pod("job-a0-prepare", "prepare", "Succeeded")]), DEFAULT_OPERATOR_CONTEXT);
    expect(cond(p, "DatasetReady")?.status).toBe("True");
    expect(applied(p)).toEqual(["Pod/job-a0-head", "Pod/job-a0-worker-1"]);
    expect(p.status.stage).toBe("Training");
  });

  it("runs SFT between preparation and training when enabled", () => {
    const j = job({ sft: { enabled: true } });
    const p = plan(world(j, [pod("job-a0-prepare", "prepare", "Succeeded")]), DEFAULT_OPERATOR_CONTEXT);
    expect(applied(p)).toEqual(["Pod/job-a0-sft"]);
    const q = plan(
      world(afterWrite(j, p), [pod("job-a0-prepare", "prepare", "Succeeded"), pod("job-a0-sft", "sft", "Succeeded")]),
      DEFAULT_OPERATOR_CONTEXT,
    );
    expect(cond(q, "FineTuned")?.status).toBe("True");
    expect(applied(q)).toEqual(["Pod/job-a0-head"]);
  });

  it("never reruns a finished stage whose pods are gone", () => {
    const j = job();
    const p = plan(world(j, [pod("job-a0-prepare", "prepare", "Succeeded")]), DEFAULT_OPERATOR_CONTEXT);
    const q = plan(world(afterWrite(j, p), []), DEFAULT_OPERATOR_CONTEXT);
    expect(applied(q)).toEqual(["Pod/job-a0-head"]);
  });

  it("fails the job naming the pod, container and exit code, and frees the GPUs of the others", () => {
    const j = job({
      rl: { batchSize: 16, miniBatchSize: 8 },
      resources: { nodes: 2 },
      failurePolicy: { maxRestarts: 0 },
    });
    const failed = pod("job-a0-worker-1", "worker", "Failed", {
      containerStatuses: [
        {
          name: "trainer",
          image: "t",
          imageID: "",
          ready: false,
          restartCount: 0,
          state: { terminated: { exitCode: 137, reason: "OOMKilled" } },
        },
      ],
    });
    const p = plan(
      world(j, [pod("job-a0-prepare", "prepare", "Succeeded"), pod("job-a0-head", "head", "Running"), failed]),
      DEFAULT_OPERATOR_CONTEXT,
    );
    expect(p.status.phase).toBe("Failed");
    expect(cond(p, "Failed")?.message).toBe(
      "pod job-a0-worker-1 container trainer exited with code 137 (OOMKilled); no further restart: failurePolicy.maxRestarts (0) is spent (the default for PodFailed: Count)",
    );
    expect(p.deletePods).toEqual(["job-a0-head"]);
    expect(p.apply).toEqual([]);
    expect(p.events).toContainEqual(expect.objectContaining({ type: "Warning", reason: "MaxRestartsExceeded" }));
  });

  it("succeeds when the head succeeds and deletes the workers still running", () => {
    const j = job({ rl: { batchSize: 16, miniBatchSize: 8 }, resources: { nodes: 2 } });
    const pods = [
      pod("job-a0-prepare", "prepare", "Succeeded"),
      pod("job-a0-head", "head", "Succeeded"),
      pod("job-a0-worker-1", "worker", "Running"),
    ];
    const p = plan(world(j, pods), DEFAULT_OPERATOR_CONTEXT);
    expect(p.status.phase).toBe("Succeeded");
    expect(cond(p, "Succeeded")?.status).toBe("True");
    expect(p.status.completionTime).toBe(NOW);
    expect(p.deletePods).toEqual(["job-a0-worker-1"]);
  });

  it("plans nothing new for an unchanged world: no writes, no events, even much later", () => {
    const j = job();
    const pods = [pod("job-a0-prepare", "prepare", "Succeeded"), pod("job-a0-head", "head", "Running")];
    let current = j;
    for (let i = 0; i < 3; i++) current = afterWrite(current, plan(world(current, pods), DEFAULT_OPERATOR_CONTEXT));
    const idle = plan({ ...world(current, pods), now: LATER }, DEFAULT_OPERATOR_CONTEXT);
    expect(idle.apply).toEqual([]);
    expect(idle.deletePods).toEqual([]);
    expect(idle.events).toEqual([]);
    expect(idle.status).toEqual(current.status);
  });

  it("reports the scheduler's reason when a pod cannot be placed", () => {
    const stuck = pod("job-a0-head", "head", "Pending", {
      conditions: [
        {
          type: "PodScheduled",
          status: "False",
          reason: "Unschedulable",
          message: "0/8 nodes are available: 8 Insufficient nvidia.com/gpu.",
        },
      ],
    });
    stuck.spec = { containers: [] };
    const p = plan(world(job(), [pod("job-a0-prepare", "prepare", "Succeeded"), stuck]), DEFAULT_OPERATOR_CONTEXT);
    expect(cond(p, "PodsScheduled")).toMatchObject({ status: "False", reason: "Unschedulable" });
    expect(p.status.message).toContain("Insufficient nvidia.com/gpu");
    expect(p.status.waiting).toBe("Capacity: Unschedulable");
  });

  it("deletes the pods of a suspended job and of other attempts", () => {
    const old = pod("job-a1-head", "head", "Running", {}, 1);
    const p = plan(
      world(job({ suspend: true }), [pod("job-a0-prepare", "prepare", "Running"), old]),
      DEFAULT_OPERATOR_CONTEXT,
    );
    expect(p.status.phase).toBe("Suspended");
    expect(p.deletePods.sort()).toEqual(["job-a0-prepare", "job-a1-head"]);
    expect(p.apply).toEqual([]);
  });

  it("leaves BudgetExceeded to the report endpoint", () => {
    const budget = {
      type: "BudgetExceeded",
      status: "True" as const,
      reason: "TokenBudgetSpent",
      message: "",
      lastTransitionTime: NOW,
    };
    const p = plan(world(job({}, { conditions: [budget] })), DEFAULT_OPERATOR_CONTEXT);
    expect(p.status.conditions?.map((c) => c.type)).not.toContain("BudgetExceeded");
  });

  it("starts nothing while an extra override carries what looks like a credential, and names it", () => {
    const p = plan(
      world(job({ rl: { overrides: ["+actor_rollout_ref.rollout.engine_kwargs.vllm.api_key=x"] } })),
      DEFAULT_OPERATOR_CONTEXT,
    );
    expect(applied(p).filter((a) => a.startsWith("Pod/"))).toEqual([]);
    expect(cond(p, "Stalled")).toMatchObject({ status: "True", reason: "InvalidSpec" });
    expect(cond(p, "Stalled")?.message).toContain("spec.rl.overrides[0]");
    expect(p.events).toContainEqual(expect.objectContaining({ type: "Warning", reason: "InvalidSpec" }));
  });

  it("warns when the token Secret was deleted under running pods, whose reports the new token will refuse", () => {
    const running = [pod("job-a0-prepare", "prepare", "Succeeded"), pod("job-a0-head", "head", "Running")];
    const p = plan(world(job(), running, { tokenSecretExists: false }), DEFAULT_OPERATOR_CONTEXT);
    expect(p.createTokenSecret).toBe(true);
    expect(p.events).toContainEqual(expect.objectContaining({ type: "Warning", reason: "TokenReplaced" }));
    expect(p.events.find((e) => e.reason === "TokenReplaced")?.message).toContain("job-a0-head");
    const fresh = plan(world(job(), [], { tokenSecretExists: false }), DEFAULT_OPERATOR_CONTEXT);
    expect(fresh.events.map((e) => e.reason)).not.toContain("TokenReplaced");
  });
});
