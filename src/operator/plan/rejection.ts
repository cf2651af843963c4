// Rejection policy: a child the apiserver refuses (a missing PriorityClass, an exhausted quota, a value only the pod's
// own validation rejects) must not stall silently. It becomes, in the same reconcile, a ChildrenCreated=False
// condition and a Warning Event naming the child, the apiserver's answer and the spec field it came from; the apply
// is retried with a backoff read from the condition's age (1 s doubling to a minute, no state in memory), so fixing
// the cause lets the job go on by itself.
import { CONDITION } from "../../api/conditions.ts";
import { secondsBetween } from "../../api/time.ts";
import type { ConditionInput } from "../../kube/conditions.ts";

/** What the apiserver answered to an apply or create it refused (4xx but for conflicts and throttling). */
export interface Rejection {
  kind: string;
  name: string;
  code: number;
  /** The Status message. */
  message: string;
  /** details.causes[].field of the Status, e.g. spec.tolerations[0].operator. */
  fields: string[];
}

/** HTTP codes that mean "this object, as written, will not be accepted": retrying unchanged will not help soon. */
export function isRejection(code: number | undefined): code is number {
  return code !== undefined && code >= 400 && code < 500 && code !== 408 && code !== 409 && code !== 429;
}

const RETRY = { minSeconds: 1, maxSeconds: 60 };

/** Where in the spec a refused child's offending value came from, matched on the child's field and the message. */
const ORIGINS: { kinds: string[]; test: (field: string, message: string) => boolean; specField: string }[] = [
  {
    kinds: ["Pod", "PodGroup"],
    test: (f, m) => f.startsWith("spec.priorityClassName") || /PriorityClass/i.test(m),
    specField: "spec.scheduling.priorityClassName",
  },
  { kinds: ["Pod"], test: (f) => f.startsWith("spec.tolerations"), specField: "spec.scheduling.tolerations" },
  {
    kinds: ["Pod"],
    test: (f, m) => f.startsWith("spec.nodeSelector") && /nvidia\.com\/gpu\.product/.test(`${f} ${m}`),
    specField: "spec.resources.gpuProduct",
  },
  { kinds: ["Pod"], test: (f) => f.startsWith("spec.nodeSelector"), specField: "spec.scheduling.nodeSelector" },
  { kinds: ["Pod"], test: (f) => f.startsWith("metadata.labels"), specField: "spec.scheduling.queueName" },
  // The init containers are the gateway sidecars: their image is the operator's own (--operator-image).
  { kinds: ["Pod"], test: (f) => /^spec\.containers\[\d+\]\.image/.test(f), specField: "spec.runtime.image" },
  {
    kinds: ["Pod"],
    test: (f, m) => /resources|exceeded quota|LimitRange|usage per (Container|Pod)/i.test(`${f} ${m}`),
    specField: "spec.resources",
  },
  {
    kinds: ["PersistentVolumeClaim"],
    test: (f, m) => f.startsWith("spec.storageClassName") || /StorageClass/i.test(m),
    specField: "spec.storage.storageClassName",
  },
  {
    kinds: ["PersistentVolumeClaim"],
    test: (f, m) => /resources|exceeded quota|storage/i.test(`${f} ${m}`),
    specField: "spec.storage.size",
  },
];

/** The spec field a rejection traces back to, or undefined when it comes from what the operator adds itself. */
export function specFieldOf(rejection: Rejection): string | undefined {
  const fields = rejection.fields.length > 0 ? rejection.fields : [""];
  return ORIGINS.find((o) => o.kinds.includes(rejection.kind) && fields.some((f) => o.test(f, rejection.message)))
    ?.specField;
}

const REASON: Record<number, string> = { 403: "ChildForbidden", 422: "ChildInvalid" };

export function rejectionCondition(rejection: Rejection): ConditionInput {
  const field = specFieldOf(rejection);
  const origin = field
    ? `; it comes from ${field}`
    : /serviceaccount/i.test(rejection.message)
      ? "; the operator's own permissions (RBAC) do not allow it"
      : "";
  return {
    type: CONDITION.childrenCreated,
    status: "False",
    reason: REASON[rejection.code] ?? "ChildRejected",
    message: `${rejection.kind} ${rejection.name} was refused by the apiserver (${rejection.code}): ${rejection.message}${origin}`,
  };
}

export const CHILDREN_ACCEPTED: ConditionInput = {
  type: CONDITION.childrenCreated,
  status: "True",
  reason: "Created",
  message: "every child was accepted",
};

/** Retry after as long as the refusal has lasted, between a second and a minute: a doubling backoff read from status. */
export function retryAfterMs(refusedSince: string, now: string): number {
  const age = secondsBetween(refusedSince, now);
  return Math.min(RETRY.maxSeconds, Math.max(RETRY.minSeconds, age)) * 1000;
}
