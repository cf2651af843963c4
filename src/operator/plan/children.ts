// Children policy: the objects the current attempt needs, each applied only when missing or different from what the
// cache shows, so an idle job causes no writes. The pods come last so what they mount exists first; they are
// requested only when nothing blocks them, and never under a name another job's terminating pod still holds. A native
// PodGroup comes just before the pods that name it.

import { childName, jobName } from "../../children/meta.ts";
import type { DesiredPod, OperatorContext } from "../../children/pods.ts";
import { configMap, rayService, volumeClaim } from "../../children/support.ts";
import { sameData } from "../../kube/json.ts";
import { isFinished } from "../../kube/pods.ts";
import { renderConfigFiles } from "../../verl/files.ts";
import { type Observed, type PlannedEvent, type PodView, podName } from "./observed.ts";

export interface ChildApply {
  kind: string;
  name: string;
  object: object;
}

export interface MissingChildren {
  /** Create the internal token Secret (the shell makes the random value). */
  createTokenSecret: boolean;
  apply: ChildApply[];
  events: PlannedEvent[];
}

export function missingChildren(input: {
  observed: Observed;
  ctx: OperatorContext;
  attempt: number;
  pods: PodView;
  /** The pods the current stage needs; only those missing are applied. Empty when pods may not be created. */
  desiredPods: readonly DesiredPod[];
  /** The native PodGroup those pods belong to, made before them (a pod naming a missing one waits silently). */
  podGroup?: { metadata: { name: string } };
}): MissingChildren {
  const { observed, attempt, pods, desiredPods, podGroup } = input;
  const { job } = observed;
  const name = jobName(job);
  const missing: MissingChildren = { createTokenSecret: false, apply: [], events: [] };
  if (!observed.tokenSecretExists) {
    missing.createTokenSecret = true;
    // A new token cannot be the old one: pods already running keep the old value and their reports will be refused.
    const running = pods.ofAttempt.filter((p) => !isFinished(p)).map(podName);
    if (running.length > 0) {
      missing.events.push({
        type: "Warning",
        reason: "TokenReplaced",
        message: `Secret ${childName.token(name)} was deleted and is made again with a new token; the gateways of ${running.join(", ")} keep the old one, so their usage and progress reports are refused until those pods restart`,
      });
    }
  }
  const files = renderConfigFiles(job.spec, { jobName: name });
  if (!sameData(observed.configMapData, files)) {
    missing.apply.push({ kind: "ConfigMap", name: childName.config(name), object: configMap(job, files) });
  }
  const service = rayService(job, attempt);
  if (!sameData(observed.serviceSelector, service.spec.selector)) {
    missing.apply.push({ kind: "Service", name: service.metadata.name, object: service });
  }
  const claim = volumeClaim(job);
  if (claim && !observed.claimExists) {
    missing.apply.push({ kind: "PersistentVolumeClaim", name: claim.metadata.name, object: claim });
  }
  const absent = desiredPods.filter((p) => !pods.byName.has(p.metadata.name) && !pods.taken.has(p.metadata.name));
  if (podGroup && desiredPods.length > 0 && !observed.podGroups.some((g) => g.name === podGroup.metadata.name)) {
    missing.apply.push({ kind: "PodGroup", name: podGroup.metadata.name, object: podGroup });
  }
  for (const pod of absent) missing.apply.push({ kind: "Pod", name: pod.metadata.name, object: pod });
  return missing;
}
