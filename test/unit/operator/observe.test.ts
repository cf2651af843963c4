// Observation: what the caches keep of a Secret, and how a job's world in the caches becomes what the planner reads.
import type { KubernetesObject } from "@kubernetes/client-node";
import { describe, expect, it } from "vitest";
import { type Caches, keysOnlyUnlessOurs, observe } from "../../../src/operator/observe.ts";
import type { Cache } from "../../../src/runtime/index.ts";
import { job, NOW } from "./plan/world.ts";

describe("the Secrets the operator caches", () => {
  it("keep the key names of a user's Secret and none of its values", () => {
    const cached = keysOnlyUnlessOurs({
      apiVersion: "v1",
      kind: "Secret",
      metadata: { name: "llm-keys", namespace: "ml" },
      data: { OPENAI_API_KEY: Buffer.from("sk-real-key").toString("base64") },
    } as never);
    expect(cached).toMatchObject({ metadata: { name: "llm-keys" }, data: { OPENAI_API_KEY: "" } });
    expect(JSON.stringify(cached)).not.toContain(Buffer.from("sk-real-key").toString("base64"));
  });

  it("keep the value of the operator's own token Secret", () => {
    const token = {
      apiVersion: "v1",
      kind: "Secret",
      metadata: { name: "job-token", labels: { "app.kubernetes.io/managed-by": "collab-operator" } },
      data: { token: "dG9r" },
    };
    expect(keysOnlyUnlessOurs(token as never)).toEqual(token);
  });
});

/** A cache of `objects`, as an informer's reads answer (a `key=value` selector; no index needed here). */
function cache(objects: KubernetesObject[]): Cache {
  const matches = (o: KubernetesObject, selector?: string) =>
    (selector ?? "")
      .split(",")
      .filter(Boolean)
      .every((term) => {
        const [k, v] = term.split("=");
        const value = o.metadata?.labels?.[k as string];
        return v === undefined ? value !== undefined : value === v;
      });
  return {
    get: (ns, name) => objects.find((o) => o.metadata?.namespace === ns && o.metadata?.name === name),
    list: (ns, selector) =>
      objects.filter((o) => (ns === undefined || o.metadata?.namespace === ns) && matches(o, selector)),
    byIndex: () => [],
    hasSynced: () => true,
  };
}

const meta = (name: string, more: Record<string, unknown> = {}) => ({ name, namespace: "ns", ...more });
const ofJob = { "collabllm.io/job-name": "job" };

function caches(more: Partial<Record<keyof Caches, KubernetesObject[]>> = {}): Caches {
  const kinds = [
    "jobs",
    "pods",
    "configMaps",
    "services",
    "secrets",
    "volumeClaims",
    "podEvents",
    "podGroups",
    "kueueWorkloads",
    "deployments",
  ] as const;
  return Object.fromEntries(kinds.map((k) => [k, cache(more[k] ?? [])])) as unknown as Caches;
}

describe("observe", () => {
  const served = { kueue: true, podGroups: true };
  const key = { namespace: "ns", name: "job" };

  it("reduces the referenced Secrets to their key names and versions, and says which are missing", () => {
    const j = job({ integrations: { huggingFaceTokenSecretRef: { name: "hf", key: "HF_TOKEN" } } });
    const seen = observe(
      caches({
        secrets: [
          {
            apiVersion: "v1",
            kind: "Secret",
            metadata: meta("llm-keys", { uid: "s-1", resourceVersion: "7" }),
            data: { OPENAI_API_KEY: "" },
            stringData: { OTHER: "x" },
          } as KubernetesObject,
        ],
      }),
      key,
      j,
      NOW,
      served,
    );
    expect(seen.secretKeys).toEqual({ "llm-keys": ["OPENAI_API_KEY", "OTHER"], hf: undefined });
    expect(seen.secretVersions).toEqual({ "llm-keys": "s-1:7", hf: undefined });
    expect(JSON.stringify(seen)).not.toContain('"x"');
  });

  it("keeps the job's pods, the Events and Kueue Workloads about them, and its PodGroups by attempt", () => {
    const pod = { metadata: meta("job-a0-head", { uid: "p-1", labels: ofJob }) };
    const other = { metadata: meta("other-a0-head", { uid: "p-2", labels: { "collabllm.io/job-name": "other" } }) };
    const event = (uid: string) =>
      ({
        metadata: meta(`e-${uid}`),
        involvedObject: { kind: "Pod", name: "job-a0-head", uid },
        reason: "TriggeredScaleUp",
        message: "scale-up",
        source: { component: "cluster-autoscaler" },
        lastTimestamp: "2026-11-22T09:59:00Z",
      }) as KubernetesObject;
    const workload = (name: string, owner: string) =>
      ({
        metadata: meta(name, { ownerReferences: [{ kind: "Pod", uid: owner }] }),
        status: { conditions: [{ type: "QuotaReserved", status: "False", reason: "Pending", message: "m" }] },
      }) as KubernetesObject;
    const seen = observe(
      caches({
        pods: [pod, other],
        // The same pod name, an earlier pod's uid: an Event lives an hour, and the job may have been made again.
        podEvents: [event("p-1"), event("p-old")],
        kueueWorkloads: [workload("w-1", "p-1"), workload("w-2", "p-2")],
        podGroups: [
          { metadata: meta("job-a0-u1", { labels: { ...ofJob, "collabllm.io/attempt": "0" } }) },
          {
            metadata: meta("job-a1-u1", {
              labels: { ...ofJob, "collabllm.io/attempt": "1" },
              deletionTimestamp: "2026-11-22T09:00:00Z",
            }),
          },
        ],
      }),
      key,
      job(),
      NOW,
      served,
    );
    expect(seen.pods.map((p) => p.metadata?.name)).toEqual(["job-a0-head"]);
    expect(seen.podEvents).toEqual([
      {
        pod: "job-a0-head",
        reason: "TriggeredScaleUp",
        message: "scale-up",
        component: "cluster-autoscaler",
        time: "2026-11-22T09:59:00Z",
      },
    ]);
    expect(seen.kueueWorkloads).toEqual([
      {
        name: "w-1",
        podUids: ["p-1"],
        conditions: [{ type: "QuotaReserved", status: "False", reason: "Pending", message: "m" }],
      },
    ]);
    expect(seen.podGroups).toEqual([
      { name: "job-a0-u1", attempt: "0", deleting: false },
      { name: "job-a1-u1", attempt: "1", deleting: true },
    ]);
    expect(seen).toMatchObject({ served, now: NOW });
  });

  it("sees the job's server objects with the hash of what was applied, and not other Deployments", () => {
    const server = (name: string, hash?: string) => ({
      metadata: meta(name, {
        labels: { ...ofJob, "collabllm.io/server": "judge" },
        ...(hash ? { annotations: { "collabllm.io/spec-hash": hash } } : {}),
      }),
    });
    const seen = observe(
      caches({
        deployments: [server("job-judge-server", "d1"), { metadata: meta("unrelated", { labels: ofJob }) }],
        services: [server("job-judge-server", "s1"), { metadata: meta("job-ray", { labels: ofJob }) }],
      }),
      key,
      job(),
      NOW,
      served,
    );
    expect(seen.servers).toEqual([
      { kind: "Deployment", name: "job-judge-server", specHash: "d1" },
      { kind: "Service", name: "job-judge-server", specHash: "s1" },
    ]);
  });

  it("says whether the children exist: the ConfigMap's data, the Service's selector, the token, the claim", () => {
    const none = observe(caches(), key, job(), NOW, served);
    expect(none).toMatchObject({
      configMapData: undefined,
      serviceSelector: undefined,
      tokenSecretExists: false,
      claimExists: false,
    });
    const all = observe(
      caches({
        configMaps: [{ metadata: meta("job-config"), data: { "a.sh": "x" } } as KubernetesObject],
        services: [{ metadata: meta("job-ray"), spec: {} } as KubernetesObject],
        secrets: [{ metadata: meta("job-token") }],
        volumeClaims: [{ metadata: meta("job-data") }, { metadata: meta("brought") }],
      }),
      key,
      job(),
      NOW,
      served,
    );
    expect(all).toMatchObject({
      configMapData: { "a.sh": "x" },
      serviceSelector: {},
      tokenSecretExists: true,
      claimExists: true,
    });
    const brought = job({ storage: { existingClaim: "missing" } });
    expect(
      observe(caches({ volumeClaims: [{ metadata: meta("job-data") }] }), key, brought, NOW, served).claimExists,
    ).toBe(false);
  });
});
