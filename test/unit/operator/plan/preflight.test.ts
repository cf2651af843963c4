// The preflight policy in the planner: the pod it asks for, what the containers' termination messages make of
// EndpointsReady, and that no GPU pod is requested before the endpoints passed.
import type { V1ContainerStatus, V1Pod } from "@kubernetes/client-node";
import { describe, expect, it } from "vitest";
import type { CollabTrainingJob } from "../../../../src/api/schema.ts";
import { DEFAULT_OPERATOR_CONTEXT } from "../../../../src/children/pods.ts";
import { preflightPod } from "../../../../src/children/preflight.ts";
import type { PreflightVerdict } from "../../../../src/contract/preflight-verdict.ts";
import { type Plan, plan } from "../../../../src/operator/plan/plan.ts";
import { validJob } from "../../../fixtures/invalid-jobs.ts";
import { isPreflight, job, SECRET_VERSIONS, world } from "./world.ts";

function pod(name: string, role: string, phase: string): V1Pod {
  return {
    metadata: {
      name,
      labels: { "collabllm.io/job-name": "job", "collabllm.io/role": role, "collabllm.io/attempt": "0" },
      ownerReferences: [
        { apiVersion: "collabllm.io/v1alpha1", kind: "CollabTrainingJob", name: "job", uid: "u-1", controller: true },
      ],
    },
    spec: { containers: [], nodeName: "node-1" },
    status: { phase },
  };
}

const VERDICT = { status: 200, model: "gpt-4o-mini", baseURL: "https://api.openai.com/v1", seconds: 0.4 };
const answered = (endpoint: "user-simulator" | "judge"): PreflightVerdict => ({
  ...VERDICT,
  endpoint,
  ready: true,
  reason: "Answered",
  message: "answered a completion of max_tokens 1",
});
const keyRefused: PreflightVerdict = {
  ...VERDICT,
  endpoint: "judge",
  ready: false,
  reason: "KeyRefused",
  status: 401,
  message: "the key was refused: HTTP 401: Incorrect API key provided: sk-****real.",
};

type Run = { verdict?: PreflightVerdict; message?: string; exitCode?: number } | "running" | "waiting";

/** The job's preflight pod as the kubelet shows it: per container, ended (once, or crash-looping after a failure). */
function preflight(
  j: CollabTrainingJob,
  runs: Partial<Record<"user-simulator" | "judge", Run>>,
  secretVersions = SECRET_VERSIONS,
): V1Pod {
  const desired = preflightPod(j, DEFAULT_OPERATOR_CONTEXT, secretVersions) as unknown as V1Pod;
  const statuses = Object.entries(runs).map(([name, run]): V1ContainerStatus => {
    const base = { name, image: "op", imageID: "", ready: false, restartCount: 0 };
    if (run === "running") return { ...base, state: { running: { startedAt: new Date() } } };
    if (run === "waiting") return { ...base, state: { waiting: { reason: "ContainerCreating" } } };
    const exitCode = run.exitCode ?? (run.verdict?.ready === false ? 1 : 0);
    const terminated = {
      exitCode,
      reason: exitCode === 0 ? "Completed" : "Error",
      message: run.message ?? JSON.stringify(run.verdict),
    };
    // restartPolicy OnFailure: a failed run waits in CrashLoopBackOff, its verdict in lastState.
    return exitCode === 0
      ? { ...base, state: { terminated } }
      : { ...base, restartCount: 1, state: { waiting: { reason: "CrashLoopBackOff" } }, lastState: { terminated } };
  });
  const ended = statuses.every((s) => s.state?.terminated?.exitCode === 0) && statuses.length > 0;
  return {
    ...desired,
    spec: { ...desired.spec, nodeName: "cpu-1" } as V1Pod["spec"],
    status: { phase: ended ? "Succeeded" : "Running", containerStatuses: statuses },
  };
}

const PREPARED = pod("job-a0-prepare", "prepare", "Succeeded");
const applied = (p: Plan) => p.apply.map((a) => `${a.kind}/${a.name}`);
const gpuPods = (p: Plan) => applied(p).filter((a) => /-(head|worker-\d+|sft)$/.test(a));
const cond = (p: Plan, type: string) => p.status.conditions?.find((c) => c.type === type);
const run = (j: CollabTrainingJob, pods: V1Pod[], secretVersions = SECRET_VERSIONS) =>
  plan(world(j, pods, { secretVersions }), DEFAULT_OPERATOR_CONTEXT);
/** The world before any preflight pod was made. */
const withoutPreflight = (j: CollabTrainingJob, pods: V1Pod[], overrides: Parameters<typeof world>[2] = {}) => {
  const w = world(j, pods, overrides);
  return plan({ ...w, pods: w.pods.filter((p) => !isPreflight(p)) }, DEFAULT_OPERATOR_CONTEXT);
};
const preparing = { phase: "Preparing" as const, stage: "Preparing", attempt: 0 };
const passedBoth = (j: CollabTrainingJob) =>
  preflight(j, { "user-simulator": { verdict: answered("user-simulator") }, judge: { verdict: answered("judge") } });

describe("preflight policy", () => {
  it("asks for the preflight pod with the job's first pods: one container per endpoint, the gateway's env", () => {
    const j = job();
    const p = withoutPreflight(j, []);
    const name = preflightPod(j, DEFAULT_OPERATOR_CONTEXT, SECRET_VERSIONS)?.metadata.name as string;
    expect(name).toMatch(/^job-preflight-[0-9a-f]{10}$/);
    expect(applied(p)).toEqual(["Pod/job-a0-prepare", `Pod/${name}`]);
    const made = p.apply.find((a) => a.name === name)?.object as V1Pod;
    expect(made.spec?.restartPolicy).toBe("OnFailure");
    expect(made.spec?.automountServiceAccountToken).toBe(false);
    expect(made.spec?.containers.map((c) => [c.name, c.args, c.terminationMessagePolicy])).toEqual([
      ["user-simulator", ["preflight"], "File"],
      ["judge", ["preflight"], "File"],
    ]);
    const judge = made.spec?.containers[1];
    expect(judge?.env).toContainEqual({
      name: "COLLAB_GATEWAY_UPSTREAM_API_KEY",
      valueFrom: { secretKeyRef: { name: "llm-keys", key: "OPENAI_API_KEY" } },
    });
    expect(judge?.env?.map((e) => e.name)).not.toContain("COLLAB_GATEWAY_TOKEN");
    expect(made.metadata?.labels?.["collabllm.io/role"]).toBe("preflight");
    expect(made.metadata?.labels).not.toHaveProperty("collabllm.io/attempt");
    expect(cond(p, "EndpointsReady")).toMatchObject({ status: "Unknown", reason: "PreflightRunning" });
  });

  it("requests no GPU pod while the preflight runs, and says what the stage waits for", () => {
    const j = job({}, preparing);
    const p = run(j, [PREPARED, preflight(j, { "user-simulator": "running", judge: "waiting" })]);
    expect(gpuPods(p)).toEqual([]);
    expect(p.status.stage).toBe("Training");
    expect(cond(p, "EndpointsReady")?.message).toMatch(
      /^pod job-preflight-\w+ checks the endpoints: user-simulator is running, judge is waiting \(ContainerCreating\)$/,
    );
    expect(cond(p, "Reconciling")?.message).toBe("stage Training waits for the endpoint preflight (EndpointsReady)");
    expect(cond(p, "Stalled")?.status).toBe("False");
    expect(p.status.waiting).toBe("Preflight");
  });

  it("holds the GPUs back on a refused key, naming the endpoint, the status, the provider's words and the Secret", () => {
    const j = job({}, preparing);
    const p = run(j, [
      PREPARED,
      preflight(j, { "user-simulator": { verdict: answered("user-simulator") }, judge: { verdict: keyRefused } }),
    ]);
    expect(gpuPods(p)).toEqual([]);
    const c = cond(p, "EndpointsReady");
    expect(c).toMatchObject({ status: "False", reason: "KeyRefused" });
    expect(c?.message).toMatch(
      /^spec\.judge \(gpt-4o-mini at https:\/\/api\.openai\.com\/v1\): the key was refused: HTTP 401: Incorrect API key provided: sk-\*\*\*\*real\. \[spec\.judge\.apiKeySecretRef: Secret llm-keys, key OPENAI_API_KEY\] \(pod job-preflight-\w+;/,
    );
    expect(cond(p, "Stalled")).toMatchObject({ status: "True", reason: "KeyRefused", message: c?.message });
    expect(cond(p, "Reconciling")).toMatchObject({ reason: "Blocked" });
    expect(p.status.message).toBe(c?.message);
    // kubectl get: the phase says the stage, the Waiting column that nothing runs and why.
    expect(p.status).toMatchObject({ phase: "Training", waiting: "Blocked: KeyRefused" });
    expect(p.events).toContainEqual({ type: "Warning", reason: "KeyRefused", message: c?.message });
  });

  it("lets Preparing go on while an endpoint fails, without stalling yet", () => {
    const p = run(job(), [preflight(job(), { judge: { verdict: keyRefused } })]);
    expect(applied(p)).toEqual(["Pod/job-a0-prepare"]);
    expect(cond(p, "EndpointsReady")?.status).toBe("False");
    expect(cond(p, "Stalled")?.status).toBe("False");
    expect(p.status.waiting).toBeUndefined();
    expect(p.events.map((e) => e.reason)).toContain("KeyRefused");
  });

  it("holds back the SFT pod too", () => {
    const j = job({ sft: { enabled: true } }, preparing);
    const p = run(j, [PREPARED, preflight(j, { judge: { verdict: keyRefused } })]);
    expect(p.status.stage).toBe("FineTuning");
    expect(gpuPods(p)).toEqual([]);
  });

  it("creates the GPU pods once every endpoint answered", () => {
    const j = job({}, preparing);
    const p = run(j, [PREPARED, passedBoth(j)]);
    expect(gpuPods(p)).toEqual(["Pod/job-a0-head"]);
    expect(cond(p, "EndpointsReady")).toMatchObject({ status: "True", reason: "PreflightPassed" });
    expect(cond(p, "EndpointsReady")?.message).toMatch(
      /^spec\.userSimulator \(gpt-4o-mini at https:\/\/api\.openai\.com\/v1\): answered a completion of max_tokens 1 in 0\.4 s; spec\.judge .* \(pod job-preflight-\w+\)$/,
    );
  });

  it("counts a rate-limited endpoint as ready", () => {
    const j = job({}, preparing);
    const limited: PreflightVerdict = {
      ...answered("judge"),
      reason: "RateLimited",
      status: 429,
      message: "rate-limited (HTTP 429: slow down); counted as ready",
    };
    const p = run(j, [
      PREPARED,
      preflight(j, { "user-simulator": { verdict: answered("user-simulator") }, judge: { verdict: limited } }),
    ]);
    expect(gpuPods(p)).toEqual(["Pod/job-a0-head"]);
  });

  it("reads a container that ended without a verdict as a failure pointing at its logs", () => {
    const j = job({}, preparing);
    const p = run(j, [
      PREPARED,
      preflight(j, {
        "user-simulator": { verdict: answered("user-simulator") },
        judge: { message: "node: bad option", exitCode: 9 },
      }),
    ]);
    expect(cond(p, "EndpointsReady")).toMatchObject({ status: "False", reason: "PreflightFailed" });
    expect(cond(p, "EndpointsReady")?.message).toContain(
      "container judge exited with code 9 (Error) without a verdict: node: bad option; see kubectl logs job-preflight-",
    );
  });

  it("checks again when the Secret changes: a new pod, the old one deleted, the GPUs held back meanwhile", () => {
    const j = job({}, preparing);
    const old = preflight(j, { judge: { verdict: keyRefused } });
    const rotated = { "llm-keys": "secret-uid-1:101" };
    const p = run(j, [PREPARED, old], rotated);
    const next = preflightPod(j, DEFAULT_OPERATOR_CONTEXT, rotated)?.metadata.name as string;
    expect(next).not.toBe(old.metadata?.name);
    expect(applied(p)).toEqual([`Pod/${next}`]);
    expect(p.deletePods).toEqual([old.metadata?.name]);
    expect(cond(p, "EndpointsReady")).toMatchObject({ status: "Unknown", reason: "PreflightRunning" });
    expect(cond(p, "Stalled")?.status).toBe("False");
  });

  it("checks again when an endpoint's settings change, and not when unrelated fields do", () => {
    const base = preflightPod(job(), DEFAULT_OPERATOR_CONTEXT, SECRET_VERSIONS)?.metadata.name;
    const judge = { ...validJob().spec.judge, model: "gpt-4o" };
    expect(preflightPod(job({ judge }), DEFAULT_OPERATOR_CONTEXT, SECRET_VERSIONS)?.metadata.name).not.toBe(base);
    const retried = { ...validJob().spec.judge, timeoutSeconds: 30 };
    expect(preflightPod(job({ judge: retried }), DEFAULT_OPERATOR_CONTEXT, SECRET_VERSIONS)?.metadata.name).not.toBe(
      base,
    );
    expect(
      preflightPod(job({ resources: { nodes: 2 } }), DEFAULT_OPERATOR_CONTEXT, SECRET_VERSIONS)?.metadata.name,
    ).toBe(base);
  });

  it("checks only the endpoints whose preflight is on, and none when both are off", () => {
    const j = job({ judge: { ...validJob().spec.judge, preflight: false } }, preparing);
    const made = preflightPod(j, DEFAULT_OPERATOR_CONTEXT, SECRET_VERSIONS);
    expect(made?.spec.containers.map((c) => c.name)).toEqual(["user-simulator"]);
    const p = run(j, [PREPARED, preflight(j, { "user-simulator": { verdict: answered("user-simulator") } })]);
    expect(gpuPods(p)).toEqual(["Pod/job-a0-head"]);
    expect(cond(p, "EndpointsReady")?.message).toContain("spec.judge: not checked (preflight: false)");

    const off = job(
      {
        userSimulator: { ...validJob().spec.userSimulator, preflight: false },
        judge: { ...validJob().spec.judge, preflight: false },
      },
      preparing,
    );
    const stale = preflight(j, { "user-simulator": "running" });
    const q = run(off, [PREPARED, stale]);
    expect(gpuPods(q)).toEqual(["Pod/job-a0-head"]);
    expect(q.deletePods).toEqual([stale.metadata?.name]);
    expect(cond(q, "EndpointsReady")).toMatchObject({ status: "True", reason: "PreflightDisabled" });
  });

  it("waits for a missing Secret before making the preflight pod", () => {
    const p = withoutPreflight(job(), [PREPARED], { secretKeys: { "llm-keys": undefined }, secretVersions: {} });
    expect(applied(p).filter((a) => a.startsWith("Pod/"))).toEqual([]);
    expect(cond(p, "EndpointsReady")?.message).toContain("it starts once the Secrets exist (SecretsReady)");
  });

  it("makes a preflight pod that failed as a whole (evicted) again", () => {
    const j = job({}, preparing);
    const evicted = preflight(j, { "user-simulator": "running" });
    evicted.status = { phase: "Failed", reason: "Evicted" };
    const p = run(j, [PREPARED, evicted]);
    expect(p.deletePods).toEqual([evicted.metadata?.name]);
    expect(gpuPods(p)).toEqual([]);
  });

  it("does not stall a job whose GPU pods already run when a rotated key fails, and deletes nothing of it", () => {
    const j = job({}, { ...preparing, phase: "Training", stage: "Training" });
    const head = pod("job-a0-head", "head", "Running");
    const p = run(j, [PREPARED, head, preflight(j, { judge: { verdict: keyRefused } })]);
    expect(p.status.phase).toBe("Training");
    expect(cond(p, "EndpointsReady")?.status).toBe("False");
    expect(cond(p, "Stalled")?.status).toBe("False");
    expect(p.deletePods).toEqual([]);
  });

  it("deletes a crash-looping preflight pod when the job finishes or is suspended", () => {
    const j = job({}, preparing);
    const looping = preflight(j, { judge: { verdict: keyRefused } });
    const suspended = run(job({ suspend: true }, preparing), [PREPARED, looping]);
    expect(suspended.deletePods).toEqual([looping.metadata?.name]);
    const succeeded = run(job({}, preparing), [PREPARED, pod("job-a0-head", "head", "Succeeded"), looping]);
    const done = run({ ...j, status: succeeded.status }, [PREPARED, looping]);
    expect(done.status.phase).toBe("Succeeded");
    expect(done.deletePods).toEqual([looping.metadata?.name]);
  });

  it("never takes the name of another job's preflight pod still terminating", () => {
    const j = job();
    const theirs = preflight(j, { "user-simulator": "running" });
    theirs.metadata = {
      ...theirs.metadata,
      ownerReferences: [{ ...theirs.metadata!.ownerReferences![0]!, uid: "old" }],
    };
    const p = run(j, [theirs]);
    expect(applied(p)).toEqual(["Pod/job-a0-prepare"]);
  });

  it("writes nothing more for an unchanged world once the preflight passed", () => {
    let current = job({}, preparing);
    const pods = [PREPARED, pod("job-a0-head", "head", "Running"), passedBoth(current)];
    for (let i = 0; i < 3; i++) current = { ...current, status: run(current, pods).status };
    const idle = run(current, pods);
    expect(idle.apply).toEqual([]);
    expect(idle.deletePods).toEqual([]);
    expect(idle.events).toEqual([]);
    expect(idle.status).toEqual(current.status);
  });
});
