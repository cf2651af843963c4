// The endpoints' preflight on the real control plane. KWOK runs no container, so the test plays the kubelet for the
// preflight pod the operator rendered (test/cluster/stand-in.ts): it runs `collab-operator preflight` with that pod's
// own args and env, the API key read from the Secret its secretKeyRef names, against a fake OpenAI-compatible
// upstream, and puts each container's termination message and exit code on the KWOK pod. The operator reads only
// that.
import type { CoreV1Event, V1Pod } from "@kubernetes/client-node";
import { afterEach, describe, expect, it } from "vitest";
import { binaries } from "../cluster/cluster.ts";
import { getPod, runPreflightPod } from "../cluster/stand-in.ts";
import { type FakeUpstream, startFakeUpstream } from "../unit/gateway/fake-upstream.ts";
import { core, testNamespace } from "./kube.ts";
import {
  condition,
  createJob,
  eventually,
  finishPod,
  getJob,
  listPods,
  startOperator,
  waitRunning,
} from "./operator.ts";

const RIGHT_KEY = "sk-right-key-0123456789abcdef";
const WRONG_KEY = "sk-wrong-key-9876543210fedcba";
const bin = binaries();

const upstreams: FakeUpstream[] = [];
afterEach(async () => {
  for (const u of upstreams.splice(0)) await u.close();
});

async function upstream(): Promise<FakeUpstream> {
  const u = await startFakeUpstream({ apiKey: RIGHT_KEY, models: ["gpt-4o-mini"] });
  upstreams.push(u);
  return u;
}

async function keySecret(namespace: string, key: string) {
  const body = { metadata: { name: "llm-keys" }, stringData: { OPENAI_API_KEY: key } };
  await core
    .replaceNamespacedSecret({ namespace, name: "llm-keys", body })
    .catch(() => core.createNamespacedSecret({ namespace, body }));
}

function endpoint(baseURL: string, more: Record<string, unknown> = {}) {
  return { model: "gpt-4o-mini", baseURL, apiKeySecretRef: { name: "llm-keys", key: "OPENAI_API_KEY" }, ...more };
}

/** The job's preflight pod once KWOK runs it, other than `not` (an older one). */
async function runningPreflight(namespace: string, job: string, not?: string): Promise<V1Pod> {
  return eventually(`preflight pod of ${job}`, async () => {
    const pods = await listPods(namespace, `collabllm.io/job-name=${job},collabllm.io/role=preflight`);
    const pod = pods.find((p) => p.metadata?.name !== not && !p.metadata?.deletionTimestamp);
    return pod?.status?.phase === "Running" ? pod : undefined;
  });
}

const gpuPods = async (namespace: string, job: string) =>
  (await listPods(namespace, `collabllm.io/job-name=${job}`)).filter((p) =>
    ["head", "worker", "sft"].includes(p.metadata?.labels?.["collabllm.io/role"] ?? ""),
  );

describe("endpoint preflight", () => {
  it("holds the GPUs back on a refused key, names the cause, and goes on once the Secret is fixed", async () => {
    const ns = await testNamespace("preflight");
    const fake = await upstream();
    await keySecret(ns, WRONG_KEY);
    startOperator(ns);
    await createJob(ns, "job", { spec: { userSimulator: endpoint(fake.url), judge: endpoint(fake.url) } }, false);

    const first = await runningPreflight(ns, "job");
    expect(first.metadata?.name).toMatch(/^job-preflight-[0-9a-f]{10}$/);
    expect(first.spec?.containers.map((c) => c.name)).toEqual(["user-simulator", "judge"]);
    const ends = await runPreflightPod(bin, getPod(bin, ns, first.metadata?.name as string));
    expect(ends.map((e) => e.exitCode)).toEqual([1, 1]);
    expect(ends.map((e) => e.output).join("")).not.toContain(WRONG_KEY);
    await finishPod(ns, "job-a0-prepare", "Succeeded");

    const refused = await eventually("EndpointsReady=False", async () => {
      const job = await getJob(ns, "job");
      return condition(job, "EndpointsReady")?.status === "False" && condition(job, "DatasetReady") ? job : undefined;
    });
    const c = condition(refused, "EndpointsReady");
    expect(c?.reason).toBe("KeyRefused");
    expect(c?.message).toContain(
      `spec.userSimulator (gpt-4o-mini at ${fake.url}): the key was refused: HTTP 401: Incorrect API key provided: sk-****dcba.`,
    );
    expect(c?.message).toContain("[spec.judge.apiKeySecretRef: Secret llm-keys, key OPENAI_API_KEY]");
    expect(c?.message).not.toContain(WRONG_KEY);
    expect(condition(refused, "Stalled")).toMatchObject({ status: "True", reason: "KeyRefused" });
    expect(refused.status?.message).toBe(c?.message);
    await eventually("Warning event KeyRefused", async () => {
      const events = (await core.listNamespacedEvent({ namespace: ns })).items as CoreV1Event[];
      return events.some((e) => e.type === "Warning" && e.reason === "KeyRefused");
    });
    // The job stays in the Training stage without a single GPU pod, reconciled meanwhile.
    await new Promise((r) => setTimeout(r, 3000));
    expect(await gpuPods(ns, "job")).toEqual([]);
    expect((await getJob(ns, "job")).status?.stage).toBe("Training");

    // Fixing the Secret runs a new preflight (its resourceVersion is in the pod's name); the old pod goes.
    await keySecret(ns, RIGHT_KEY);
    const second = await runningPreflight(ns, "job", first.metadata?.name);
    await eventually("the old preflight pod gone or going", async () => {
      const old = await core
        .readNamespacedPod({ namespace: ns, name: first.metadata?.name as string })
        .catch(() => undefined);
      return !old || old.metadata?.deletionTimestamp !== undefined;
    });
    expect(await gpuPods(ns, "job")).toEqual([]);
    const passed = await runPreflightPod(bin, getPod(bin, ns, second.metadata?.name as string));
    expect(passed.map((e) => e.exitCode)).toEqual([0, 0]);
    expect(fake.requests.filter((r) => r.headers.authorization === `Bearer ${RIGHT_KEY}`)).toHaveLength(2);

    await waitRunning(ns, "job-a0-head");
    const ready = await getJob(ns, "job");
    const readyCondition = condition(ready, "EndpointsReady");
    expect(readyCondition).toMatchObject({ status: "True", reason: "PreflightPassed" });
    expect(condition(ready, "Stalled")?.status).toBe("False");
    // No GPU pod was created before the preflight passed.
    const [head] = await gpuPods(ns, "job");
    expect(Date.parse(String(head?.metadata?.creationTimestamp))).toBeGreaterThanOrEqual(
      Date.parse(readyCondition?.lastTransitionTime as string),
    );
  }, 150_000);

  it("names the model that is not served, a refused connection and a timeout", async () => {
    const ns = await testNamespace("preflight");
    const fake = await upstream();
    const hanging = await upstream();
    hanging.script({ kind: "hang" });
    await keySecret(ns, RIGHT_KEY);
    startOperator(ns);
    await createJob(
      ns,
      "typo",
      { spec: { userSimulator: endpoint(fake.url), judge: endpoint(fake.url, { model: "gpt-4o-mimi" }) } },
      false,
    );
    await createJob(
      ns,
      "down",
      {
        spec: {
          userSimulator: endpoint(fake.url, { preflight: false }),
          judge: endpoint("http://127.0.0.1:9/v1", { timeoutSeconds: 5 }),
        },
      },
      false,
    );
    await createJob(
      ns,
      "slow",
      {
        spec: {
          userSimulator: endpoint(fake.url, { preflight: false }),
          judge: endpoint(hanging.url, { timeoutSeconds: 2 }),
        },
      },
      false,
    );
    for (const job of ["typo", "down", "slow"]) {
      await runPreflightPod(
        bin,
        await runningPreflight(ns, job).then((p) => getPod(bin, ns, p.metadata?.name as string)),
      );
    }
    const said = async (job: string) =>
      eventually(`EndpointsReady of ${job}`, async () => {
        const c = condition(await getJob(ns, job), "EndpointsReady");
        return c?.status === "False" ? c : undefined;
      });
    const typo = await said("typo");
    expect(typo.reason).toBe("ModelNotFound");
    expect(typo.message).toContain("spec.judge (gpt-4o-mimi at http://127.0.0.1:");
    expect(typo.message).toContain(
      "model gpt-4o-mimi not found: HTTP 404: The model `gpt-4o-mimi` does not exist or you do not have access to it.; the endpoint serves gpt-4o-mini",
    );
    const down = await said("down");
    expect(down.reason).toBe("ConnectionRefused");
    expect(down.message).toMatch(
      /^spec\.judge \(gpt-4o-mini at http:\/\/127\.0\.0\.1:9\/v1\): connect ECONNREFUSED 127\.0\.0\.1:9/,
    );
    const slow = await said("slow");
    expect(slow.reason).toBe("Timeout");
    expect(slow.message).toContain(`spec.judge (gpt-4o-mini at ${hanging.url}): no answer within 2 s (timeoutSeconds)`);
  }, 120_000);
});
