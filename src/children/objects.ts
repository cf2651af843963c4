// Every object a job creates over its life (attempt 0), for `collab-operator render`: the operator itself creates
// them stage by stage (src/operator/plan.ts), from the same builders.
import type { CollabTrainingJob } from "../api/schema.ts";
import { renderConfigFiles } from "../verl/files.ts";
import { jobName } from "./meta.ts";
import { type OperatorContext, preparePod, sftPod, trainingPods } from "./pods.ts";
import { configMap, rayService, tokenSecret, volumeClaim } from "./support.ts";

/** Stands in for what only exists once the job is created (its uid, the random token). */
export const UNKNOWN_UNTIL_CREATED = "<assigned-when-created>";

export function jobObjects(job: CollabTrainingJob, ctx: OperatorContext): object[] {
  const placed: CollabTrainingJob = {
    ...job,
    metadata: { namespace: "default", uid: UNKNOWN_UNTIL_CREATED, ...job.metadata },
  };
  const claim = volumeClaim(placed);
  return [
    tokenSecret(placed, UNKNOWN_UNTIL_CREATED),
    configMap(placed, renderConfigFiles(placed.spec, { jobName: jobName(placed) })),
    rayService(placed, 0),
    ...(claim ? [claim] : []),
    preparePod(placed, ctx, 0),
    ...(placed.spec.sft.enabled ? [sftPod(placed, ctx, 0)] : []),
    ...trainingPods(placed, ctx, 0),
  ];
}
