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
