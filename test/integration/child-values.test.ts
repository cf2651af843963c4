// Values written as users write them reach the child objects in a form the real apiserver takes: a job applied with
// the real kubectl from YAML (quantities as integers, YAML 1.1 booleans, a commented-out block, tolerations in every
// form, a priority class and a queue) becomes a volume claim and pods the apiserver creates.
import { execFile } from "node:child_process";
import { join } from "node:path";
import { promisify } from "node:util";
import { SchedulingV1Api } from "@kubernetes/client-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { binaries, KUBECONFIG, up } from "../cluster/cluster.ts";
import { core, kc, testNamespace } from "./kube.ts";
import { eventually, finishPod, startOperator, waitRunning } from "./operator.ts";

const run = promisify(execFile);
const scheduling = kc.makeApiClient(SchedulingV1Api);
const PRIORITY_CLASS = "collab-test.high-priority";

const MANIFEST = `apiVersion: collabllm.io/v1alpha1
kind: CollabTrainingJob
metadata:
  name: values
spec:
  model: Qwen/Qwen2.5-7B-Instruct
  dataset: {source: collabllm/collabllm-multiturn-math-hard, taskDescription: solving math problems}
  sft:
    enabled: yes
  rl:
  #  batchSize: 32
  resources:
    gpusPerNode: 8
    cpu: 96
    memory: 1649267441664
    sharedMemory: 0x1000000000
  userSimulator: {model: gpt-4o-mini, preflight: false}   # KWOK runs no container: nothing would answer it
  judge: {model: gpt-4o-mini, preflight: no}
  reward: {metrics: {accuracy: 1}}
  budget: {maxTokens: 2100000000000}
  storage: {size: 2199023255552}
  scheduling:
    priorityClassName: ${PRIORITY_CLASS}
    queueName: team-a.gpu
    tolerations:
      - {operator: Exists, effect: NoSchedule}
      - {key: example.com/dedicated, value: ml}
      - {key: node.kubernetes.io/unreachable, operator: Exists, effect: NoExecute, tolerationSeconds: 600}
`;

describe("child objects of a job written as users write it", () => {
  let ns: string;

  beforeAll(async () => {
    // A queueName asks for Kueue: a cluster without it would hold every pod back (SchedulingNotServed). The test's
    // namespace is not one Kueue manages, so the pods run outside any quota (Queued=False, NotManaged).
    await up({ kueue: true });
    await scheduling
      .createPriorityClass({ body: { metadata: { name: PRIORITY_CLASS }, value: 1000 } })
      .catch((e: { code?: number }) => {
        if (e.code !== 409) throw e;
      });
    ns = await testNamespace("values");
    const apply = run(join(binaries(), "kubectl"), ["--kubeconfig", KUBECONFIG, "apply", "-n", ns, "-f", "-"]);
    apply.child.stdin?.end(MANIFEST);
    await apply;
  });

  afterAll(async () => {
    await scheduling.deletePriorityClass({ name: PRIORITY_CLASS }).catch(() => undefined);
  });

  it("are created by the apiserver with the values as the core APIs spell them", async () => {
    startOperator(ns);
    const claim = await eventually("the volume claim", () =>
      core.readNamespacedPersistentVolumeClaim({ namespace: ns, name: "values-data" }),
    );
    expect(claim.spec?.resources?.requests?.storage).toBe("2199023255552");
    const prepare = await waitRunning(ns, "values-a0-prepare");
    expect(prepare.spec?.priorityClassName).toBe(PRIORITY_CLASS);
    expect(prepare.spec?.priority).toBe(1000);
    expect(prepare.metadata?.labels?.["kueue.x-k8s.io/queue-name"]).toBe("team-a.gpu");
    expect(prepare.spec?.tolerations).toContainEqual({
      key: "node.kubernetes.io/unreachable",
      operator: "Exists",
      effect: "NoExecute",
      tolerationSeconds: 600,
    });
    await finishPod(ns, "values-a0-prepare", "Succeeded");
    // SFT: one GPU pod with the job's resources.
    const sft = await eventually("the SFT pod", () => core.readNamespacedPod({ namespace: ns, name: "values-a0-sft" }));
    const trainer = sft.spec?.containers.find((c) => c.name === "trainer");
    expect(trainer?.resources?.limits).toMatchObject({ cpu: "96", memory: "1649267441664", "nvidia.com/gpu": "8" });
    expect(sft.spec?.volumes?.find((v) => v.name === "shm")?.emptyDir?.sizeLimit).toBe("68719476736");
  });
});
