// Rejection policy: a child the apiserver refuses becomes a condition naming the child, the answer and the spec field
// it came from, retried after as long as the refusal has lasted (1 s to a minute).
import { describe, expect, it } from "vitest";
import {
  CHILDREN_ACCEPTED,
  isRejection,
  type Rejection,
  rejectionCondition,
  retryAfterMs,
  specFieldOf,
} from "../../../../src/operator/plan/rejection.ts";
import { at, NOW } from "./world.ts";

const refused = (kind: string, fields: string[], message = "refused", code = 422): Rejection => ({
  kind,
  name: kind === "Pod" ? "job-a0-head" : "job-data",
  code,
  message,
  fields,
});

describe("isRejection", () => {
  it.each<{ code: number | undefined; rejection: boolean }>([
    { code: undefined, rejection: false },
    { code: 200, rejection: false },
    { code: 399, rejection: false },
    { code: 400, rejection: true },
    { code: 403, rejection: true },
    { code: 404, rejection: true },
    { code: 408, rejection: false },
    { code: 409, rejection: false },
    { code: 413, rejection: true },
    { code: 422, rejection: true },
    { code: 429, rejection: false },
    { code: 499, rejection: true },
    { code: 500, rejection: false },
    { code: 503, rejection: false },
  ])("$code: $rejection", ({ code, rejection }) => {
    expect(isRejection(code)).toBe(rejection);
  });
});

describe("specFieldOf", () => {
  it.each<{ name: string; rejection: Rejection; field: string | undefined }>([
    {
      name: "a PriorityClass that does not exist (403, no field, only the message says)",
      rejection: refused(
        "Pod",
        [],
        'pods "job-a0-head" is forbidden: no PriorityClass with name gpu-high was found',
        403,
      ),
      field: "spec.scheduling.priorityClassName",
    },
    {
      name: "the native PodGroup, made before the pods, meets the missing PriorityClass first",
      rejection: refused(
        "PodGroup",
        [],
        'podgroups.scheduling.k8s.io "job-a0-4ffd10" is forbidden: no PriorityClass with name gpu-high was found',
        403,
      ),
      field: "spec.scheduling.priorityClassName",
    },
    {
      name: "an invalid priorityClassName",
      rejection: refused("Pod", ["spec.priorityClassName"]),
      field: "spec.scheduling.priorityClassName",
    },
    {
      name: "a toleration",
      rejection: refused("Pod", ["spec.tolerations[1].operator"]),
      field: "spec.scheduling.tolerations",
    },
    {
      name: "the GPU product label in the node selector",
      rejection: refused(
        "Pod",
        ["spec.nodeSelector"],
        'Invalid value: "nvidia.com/gpu.product": name part must be ...',
      ),
      field: "spec.resources.gpuProduct",
    },
    {
      name: "the GPU product label named in the field",
      rejection: refused("Pod", ["spec.nodeSelector[nvidia.com/gpu.product]"]),
      field: "spec.resources.gpuProduct",
    },
    {
      name: "another node selector",
      rejection: refused("Pod", ["spec.nodeSelector"], 'Invalid value: "zone a"'),
      field: "spec.scheduling.nodeSelector",
    },
    {
      name: "a label value: the queue name is the one the user gives",
      rejection: refused("Pod", ["metadata.labels"]),
      field: "spec.scheduling.queueName",
    },
    {
      name: "the trainer's image",
      rejection: refused("Pod", ["spec.containers[0].image"]),
      field: "spec.runtime.image",
    },
    {
      name: "a sidecar's image is the operator's own (--operator-image), not spec.runtime.image",
      rejection: refused("Pod", ["spec.initContainers[1].image"]),
      field: undefined,
    },
    {
      name: "an exhausted ResourceQuota (403, no field)",
      rejection: refused(
        "Pod",
        [],
        'pods "job-a0-head" is forbidden: exceeded quota: gpus, requested: requests.nvidia.com/gpu=8, used: requests.nvidia.com/gpu=0, limited: requests.nvidia.com/gpu=4',
        403,
      ),
      field: "spec.resources",
    },
    {
      name: "a LimitRange",
      rejection: refused(
        "Pod",
        [],
        'pods "job-a0-head" is forbidden: maximum cpu usage per Container is 4, but limit is 16',
        403,
      ),
      field: "spec.resources",
    },
    {
      name: "an invalid resource field",
      rejection: refused("Pod", ["spec.containers[0].resources.requests"]),
      field: "spec.resources",
    },
    {
      name: "a claim's storage class",
      rejection: refused("PersistentVolumeClaim", ["spec.storageClassName"]),
      field: "spec.storage.storageClassName",
    },
    {
      name: "a claim's storage quota",
      rejection: refused("PersistentVolumeClaim", [], "exceeded quota: disks, requested: requests.storage=1Ti", 403),
      field: "spec.storage.size",
    },
    {
      name: "a pod field is not looked up for a claim",
      rejection: refused("PersistentVolumeClaim", ["spec.tolerations[0]"]),
      field: undefined,
    },
    {
      name: "a claim's field is not looked up for a pod",
      rejection: refused("Pod", ["spec.storageClassName"]),
      field: undefined,
    },
    {
      name: "one matching field of several is enough",
      rejection: refused("Pod", ["spec.volumes[0].name", "spec.tolerations[0].key"]),
      field: "spec.scheduling.tolerations",
    },
    {
      name: "what the operator adds itself (a volume)",
      rejection: refused("Pod", ["spec.volumes[2].name"]),
      field: undefined,
    },
    {
      name: "a ConfigMap too large",
      rejection: refused("ConfigMap", [], "Too long: must have at most 1048576 bytes"),
      field: undefined,
    },
    {
      name: "the token Secret",
      rejection: refused("Secret", [], "exceeded quota: count/secrets", 403),
      field: undefined,
    },
  ])("$name", ({ rejection, field }) => {
    expect(specFieldOf(rejection)).toBe(field);
  });
});

describe("rejectionCondition", () => {
  it.each<{ name: string; rejection: Rejection; reason: string; message: string }>([
    {
      name: "403 with a spec field",
      rejection: refused("Pod", [], "no PriorityClass with name gpu-high was found", 403),
      reason: "ChildForbidden",
      message:
        "Pod job-a0-head was refused by the apiserver (403): no PriorityClass with name gpu-high was found; it comes from spec.scheduling.priorityClassName",
    },
    {
      name: "422 with a spec field",
      rejection: refused("Pod", ["spec.tolerations[0].effect"], 'Unsupported value: "NoSchedul"', 422),
      reason: "ChildInvalid",
      message:
        'Pod job-a0-head was refused by the apiserver (422): Unsupported value: "NoSchedul"; it comes from spec.scheduling.tolerations',
    },
    {
      name: "the operator's own permissions",
      rejection: refused(
        "Pod",
        [],
        'pods is forbidden: User "system:serviceaccount:collab-system:collab-operator" cannot create resource "pods"',
        403,
      ),
      reason: "ChildForbidden",
      message:
        'Pod job-a0-head was refused by the apiserver (403): pods is forbidden: User "system:serviceaccount:collab-system:collab-operator" cannot create resource "pods"; the operator\'s own permissions (RBAC) do not allow it',
    },
    {
      name: "another code, no known origin",
      rejection: refused("ConfigMap", [], 'namespaces "ns" not found', 404),
      reason: "ChildRejected",
      message: 'ConfigMap job-data was refused by the apiserver (404): namespaces "ns" not found',
    },
  ])("$name", ({ rejection, reason, message }) => {
    expect(rejectionCondition(rejection)).toEqual({ type: "ChildrenCreated", status: "False", reason, message });
  });

  it("turns True again once every child is accepted", () => {
    expect(CHILDREN_ACCEPTED).toEqual({
      type: "ChildrenCreated",
      status: "True",
      reason: "Created",
      message: "every child was accepted",
    });
  });
});

describe("retryAfterMs", () => {
  it.each<{ name: string; since: string; ms: number }>([
    { name: "refused just now: a second", since: NOW, ms: 1000 },
    { name: "refused a second ago: a second", since: at(-1), ms: 1000 },
    { name: "2 s: 2 s (the wait doubles the refusal's age)", since: at(-2), ms: 2000 },
    { name: "8 s: 8 s", since: at(-8), ms: 8000 },
    { name: "59 s: 59 s", since: at(-59), ms: 59_000 },
    { name: "a minute: a minute", since: at(-60), ms: 60_000 },
    { name: "an hour: capped at a minute", since: at(-3600), ms: 60_000 },
    { name: "a refusal time ahead of the clock (skew): a second", since: at(30), ms: 1000 },
  ])("$name", ({ since, ms }) => {
    expect(retryAfterMs(since, NOW)).toBe(ms);
  });
});
