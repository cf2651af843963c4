// Completion policy of the training stage: a head whose trainer exited 0 is not proof that the run trained every
// step. veRL's driver exits 0 whenever its loop runs out, and a resume from a checkpoint on an epoch boundary can
// make it run out early: veRL 0.6.0's SFT trainer starts at `global_step // steps_per_epoch` and restores an exhausted
// dataloader, so it skips an epoch and returns without its final save (fsdp_sft_trainer.py, fit); PPO trainers that
// compute the resume epoch the same way do the same (verl-project/verl#5725). veRL 0.6.0's PPO loop itself runs every
// epoch from 0 and trains all the steps left (ray_trainer.py, fit), so for it this is a guard.
//
// The step reached and the total are the ones veRL printed (status.progress, from the head's gateway). A head that
// succeeded short of the total ends the attempt as StoppedShort, which the failure policy judges like any failure
// (counted by default): the next attempt resumes from the latest checkpoint. One that stops short at the very step
// the previous attempt stopped at would do so forever (the same checkpoint, the same exhausted epoch): the job fails
// with TrainingIncomplete instead.
import type { V1Pod } from "@kubernetes/client-node";
import type { Progress } from "../../api/schema.ts";
import { secondsBetween, timeText } from "../../api/time.ts";
import { TRAINER_CONTAINER } from "../../children/pods.ts";
import type { LastRestart } from "./restart.ts";

/**
 * How long after the trainer exits its last step line may still be on its way: the gateway reads the log every
 * second and reports within a few, and its last report goes as the pod stops.
 */
export const SETTLE_SECONDS = 30;

export type TrainingEnd =
  | { kind: "complete" }
  /** Short of the total so far, but the last step lines may not have reached the status yet. */
  | { kind: "settling"; requeueAfterMs: number }
  | { kind: "short"; step: number; total: number; repeated: boolean; message: string };

/** Whether the head's trainer, which exited 0, trained the total steps veRL announced. */
export function trainingEnd(input: {
  head: V1Pod;
  progress: Progress | undefined;
  lastRestart: LastRestart | undefined;
  attempt: number;
  now: string;
}): TrainingEnd {
  const { head, progress, lastRestart, attempt, now } = input;
  const step = progress?.step;
  const total = progress?.totalSteps;
  // Without veRL's step lines (no log followed yet, a trainer that printed none) there is nothing to check against.
  if (step === undefined || total === undefined || step >= total) return { kind: "complete" };
  const trainer = head.status?.containerStatuses?.find((s) => s.name === TRAINER_CONTAINER);
  // A kubelet always records when the trainer ended; without that time there is nothing to wait from.
  const exited = timeText(trainer?.state?.terminated?.finishedAt);
  const wait = exited === undefined ? 0 : SETTLE_SECONDS - secondsBetween(exited, now);
  if (wait > 0) return { kind: "settling", requeueAfterMs: wait * 1000 + 1000 };
  const pod = head.metadata?.name as string;
  const repeated =
    lastRestart?.reason === "StoppedShort" && lastRestart.attempt + 1 === attempt && lastRestart.step === step;
  return {
    kind: "short",
    step,
    total,
    repeated,
    message: `pod ${pod}'s trainer exited 0 at step ${step} of the ${total} veRL announced (status.progress): it stopped short, e.g. after resuming from a checkpoint on an epoch boundary`,
  };
}
