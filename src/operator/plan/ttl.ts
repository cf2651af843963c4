// TTL policy: spec.ttlSecondsAfterFinished deletes a finished job that long after status.completionTime. Its
// children go with it through their owner references; a volume retained by storage.reclaimPolicy has none and stays.
import { addSeconds, secondsBetween } from "../../api/time.ts";

export type TtlCheck = { deleteJob: true } | { requeueAfterMs: number } | undefined;

export function ttlCheck(ttlSeconds: number | undefined, completionTime: string | undefined, now: string): TtlCheck {
  if (ttlSeconds === undefined || completionTime === undefined) return undefined;
  const left = secondsBetween(now, addSeconds(completionTime, ttlSeconds));
  return left <= 0 ? { deleteJob: true } : { requeueAfterMs: left * 1000 + 1000 };
}
