// What the planner sees in its tests: a job and a cache in which every child the job needs exists.
import type { V1Pod } from "@kubernetes/client-node";
import type { CollabTrainingJob } from "../../../src/api/schema.ts";
import { DEFAULT_OPERATOR_CONTEXT } from "../../../src/children/pods.ts";
import { type Observed, type Outcome, type Plan, plan } from "../../../src/operator/plan.ts";
import { renderConfigFiles } from "../../../src/verl/files.ts";

export const NOW = "2026-11-22T10:00:00Z";

export function world(job: CollabTrainingJob, pods: V1Pod[] = [], overrides: Partial<Observed> = {}): Observed {
  return {
    job,
    pods,
    secretKeys: { "llm-keys": ["OPENAI_API_KEY"] },
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
