// What the planner sees in its tests: a job and a cache in which every child the job needs exists, its endpoints'
// preflight included (it passed), unless the test brings its own preflight pod.
import type { V1Pod } from "@kubernetes/client-node";
import type { CollabTrainingJob, SpecInput, Status } from "../../../src/api/schema.ts";
import { validateJob } from "../../../src/api/validate.ts";
import { LABEL } from "../../../src/children/meta.ts";
import { DEFAULT_OPERATOR_CONTEXT } from "../../../src/children/pods.ts";
import { checkedEndpoints, PREFLIGHT_ROLE, preflightPod } from "../../../src/children/preflight.ts";
import { type Observed, type Outcome, type Plan, plan } from "../../../src/operator/plan.ts";
import { renderConfigFiles } from "../../../src/verl/files.ts";
import { validJob } from "../../fixtures/invalid-jobs.ts";

export const NOW = "2026-11-22T10:00:00Z";

/** The fixtures' valid job named "job" (uid u-1, generation 1) with `spec` merged in, as admission defaults it. */
export function testJob(spec: Partial<SpecInput> = {}, status?: Status): CollabTrainingJob {
  const base = validJob("job");
  const result = validateJob({
    ...base,
    metadata: { name: "job", namespace: "ns", uid: "u-1", generation: 1 },
    spec: { ...base.spec, ...spec },
  });
  if (!result.ok) throw new Error(JSON.stringify(result.errors));
  return { ...result.job, ...(status ? { status } : {}) };
}

/** The Secret the test jobs reference, as the cache shows its metadata. */
export const SECRET_VERSIONS: Record<string, string | undefined> = { "llm-keys": "secret-uid-1:100" };

export const isPreflight = (p: V1Pod) => p.metadata?.labels?.[LABEL.role] === PREFLIGHT_ROLE;

export function world(job: CollabTrainingJob, pods: V1Pod[] = [], overrides: Partial<Observed> = {}): Observed {
  const secretVersions = overrides.secretVersions ?? SECRET_VERSIONS;
  return {
    job,
    pods: pods.some(isPreflight) ? pods : [...pods, ...passedPreflight(job, secretVersions)],
    secretKeys: { "llm-keys": ["OPENAI_API_KEY"] },
    secretVersions,
    configMapData: renderConfigFiles(job.spec, { jobName: "job" }),
    serviceSelector: {
      "collabllm.io/job-name": "job",
      "collabllm.io/role": "head",
      "collabllm.io/attempt": String(job.status?.attempt ?? 0),
    },
    tokenSecretExists: true,
    claimExists: true,
    podEvents: [],
    now: NOW,
    ...overrides,
  };
}

export function planWorld(
  job: CollabTrainingJob,
  pods: V1Pod[] = [],
  overrides: Partial<Observed> = {},
  outcome: Outcome = {},
): Plan {
  return plan(world(job, pods, overrides), DEFAULT_OPERATOR_CONTEXT, outcome);
}

/** The job's preflight pod as the kubelet leaves it when every checked endpoint answered (none when none is checked). */
export function passedPreflight(job: CollabTrainingJob, secretVersions = SECRET_VERSIONS): V1Pod[] {
  const pod = preflightPod(job, DEFAULT_OPERATOR_CONTEXT, secretVersions);
  if (!pod) return [];
  const verdicts = checkedEndpoints(job.spec).map(({ role, endpoint }) => ({
    name: role,
    verdict: {
      endpoint: role,
      ready: true,
      reason: "Answered",
      status: 200,
      message: "answered a completion of max_tokens 1",
      model: endpoint.model,
      baseURL: endpoint.baseURL,
      seconds: 0.3,
    },
  }));
  return [
    {
      ...(pod as V1Pod),
      spec: { ...(pod.spec as V1Pod["spec"]), nodeName: "cpu-node" } as V1Pod["spec"],
      status: {
        phase: "Succeeded",
        containerStatuses: verdicts.map(({ name, verdict }) => ({
          name,
          image: DEFAULT_OPERATOR_CONTEXT.operatorImage,
          imageID: "",
          ready: false,
          restartCount: 0,
          state: { terminated: { exitCode: 0, reason: "Completed", message: JSON.stringify(verdict) } },
        })),
      },
    },
  ];
}
