// Budget policy: what the training stage does once the job's API budget is spent (condition BudgetExceeded=True,
// written by the report endpoint). Without it, veRL 0.6.0 goes on: the gateways refuse the calls (429), the recipe's
// reward loop and user simulator retry each for minutes and then score 0 or send an empty turn, so the steps go on
// training on zeros with every GPU held; and a trainer that crashes on the refusals is restarted, from a checkpoint up
// to saveEvery steps old, into the same refusal, until maxRestarts is spent. Here the budget ends the attempt instead,
// before any failure it causes is judged (never counted against maxRestarts):
// - onExhausted Release (the default): the attempt's pods go (GPUs released, nothing more spent), counted as neither
//   a restart nor a disruption, and the next attempt waits until the budget is raised, then resumes from the latest
//   checkpoint by itself;
// - onExhausted Wait: the pods are kept and the gateways refuse calls until a raise (veRL trains on the zeros);
// - onExhausted Stop: the job fails with reason BudgetExceeded, naming the last checkpoint.
// A report endpoint writes BudgetExceeded only when a gateway reports, and none does while the job waits: a raise is
// seen here as a spec change since the condition was written (its observedGeneration) that leaves room above what was
// used. The first report of the next attempt writes the condition again.
import { CONDITION } from "../../api/conditions.ts";
import type { CollabTrainingJob } from "../../api/schema.ts";

export type BudgetState = { spent: false } | { spent: true; reason: string; message: string; checkpoint: string };

export function budgetState(job: CollabTrainingJob): BudgetState {
  const exceeded = job.status?.conditions?.find((c) => c.type === CONDITION.budgetExceeded && c.status === "True");
  if (!exceeded) return { spent: false };
  const { maxTokens, maxCost } = job.spec.budget;
  if (maxTokens === undefined && maxCost === undefined) return { spent: false };
  const usage = job.status?.usage;
  const stillOver =
    (maxTokens !== undefined && (usage?.totalTokens ?? 0) >= maxTokens) ||
    (maxCost !== undefined && (usage?.totalCost ?? 0) >= maxCost);
  const raised = (exceeded.observedGeneration ?? 0) < ((job.metadata.generation as number | undefined) ?? 0);
  if (raised && !stillOver) return { spent: false };
  const step = job.status?.progress?.checkpointStep ?? job.status?.outputs?.lastCheckpointStep;
  return {
    spent: true,
    reason: exceeded.reason,
    message: exceeded.message,
    checkpoint:
      step === undefined
        ? "no checkpoint was completed, so a new run starts from the beginning"
        : `the latest checkpoint is step ${step} (status.outputs.lastCheckpoint), where a new attempt resumes`,
  };
}
