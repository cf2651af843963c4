// Deadline policy: spec.activeDeadlineSeconds bounds how long the job runs, counted from status.startTime (when its
// first pod was scheduled; a suspension clears it and a resume starts it anew). Past it, the job fails with
// DeadlineExceeded; before it, the reconcile is scheduled for the moment it runs out, not left to the next resync.
import { addSeconds, secondsBetween } from "../../api/time.ts";

export type DeadlineCheck = { exceeded: string } | { requeueAfterMs: number } | undefined;

export function deadlineCheck(
  activeDeadlineSeconds: number | undefined,
  startTime: string | undefined,
  now: string,
): DeadlineCheck {
  if (activeDeadlineSeconds === undefined || startTime === undefined) return undefined;
  const due = addSeconds(startTime, activeDeadlineSeconds);
  const left = secondsBetween(now, due);
  if (left > 0) return { requeueAfterMs: left * 1000 + 1000 };
  return {
    exceeded: `the job ran past spec.activeDeadlineSeconds (${activeDeadlineSeconds} s since it started at ${startTime}, due ${due})`,
  };
}

/**
 * veRL 0.6.0 saves a checkpoint ahead of a known end of capacity (checkpoint_manager.py, should_save_ckpt_esi): at
 * the end of every step, with save_freq > 0, it reads MLP_CURRENT_CAPACITY_BLOCK_EXPIRATION_TIMESTAMP (unix seconds,
 * a float) and saves once 0 < that − now ≤ 60 + the longest step of this process + trainer.esi_redundant_time, then
 * at every step after (it never stops the run). Its 60 s stand for the save; the longest step does not count a
 * validation (`testing`) step's extra time, and it is 0 during the first step after every start. So the operator
 * tells the trainer a deadline earlier than the real one by what veRL leaves out, as measured on this job: the save
 * beyond 60 s (status.progress.checkpointSeconds), the longest step beyond the mean (validation, from status.pace),
 * and REPORT_SLACK_SECONDS. SAGEMAKER_CURRENT_CAPACITY_BLOCK_EXPIRATION_TIMESTAMP is not used: it parses an integer
 * only and stays True after the time passed.
 */
export const ESI_ENV = "MLP_CURRENT_CAPACITY_BLOCK_EXPIRATION_TIMESTAMP";
export const REPORT_SLACK_SECONDS = 30;

/** The margin before the real deadline, in seconds, from what this job measured so far. */
export function esiMarginSeconds(measured: {
  checkpointSeconds?: number;
  meanStepSeconds?: number;
  longestStepSeconds?: number;
}): number {
  const save = Math.max(0, (measured.checkpointSeconds ?? 0) - 60);
  const validation =
    measured.meanStepSeconds !== undefined && measured.longestStepSeconds !== undefined
      ? Math.max(0, measured.longestStepSeconds - measured.meanStepSeconds)
      : 0;
  return Math.ceil(save + validation + REPORT_SLACK_SECONDS);
}

/**
 * The trainer's environment for a job with activeDeadlineSeconds: the deadline less the margin, as veRL reads it. A
 * stage not started yet counts from now, a little before its first pod is bound: the deadline told is earlier than
 * the real one by the time it waits, which only moves the save earlier.
 */
export function esiEnv(
  activeDeadlineSeconds: number | undefined,
  startTime: string | undefined,
  now: string,
  marginSeconds: number,
): { name: string; value: string }[] {
  if (activeDeadlineSeconds === undefined) return [];
  const due = Date.parse(addSeconds(startTime ?? now, activeDeadlineSeconds)) / 1000;
  return [{ name: ESI_ENV, value: String(due - marginSeconds) }];
}
