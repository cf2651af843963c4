// Every object a job creates over its life (attempt 0), for `collab-operator render`: the operator itself creates
// them stage by stage (src/operator/plan/plan.ts), from the same builders.
import type { CollabTrainingJob } from "../api/schema.ts";
import { renderConfigFiles } from "../verl/files.ts";
import { gangMechanism, stageGang } from "./gang.ts";
import { jobName } from "./meta.ts";
import { type OperatorContext, preparePod, sftPod, trainingPods } from "./pods.ts";
import { checkedEndpoints, preflightPod } from "./preflight.ts";
import { deploymentURL, jobServers, serverDeployment, serverService, withServedEndpoints } from "./serving.ts";
import { configMap, rayService, tokenSecret, volumeClaim } from "./support.ts";

/** Stands in for what only exists once the job is created (its uid, the random token). */
export const UNKNOWN_UNTIL_CREATED = "<assigned-when-created>";

/**
 * The objects, on a cluster that serves both Kueue and the native gang API (Kubernetes 1.37 with GenericWorkload):
 * where only one or neither is served, the operator decides from discovery (docs/operator.md, "Scheduling").
 */
export function jobObjects(job: CollabTrainingJob, ctx: OperatorContext): object[] {
  const placed: CollabTrainingJob = {
    ...job,
    metadata: { namespace: "default", uid: UNKNOWN_UNTIL_CREATED, ...job.metadata },
  };
  const claim = volumeClaim(placed);
  // The preflight pod's name hashes its Secret's uid and resourceVersion too, which only the cluster knows.
  const secretVersions = Object.fromEntries(
    checkedEndpoints(placed.spec).flatMap(({ endpoint }) =>
      endpoint.apiKeySecretRef ? [[endpoint.apiKeySecretRef.name, UNKNOWN_UNTIL_CREATED]] : [],
    ),
  );
  // A served role's gateways call its server's Service.
  const servers = jobServers(placed);
  const urls = Object.fromEntries(
    servers.flatMap((server) => server.roles.map((role) => [role, deploymentURL(placed, server)])),
  );
  const served = withServedEndpoints(placed, urls);
  const preflight = preflightPod(served, ctx, secretVersions);
  const mechanism = gangMechanism(placed.spec.scheduling, { kueue: true, podGroups: true });
  const training = stageGang(placed, 0, trainingPods(served, ctx, 0), mechanism);
  return [
    tokenSecret(placed, UNKNOWN_UNTIL_CREATED),
    configMap(placed, renderConfigFiles(placed.spec, { jobName: jobName(placed) })),
    rayService(placed, 0),
    ...(claim ? [claim] : []),
    ...servers.flatMap((server) => [serverService(placed, server), serverDeployment(placed, server, true)]),
    preparePod(placed, ctx, 0),
    ...(preflight ? [preflight] : []),
    ...(placed.spec.sft.enabled ? [sftPod(placed, ctx, 0)] : []),
    ...(training.podGroup ? [training.podGroup] : []),
    ...training.pods,
  ];
}
