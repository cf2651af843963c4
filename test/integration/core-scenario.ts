// The core scenario an installed operator must pass: a two-node job with its judge served by a Deployment of its own
// waits for its Secret (twice, so a repeated Event is folded), prepares, trains on two pods (a native gang where the
// cluster serves it), restarts once when a worker fails (the ended attempt's PodGroup is deleted), takes a gateway
// report, succeeds (the idle worker is deleted), records its Events, is deleted by its TTL with its children, and the
// operator stops on SIGTERM releasing its Lease. It fails at once when the apiserver refuses the operator anything (a
// 403 in its log), so a missing RBAC rule shows up as soon as the code needs it, not at a timeout: without `watch`,
// say, the operator still gets by on relists, slowly.
import { randomUUID } from "node:crypto";
import type { CoreV1Event, V1Secret } from "@kubernetes/client-node";
import { childName } from "../../src/children/meta.ts";
import { TOKEN_KEY } from "../../src/children/support.ts";
import { request } from "../../src/runtime/index.ts";
import { core, kc } from "./kube.ts";
import {
  condition,
  createJob,
  createSecret,
  eventually,
  finishPod,
  getJob,
  type OperatorProcess,
  waitForPhase,
  waitRunning,
} from "./operator.ts";

export interface Scenario {
  namespace: string;
  operator: OperatorProcess;
  lease: { namespace: string; name: string };
  /** Each step's wait (default 45 s). */
  stepTimeoutMs?: number;
}

export async function coreScenario(s: Scenario): Promise<void> {
  let stop = () => {};
  const refused = new Promise<never>((_, reject) => {
    const timer = setInterval(() => {
      const line = s.operator.logs().split("\n").find(isForbidden);
      if (line) reject(new Error(`the operator was refused by the apiserver: ${line.slice(0, 600)}`));
    }, 200);
    stop = () => clearInterval(timer);
  });
  refused.catch(() => {});
  try {
    await Promise.race([steps(s), refused]);
  } finally {
    stop();
  }
}

/**
 * A refusal in the operator's log (a 403, however the failing call logs it: a request, a list, a watch), except
 * the one a cluster-wide operator meets in other tests' namespaces being deleted ("forbidden: unable to create new
 * content in namespace ... because it is being terminated"), which no rule could grant.
 */
function isForbidden(line: string): boolean {
  return /\b403\b|forbidden/i.test(line) && !/because it is being terminated/.test(line);
}

async function steps({ namespace: ns, operator, lease, stepTimeoutMs = 45_000 }: Scenario): Promise<void> {
  const name = "core";
  const wait = <T>(what: string, check: () => Promise<T | undefined | false>) => eventually(what, check, stepTimeoutMs);
  const secrets = async (status: string) =>
    wait(`SecretsReady=${status}`, async () => condition(await getJob(ns, name), "SecretsReady")?.status === status);

  await createJob(
    ns,
    name,
    {
      spec: {
        resources: { nodes: 2 },
        ttlSecondsAfterFinished: 2,
        failurePolicy: { backoffSeconds: 0 },
        // The judge served by a model server of the job's own (a Deployment and a Service).
        judge: { model: "judge", preflight: false, serve: { model: "Qwen/Qwen2.5-7B-Instruct" } },
      },
    },
    false,
  );
  await secrets("False");
  await createSecret(ns);
  await secrets("True");
  await core.deleteNamespacedSecret({ namespace: ns, name: "llm-keys" });
  await secrets("False");
  await createSecret(ns);
  await secrets("True");

  await finishPod(ns, childName.pod(name, "prepare", 0), "Succeeded");
  await waitRunning(ns, childName.pod(name, "head", 0), stepTimeoutMs);
  await finishPod(ns, childName.pod(name, "worker", 0, 1), "Failed", 1);
  const head = childName.pod(name, "head", 1);
  const worker = childName.pod(name, "worker", 1, 1);
  await wait("head Running", async () => waitRunning(ns, head, stepTimeoutMs));
  await wait("worker Running", async () => waitRunning(ns, worker, stepTimeoutMs));

  const token = await wait("token Secret", async () => {
    const secret: V1Secret = await core.readNamespacedSecret({ namespace: ns, name: childName.token(name) });
    const value = secret.data?.[TOKEN_KEY];
    return value ? Buffer.from(value, "base64").toString() : undefined;
  });
  const answer = await postReport(await operator.reportPort(), ns, name, token, head);
  if (answer.status !== 200) throw new Error(`report refused: ${answer.status} ${answer.body}`);
  await wait("status.usage from the report", async () => (await getJob(ns, name)).status?.usage?.judge?.requests === 3);

  await finishPod(ns, head, "Succeeded");
  await waitForPhase(ns, name, "Succeeded", stepTimeoutMs);
  await wait("the idle worker deleted", async () => {
    const pod = await core.readNamespacedPod({ namespace: ns, name: worker }).catch(() => undefined);
    return !pod || pod.metadata?.deletionTimestamp !== undefined;
  });

  const events = await wait("Events", async () => {
    const list = (await core.listNamespacedEvent({ namespace: ns, fieldSelector: `involvedObject.name=${name}` }))
      .items as CoreV1Event[];
    const has = (reason: string, count = 1) => list.some((e) => e.reason === reason && (e.count ?? 1) >= count);
    return has("CreatedPod") && has("TrainingSucceeded") && has("SecretNotFound", 2) ? list : undefined;
  });
  if (!events.every((e) => e.source?.component === "collab-operator")) throw new Error("an Event from elsewhere");

  // Its ttlSecondsAfterFinished runs out: the operator deletes it, and its children go with it.
  await wait("the job deleted by its TTL", async () => (await getJob(ns, name).catch(() => undefined)) === undefined);
  await wait(
    "the job's pods and its server's gone with it",
    async () => (await core.listNamespacedPod({ namespace: ns })).items.length === 0,
  );

  await operator.stop("SIGTERM");
  if (operator.child.exitCode !== 0) throw new Error(`operator exited ${operator.child.exitCode} on SIGTERM`);
  const held = await request<{ spec?: { holderIdentity?: string } }>(kc, {
    method: "GET",
    path: `/apis/coordination.k8s.io/v1/namespaces/${lease.namespace}/leases/${lease.name}`,
  });
  if (held.spec?.holderIdentity) throw new Error(`the Lease is still held by ${held.spec.holderIdentity}`);
}

/** What the head pod's judge gateway sends: three requests so far. */
export async function postReport(
  port: number,
  ns: string,
  job: string,
  token: string,
  pod: string,
  host = "127.0.0.1",
) {
  const counters = {
    requests: 3,
    promptTokens: 30,
    completionTokens: 12,
    rateLimited: 0,
    retries: 0,
    errors: 0,
    cacheHits: 0,
  };
  const res = await fetch(`http://${host}:${port}/v1/namespaces/${ns}/collabtrainingjobs/${job}/report`, {
    method: "POST",
    headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
    body: JSON.stringify({
      pod,
      role: "judge",
      startId: randomUUID(),
      usage: { judge: counters },
    }),
  });
  return { status: res.status, body: await res.text() };
}
