// The preflight pod, pure: one small CPU pod with a container per checked endpoint, each running
// `collab-operator preflight` with exactly the endpoint settings and key reference its gateway sidecar gets. Its name
// carries a hash of what it checks (each endpoint's settings, and the uid and resourceVersion of the Secret its key
// comes from), so changing an endpoint or its Secret makes a new pod, which checks again.
import { createHash } from "node:crypto";
import type { CollabTrainingJob, Endpoint, Spec } from "../api/schema.ts";
import { type EndpointRole, TERMINATION_LOG } from "../contract/gateway-settings.ts";
import { childMeta, jobLabels, jobName, LABEL } from "./meta.ts";
import { endpointEnv, gatewaySecurityContext, nodeSelector, type OperatorContext, tolerations } from "./pods.ts";

/** The value of the collabllm.io/role label on preflight pods. */
export const PREFLIGHT_ROLE = "preflight";

export interface CheckedEndpoint {
  role: EndpointRole;
  /** Where it is in the spec, for messages. */
  field: "spec.userSimulator" | "spec.judge";
  endpoint: Endpoint;
}

/** The endpoints whose `preflight` is on (the default). */
export function checkedEndpoints(spec: Spec): CheckedEndpoint[] {
  const all: CheckedEndpoint[] = [
    { role: "user-simulator", field: "spec.userSimulator", endpoint: spec.userSimulator },
    { role: "judge", field: "spec.judge", endpoint: spec.judge },
  ];
  return all.filter((e) => e.endpoint.preflight);
}

/** What the preflight checks, per endpoint: its settings as env vars, and its key's Secret's uid:resourceVersion. */
function checkedState(job: CollabTrainingJob, secretVersions: Readonly<Record<string, string | undefined>>) {
  return checkedEndpoints(job.spec).map(({ role, endpoint }) => {
    const env = endpointEnv(job, role);
    const ref = endpoint.apiKeySecretRef;
    return {
      role,
      env: [...env.role, ...env.settings, ...env.key],
      secretVersion: ref ? (secretVersions[ref.name] ?? null) : null,
    };
  });
}

/**
 * The preflight pod for the job's current endpoints and Secrets, or undefined when no endpoint is checked.
 * `secretVersions` maps each Secret name to `<uid>:<resourceVersion>` (undefined when it does not exist).
 */
export function preflightPod(
  job: CollabTrainingJob,
  ctx: OperatorContext,
  secretVersions: Readonly<Record<string, string | undefined>>,
) {
  const state = checkedState(job, secretVersions);
  if (state.length === 0) return undefined;
  const hash = createHash("sha256").update(JSON.stringify(state)).digest("hex").slice(0, 10);
  const name = jobName(job);
  const { spec } = job;
  return {
    apiVersion: "v1",
    kind: "Pod",
    metadata: childMeta(job, `${name}-preflight-${hash}`, { ...jobLabels(name), [LABEL.role]: PREFLIGHT_ROLE }),
    spec: {
      // A failed check is run again by the kubelet, with its crash-loop backoff (10 s doubling to 5 min), so an
      // endpoint that comes up, or a quota that is paid, lets the job go on by itself.
      restartPolicy: "OnFailure",
      automountServiceAccountToken: false,
      enableServiceLinks: false,
      securityContext: { runAsNonRoot: true, seccompProfile: { type: "RuntimeDefault" } },
      ...(spec.scheduling.priorityClassName ? { priorityClassName: spec.scheduling.priorityClassName } : {}),
      // Placed as the prepare pod; not queued: it holds no GPU, and it must answer before the gang is admitted.
      nodeSelector: nodeSelector(spec, false),
      tolerations: tolerations(spec, false),
      containers: state.map(({ role, env }) => ({
        name: role,
        image: ctx.operatorImage,
        args: ["preflight"],
        env,
        terminationMessagePath: TERMINATION_LOG,
        terminationMessagePolicy: "File",
        resources: { requests: { cpu: "50m", memory: "64Mi" }, limits: { memory: "256Mi" } },
        securityContext: gatewaySecurityContext(),
      })),
    },
  };
}

export type PreflightPod = NonNullable<ReturnType<typeof preflightPod>>;
