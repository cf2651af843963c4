// The plan under construction: the policies contribute to it in order (plan.ts), and finish() turns it into the one
// Plan the shell carries out.
import type { V1Pod } from "@kubernetes/client-node";
import { CONDITION } from "../../api/conditions.ts";
import type { Condition, Phase, Status } from "../../api/schema.ts";
import { type ConditionInput, removeCondition, setCondition } from "../../kube/conditions.ts";
import type { ChildApply } from "./children.ts";
import { type Observed, type PlannedEvent, podName } from "./observed.ts";
import type { Counters, LastRestart } from "./restart.ts";
import type { JobStage } from "./stages.ts";
import { type OwnedStatus, ownConditions, ownedStatus, transitions } from "./status.ts";

export interface Plan {
  /** Create the internal token Secret (the shell makes the random value). */
  createTokenSecret: boolean;
  /** Objects to server-side apply, children before the pods that use them. */
  apply: ChildApply[];
  /** Pods to delete: other attempts', and unfinished ones of a finished or suspended job. */
  deletePods: string[];
  /** Native PodGroups of other attempts to delete (each goes once its pods are gone). */
  deletePodGroups: string[];
  /** Delete the job itself: its ttlSecondsAfterFinished ran out. */
  deleteJob: boolean;
  status: OwnedStatus;
  events: PlannedEvent[];
  /** Reconcile again after this long even if nothing changes: the earliest deadline, TTL, backoff or timeout. */
  requeueAfterMs: number | undefined;
}

/** The status fields each way of ending the plan decides. */
export interface StatusFields {
  phase: Phase;
  attempt: number;
  stage: JobStage | undefined;
  startTime: string | undefined;
  gang: Status["gang"];
  /** What holds the job, for `kubectl get` (status.waiting); none while it progresses or once it ended. */
  waiting?: string;
}

/** What the serving policy decided, for every way a plan ends (serving.ts). */
export interface Served {
  serving: Status["serving"];
}

export class Draft {
  conditions: Condition[];
  readonly deletePods: string[] = [];
  readonly deletePodGroups: string[] = [];
  /** Objects applied before those of the way the plan ends: the servers. */
  readonly applies: ChildApply[] = [];
  readonly served: Served = { serving: undefined };
  readonly events: PlannedEvent[] = [];
  readonly requeues: number[] = [];
  counters: Counters;
  lastRestart: LastRestart | undefined;

  readonly observed: Observed;
  /** The conditions this writer owns, as the last status write left them. */
  readonly before: readonly Condition[];

  constructor(observed: Observed) {
    this.observed = observed;
    const previous = observed.job.status ?? {};
    // BudgetExceeded belongs to the report endpoint (one writer per field): the planner neither reads nor writes it.
    this.before = ownConditions(previous.conditions);
    this.conditions = [...this.before];
    this.counters = { restarts: previous.restarts ?? 0, disruptions: previous.disruptions ?? 0 };
    this.lastRestart = previous.lastRestart;
  }

  set(c: ConditionInput): void {
    const generation = this.observed.job.metadata.generation as number | undefined;
    this.conditions = setCondition(this.conditions, c, this.observed.now, generation);
  }

  remove(type: string): void {
    this.conditions = removeCondition(this.conditions, type);
  }

  requeue(ms: number | undefined): void {
    if (ms !== undefined) this.requeues.push(ms);
  }

  /** Removes what is said about placing the stage's pods: a verdict on another stage's or attempt's would mislead. */
  clearPlacement(): void {
    for (const type of [CONDITION.podsScheduled, CONDITION.waitingForCapacity, CONDITION.queued, CONDITION.admitted])
      this.remove(type);
  }

  /** Deletes the native PodGroups of attempts other than `attempt`. */
  deleteOtherPodGroups(attempt: number): void {
    for (const g of this.observed.podGroups)
      if (!g.deleting && g.attempt !== String(attempt)) this.deletePodGroups.push(g.name);
  }

  /** Deletes pods not already on their way out. */
  deleteAll(pods: readonly V1Pod[]): void {
    for (const p of pods) if (!p.metadata?.deletionTimestamp) this.deletePods.push(podName(p));
  }

  finish(fields: StatusFields, extra: Partial<Pick<Plan, "apply" | "createTokenSecret" | "deleteJob">> = {}): Plan {
    const { job, now, pods } = this.observed;
    const terminal = fields.phase === "Succeeded" || fields.phase === "Failed";
    const previous = job.status ?? {};
    return {
      createTokenSecret: extra.createTokenSecret ?? false,
      apply: [...this.applies, ...(extra.apply ?? [])],
      deletePods: this.deletePods,
      deletePodGroups: this.deletePodGroups,
      deleteJob: extra.deleteJob ?? false,
      status: ownedStatus({
        job,
        pods,
        conditions: this.conditions,
        ...fields,
        ...this.served,
        counters: this.counters,
        lastRestart: this.lastRestart,
        completionTime: terminal ? (previous.completionTime ?? now) : undefined,
      }),
      events: [...transitions(this.before, this.conditions), ...this.events],
      requeueAfterMs: this.requeues.length > 0 ? Math.min(...this.requeues) : undefined,
    };
  }
}
