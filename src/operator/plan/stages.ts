// Stage policy: Preparing, then FineTuning when sft.enabled, then Training. A stage is done when its completion pod
// (the prepare pod, the SFT pod, the Ray head running veRL's driver) of the current attempt succeeded; that is
// recorded as a condition, so a finished stage never runs again, even after its pods are gone or a restart.

import type { V1Pod } from "@kubernetes/client-node";
import { CONDITION } from "../../api/conditions.ts";
import type { CollabTrainingJob, Condition } from "../../api/schema.ts";
import { childName, jobName, type PodRole } from "../../children/meta.ts";
import {
  type DesiredPod,
  type EnvVar,
  type OperatorContext,
  preparePod,
  sftPod,
  trainingPods,
} from "../../children/pods.ts";
import { type ConditionInput, isTrue } from "../../kube/conditions.ts";
import { podPhase } from "../../kube/pods.ts";
import type { PodView } from "./observed.ts";

export type JobStage = "Preparing" | "FineTuning" | "Training";

/** Stages whose pods take GPUs: they wait for the endpoint preflight and the served roles' servers. */
export const GPU_STAGES: ReadonlySet<JobStage> = new Set(["FineTuning", "Training"]);

export function currentStage(job: CollabTrainingJob, conditions: readonly Condition[]): JobStage {
  if (!isTrue(conditions, CONDITION.datasetReady)) return "Preparing";
  if (job.spec.sft.enabled && !isTrue(conditions, CONDITION.fineTuned)) return "FineTuning";
  return "Training";
}

const COMPLETION_ROLE: Record<JobStage, PodRole> = { Preparing: "prepare", FineTuning: "sft", Training: "head" };

export function stagePods(
  job: CollabTrainingJob,
  ctx: OperatorContext,
  stage: JobStage,
  attempt: number,
  trainerEnv: readonly EnvVar[] = [],
): DesiredPod[] {
  if (stage === "Preparing") return [preparePod(job, ctx, attempt)];
  if (stage === "FineTuning") return [sftPod(job, ctx, attempt)];
  return trainingPods(job, ctx, attempt, trainerEnv);
}

export interface StageProgress {
  stage: JobStage;
  /** Conditions recording the stages whose completion pod succeeded in this reconcile. */
  completed: ConditionInput[];
  /** True once the training stage's head succeeded: the job is done. */
  succeeded: boolean;
}

/**
 * Walks forward over every stage whose completion pod of `attempt` succeeded; a training head that succeeded counts
 * only if `trainedAll` says it trained every step (completion.ts).
 */
export function advanceStages(
  job: CollabTrainingJob,
  conditions: readonly Condition[],
  pods: PodView,
  attempt: number,
  trainedAll: (head: V1Pod) => boolean = () => true,
): StageProgress {
  const completed: ConditionInput[] = [];
  const done = (stage: JobStage) => {
    const name = childName.pod(jobName(job), COMPLETION_ROLE[stage], attempt);
    const pod = pods.byName.get(name);
    if (!pod || podPhase(pod) !== "Succeeded") return undefined;
    return stage !== "Training" || trainedAll(pod) ? name : undefined;
  };
  let known: readonly Condition[] = conditions;
  for (;;) {
    const stage = currentStage(job, known);
    const pod = done(stage);
    if (!pod) return { stage, completed, succeeded: false };
    const record = STAGE_DONE[stage](pod);
    completed.push(record);
    if (stage === "Training") return { stage, completed, succeeded: true };
    known = [...known, { ...record, lastTransitionTime: "" }];
  }
}

const STAGE_DONE: Record<JobStage, (pod: string) => ConditionInput> = {
  Preparing: (pod) => ({
    type: CONDITION.datasetReady,
    status: "True",
    reason: "Prepared",
    message: `pod ${pod} prepared the dataset`,
  }),
  FineTuning: (pod) => ({
    type: CONDITION.fineTuned,
    status: "True",
    reason: "FineTuned",
    message: `pod ${pod} fine-tuned the model`,
  }),
  Training: (pod) => ({
    type: CONDITION.succeeded,
    status: "True",
    reason: "TrainingSucceeded",
    message: `pod ${pod} finished training`,
  }),
};
