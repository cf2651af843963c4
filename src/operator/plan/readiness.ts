// Readiness policy: what must exist before any pod is requested, because a pod without it could not start and its
// GPUs would sit idle. Referenced Secrets and keys, the volume claim the user brings, and the extra overrides only
// the operator can check. Each problem names the field it comes from; the job goes on by itself once it is fixed.

import { CONDITION } from "../../api/conditions.ts";
import type { CollabTrainingJob } from "../../api/schema.ts";
import type { ConditionInput } from "../../kube/conditions.ts";
import { checkOverrides } from "../../verl/check.ts";
import type { Observed } from "./observed.ts";

export type BlockedBy = "InvalidSpec" | "SecretNotFound" | "ClaimNotFound";

export interface Readiness {
  conditions: ConditionInput[];
  /** Why no pod may be created, the most fundamental cause first; undefined when nothing blocks. */
  blockedBy: BlockedBy | undefined;
  /** Every problem, as "field: message". */
  problems: string[];
}

export function readiness(observed: Observed): Readiness {
  const { job } = observed;
  const specProblems = checkOverrides(job.spec).map((p) => `${p.field}: ${p.message}`);
  const secretProblems = missingSecrets(observed);
  const claimProblems = missingClaim(observed);
  const conditions: ConditionInput[] = [
    secretProblems.length === 0
      ? {
          type: CONDITION.secretsReady,
          status: "True",
          reason: "SecretsFound",
          message: "every referenced Secret key exists",
        }
      : { type: CONDITION.secretsReady, status: "False", reason: "SecretNotFound", message: secretProblems.join("; ") },
  ];
  const claim = job.spec.storage.existingClaim;
  if (claim !== undefined) {
    conditions.push(
      claimProblems.length === 0
        ? { type: CONDITION.storageReady, status: "True", reason: "ClaimFound", message: `claim ${claim} exists` }
        : { type: CONDITION.storageReady, status: "False", reason: "ClaimNotFound", message: claimProblems.join("; ") },
    );
  }
  const blockedBy: BlockedBy | undefined =
    specProblems.length > 0
      ? "InvalidSpec"
      : secretProblems.length > 0
        ? "SecretNotFound"
        : claimProblems.length > 0
          ? "ClaimNotFound"
          : undefined;
  return { conditions, blockedBy, problems: [...specProblems, ...secretProblems, ...claimProblems] };
}

/** Secrets and keys the spec references that are not there, as messages naming the field, Secret and key. */
function missingSecrets(observed: Observed): string[] {
  return secretReferences(observed.job).flatMap(({ field, ref }) => {
    const keys = observed.secretKeys[ref.name];
    if (keys === undefined) return [`${field}: Secret ${ref.name} not found`];
    if (!keys.includes(ref.key)) return [`${field}: Secret ${ref.name} has no key ${ref.key}`];
    return [];
  });
}

function missingClaim(observed: Observed): string[] {
  const claim = observed.job.spec.storage.existingClaim;
  if (claim === undefined || observed.claimExists) return [];
  return [`spec.storage.existingClaim: PersistentVolumeClaim ${claim} not found`];
}

export function secretReferences(job: CollabTrainingJob): { field: string; ref: { name: string; key: string } }[] {
  const { spec } = job;
  const refs: { field: string; ref: { name: string; key: string } | undefined }[] = [
    { field: "spec.userSimulator.apiKeySecretRef", ref: spec.userSimulator.apiKeySecretRef },
    { field: "spec.judge.apiKeySecretRef", ref: spec.judge.apiKeySecretRef },
    { field: "spec.integrations.wandb.apiKeySecretRef", ref: spec.integrations.wandb?.apiKeySecretRef },
    { field: "spec.integrations.huggingFaceTokenSecretRef", ref: spec.integrations.huggingFaceTokenSecretRef },
  ];
  return refs.filter((r): r is { field: string; ref: { name: string; key: string } } => r.ref !== undefined);
}
