// Long loops over many objects (a list of thousands, a resync, a queue of reconciles) must not hold the event loop:
// while they run, nothing else happens (watch events, /healthz, the leader's lease renewal). A slicer lets a loop run
// for a few milliseconds, then yields to everything else that is waiting before it goes on.
import { setImmediate as yieldToLoop } from "node:timers/promises";

/** Default time a loop may run before it yields. */
export const SLICE_MS = 10;

/** Returns `pause()`: resolves at once while the slice lasts, else after letting the event loop run. */
export function timeSlicer(sliceMs = SLICE_MS): () => Promise<void> | undefined {
  let start = performance.now();
  return () => {
    if (performance.now() - start < sliceMs) return undefined;
    return yieldToLoop().then(() => {
      start = performance.now();
    });
  };
}

export { yieldToLoop };
