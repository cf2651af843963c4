// Serving policy: the model servers of the job's served roles (spec.<role>.serve). They live as long as the job runs:
// created with its first pods (so they load their weights while the dataset is prepared), applied again when their
// spec changes, scaled to zero once the job is suspended or ends; garbage collection removes them with the job (which
// role is served cannot change: a CEL transition rule). A replica that dies is replaced by its Deployment, never by
// restarting the training gang. While a served role has no ready replica, the
// stage's missing GPU pods wait (the training gang waits for its servers, not the other way round), and the endpoint
// preflight of that role waits too, so it checks a server that answers. ServingReady says where the servers stand;
// status.serving shows each one's replicas, readiness, URL, and the GPU-hours its pods held, accounted at each change
// of the GPUs they hold (so an idle job writes nothing).
import type { V1Pod } from "@kubernetes/client-node";
import { CONDITION } from "../../api/conditions.ts";
import type { Condition, Status } from "../../api/schema.ts";
import { LABEL } from "../../children/meta.ts";
import {
  deploymentURL,
  GPUS_ANNOTATION,
  type JobServer,
  jobServers,
  SERVED_ROLE_NAME,
  SERVER_LABEL,
  SERVER_ROLE,
  SPEC_HASH_ANNOTATION,
  serverDeployment,
  serverService,
} from "../../children/serving.ts";
import type { EndpointRole } from "../../contract/gateway-settings.ts";
import type { ConditionInput } from "../../kube/conditions.ts";
import { isFinished, podPhase, unschedulable } from "../../kube/pods.ts";
import type { ChildApply } from "./children.ts";
import type { Observed } from "./observed.ts";

export type ServerStatus = NonNullable<Status["serving"]>[number];

export interface ServingDecision {
  /** Server objects to apply (missing, or different from what the operator last applied). */
  apply: ChildApply[];
  /** ServingReady, or remove it: the job serves no role. */
  condition: ConditionInput | "remove";
  status: Status["serving"];
  /** The base URL each served role's gateways call, where it is known. */
  urls: Partial<Record<EndpointRole, string>>;
  /** Every server has a ready replica and a URL (true when the job serves no role). */
  ready: boolean;
}

/** GPU-hours a server's pods held up to `now`: what was accounted, and its current GPUs since then. */
export function gpuHoursAt(server: Pick<ServerStatus, "gpuHours" | "gpus" | "accountedAt">, now: string): number {
  const since = server.accountedAt ? Date.parse(server.accountedAt) : Number.NaN;
  const elapsed = Number.isFinite(since) ? Math.max(0, Date.parse(now) - since) : 0;
  return server.gpuHours + (server.gpus * elapsed) / 3_600_000;
}

export function servingPolicy(input: {
  observed: Observed;
  /** The job runs: its servers have their replicas. False once it is suspended or has ended: none. */
  running: boolean;
  /** Readiness blocks pods (a Secret or the claim missing): nothing is applied, as no pod is. */
  blocked: boolean;
  before: readonly Condition[];
}): ServingDecision {
  const { observed, running, blocked, before } = input;
  const { job, now } = observed;
  const servers = jobServers(job);
  const previous = job.status?.serving ?? [];
  const decision: ServingDecision = {
    apply: [],
    condition: "remove",
    status: undefined,
    urls: {},
    ready: true,
  };
  const states: ServerState[] = [];
  for (const server of servers) {
    const desired = [
      applied("Service", serverService(job, server)),
      applied("Deployment", serverDeployment(job, server, running)),
    ];
    for (const child of desired) {
      const seen = observed.servers.find((s) => s.kind === child.kind && s.name === child.name);
      // A server never made need not be made to be scaled to zero.
      if (blocked || (!seen && !running)) continue;
      if (seen?.specHash !== specHash(child.object)) decision.apply.push(child);
    }
    const state = serverState(observed, server, running);
    states.push(state);
    for (const role of server.roles) decision.urls[role] = state.url;
    if (!state.ready) decision.ready = false;
  }
  decision.status = servingStatus(states, previous, now);
  decision.condition = servingCondition(states, running, before, servers.length > 0);
  return decision;
}

interface ServerState {
  server: JobServer;
  replicas: number;
  readyReplicas: number;
  url: string;
  ready: boolean;
  /** Why it has no ready replica yet, from its pods. */
  why: string;
  gpus: number;
}

function serverState(observed: Observed, server: JobServer, running: boolean): ServerState {
  const pods = serverPods(observed.pods, server.owner);
  const readyReplicas = pods.filter(isReady).length;
  const notes = pods.filter((p) => !isReady(p)).map(podState);
  return {
    server,
    replicas: running ? server.serve.replicas : 0,
    readyReplicas,
    url: deploymentURL(observed.job, server),
    ready: running && readyReplicas > 0,
    why: notes.length > 0 ? notes.join("; ") : pods.length === 0 ? "no pod yet" : "",
    gpus: pods.filter(holdsGpus).reduce((sum, p) => sum + gpusOf(p), 0),
  };
}

/** The GPUs of each server and the GPU-hours they held, accounted anew only when the GPUs held change. */
function servingStatus(
  states: readonly ServerState[],
  previous: readonly ServerStatus[],
  now: string,
): Status["serving"] {
  const listed: ServerStatus[] = states.map((s) => {
    const before = previous.find((p) => p.name === s.server.name);
    return {
      name: s.server.name,
      roles: s.server.roles.map((r) => SERVED_ROLE_NAME[r]),
      model: s.server.serve.model,
      replicas: s.replicas,
      readyReplicas: s.readyReplicas,
      url: s.url,
      ...account(before, s.gpus, now),
    };
  });
  return listed.length > 0 ? listed : undefined;
}

function account(before: ServerStatus | undefined, gpus: number, now: string) {
  if (before && before.gpus === gpus) {
    return { gpus, gpuHours: before.gpuHours, ...(before.accountedAt ? { accountedAt: before.accountedAt } : {}) };
  }
  return { gpus, gpuHours: before ? gpuHoursAt(before, now) : 0, accountedAt: now };
}

function servingCondition(
  states: readonly ServerState[],
  running: boolean,
  before: readonly Condition[],
  serves: boolean,
): ConditionInput | "remove" {
  if (!serves) return "remove";
  const type = CONDITION.servingReady;
  if (!running) {
    return {
      type,
      status: "False",
      reason: "ScaledToZero",
      message: `the job is not running: ${states.map((s) => s.server.name).join(", ")} scaled to zero`,
    };
  }
  const lines = states.map(describe);
  if (states.every((s) => s.ready)) {
    return { type, status: "True", reason: "ServersReady", message: lines.join("; ") };
  }
  // It answered before and does not now: its replicas died or were preempted, and are being replaced.
  const wasReady = before.some((c) => c.type === type && (c.status === "True" || c.reason === "ServerUnavailable"));
  return {
    type,
    status: "False",
    reason: wasReady ? "ServerUnavailable" : "ServerStarting",
    message: `${lines.join("; ")}${wasReady ? "; the gateways hold the calls until a replica answers (within their deadline)" : ""}; training pods not yet created wait for it`,
  };
}

function describe(s: ServerState): string {
  const roles = s.server.roles.join(" and ");
  const at = ` at ${s.url}`;
  const why = !s.ready && s.why ? ` (${s.why})` : "";
  return `${s.server.name} serves the ${roles} (${s.server.serve.model}): ${s.readyReplicas}/${s.replicas} replicas ready${at}${why}`;
}

/** A server pod's state, for the condition: where it waits, or that it loads. */
function podState(pod: V1Pod): string {
  const name = pod.metadata?.name ?? "?";
  if (pod.spec?.schedulingGates?.some((g) => g.name === "kueue.x-k8s.io/admission")) {
    return `pod ${name} waits for Kueue to admit it`;
  }
  const unplaced = unschedulable(pod);
  if (unplaced) return `pod ${name} ${unplaced.reason}: ${unplaced.message}`;
  const waiting = pod.status?.containerStatuses?.find((c) => c.state?.waiting?.reason)?.state?.waiting;
  if (waiting) return `pod ${name} ${waiting.reason}${waiting.message ? `: ${waiting.message}` : ""}`;
  if (pod.metadata?.deletionTimestamp) return `pod ${name} is terminating`;
  return `pod ${name} is ${podPhase(pod) === "Running" ? "loading (not ready)" : podPhase(pod).toLowerCase()}`;
}

function serverPods(pods: readonly V1Pod[], owner: EndpointRole): V1Pod[] {
  return pods.filter(
    (p) => p.metadata?.labels?.[LABEL.role] === SERVER_ROLE && p.metadata?.labels?.[SERVER_LABEL] === owner,
  );
}

function isReady(pod: V1Pod): boolean {
  return (
    !pod.metadata?.deletionTimestamp &&
    podPhase(pod) === "Running" &&
    (pod.status?.conditions ?? []).some((c) => c.type === "Ready" && c.status === "True")
  );
}

/** A pod bound to a node that has not ended holds its GPUs (a terminating one too, until it is gone). */
function holdsGpus(pod: V1Pod): boolean {
  return pod.spec?.nodeName !== undefined && !isFinished(pod);
}

function gpusOf(pod: V1Pod): number {
  const n = Number(pod.metadata?.annotations?.[GPUS_ANNOTATION]);
  return Number.isInteger(n) && n > 0 ? n : 0;
}

function applied(kind: string, object: { metadata: { name: string } }): ChildApply {
  return { kind, name: object.metadata.name, object };
}

function specHash(object: object): string | undefined {
  return (object as { metadata: { annotations?: Record<string, string> } }).metadata.annotations?.[
    SPEC_HASH_ANNOTATION
  ];
}
