// Helpers of the tests on the real node (test/cluster/realnode.ts): pods meant for it, their logs and ends, the
// operator installed by its chart from the image the harness built, and the provider stand-in steered over HTTP.
import type { V1Pod } from "@kubernetes/client-node";
import { expect } from "vitest";
import { REAL_NODE_LABEL, REAL_NODE_TAINT } from "../cluster/realnode.ts";
import { core } from "./kube.ts";
import { eventually } from "./operator.ts";

/** What lets a pod land on the real node and nowhere else. */
export const ON_REAL_NODE = {
  nodeSelector: { [REAL_NODE_LABEL]: "true" },
  tolerations: [{ key: REAL_NODE_TAINT.key, operator: "Exists", effect: REAL_NODE_TAINT.effect }],
};

/** A one-container pod on the real node that runs `command` in `image` and ends (restartPolicy Never). */
export async function runPod(
  namespace: string,
  name: string,
  image: string,
  command: string[],
  extra: { env?: { name: string; value: string }[]; serviceAccountName?: string; automount?: boolean } = {},
): Promise<void> {
  await core.createNamespacedPod({
    namespace,
    body: {
      metadata: { name },
      spec: {
        ...ON_REAL_NODE,
        restartPolicy: "Never",
        ...(extra.serviceAccountName ? { serviceAccountName: extra.serviceAccountName } : {}),
        automountServiceAccountToken: extra.automount ?? false,
        containers: [{ name: "main", image, imagePullPolicy: "Never", command, env: extra.env ?? [] }],
      },
    },
  });
}

/** Waits for the pod's end; returns its phase and its container's exit code and log. */
export async function podResult(
  namespace: string,
  name: string,
  timeoutMs = 120_000,
): Promise<{ phase: string; exitCode?: number; log: string }> {
  const pod = await eventually(
    `pod ${name} ended`,
    async () => {
      const p = await core.readNamespacedPod({ namespace, name });
      return p.status?.phase === "Succeeded" || p.status?.phase === "Failed" ? p : undefined;
    },
    timeoutMs,
  );
  const log = await core.readNamespacedPodLog({ namespace, name }).catch((e) => `(no log: ${String(e)})`);
  return {
    phase: pod.status!.phase!,
    exitCode: pod.status?.containerStatuses?.[0]?.state?.terminated?.exitCode,
    log: String(log),
  };
}

/** Runs a pod to its end and expects exit 0; returns its log. */
export async function runToEnd(namespace: string, name: string, image: string, command: string[]): Promise<string> {
  await runPod(namespace, name, image, command);
  const result = await podResult(namespace, name);
  expect(result, result.log).toMatchObject({ phase: "Succeeded", exitCode: 0 });
  return result.log;
}

export function containerStatus(pod: V1Pod, name: string) {
  return [...(pod.status?.initContainerStatuses ?? []), ...(pod.status?.containerStatuses ?? [])].find(
    (s) => s.name === name,
  );
}
