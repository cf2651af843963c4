// Long loops over many objects (a list of thousands, a resync, a queue of reconciles) must not hold the event loop:
// while they run, nothing else happens (watch events, /healthz, the leader's lease renewal). A slicer lets a loop run
// for a few milliseconds, then yields to everything else that is waiting before it goes on.
//
// The budget is the process's, not each loop's. Loops that yield all resume in the same turn of the event loop
// (setImmediate callbacks run together), so a budget per loop let 200 informers listing at once (an operator watching
// 20 namespaces) run 200 slices back to back while /healthz waited 400 ms. Here the loops share one slice per turn:
// the waiting loops are let go one at a time, each after the previous one's step, while the slice lasts; the rest
// wait for a later turn, in the order they came.
import { setImmediate as yieldToLoop } from "node:timers/promises";

/** Time the loops may run in one turn of the event loop before they yield. */
export const SLICE_MS = 10;

/** When the current turn's slice began. */
let turnStart = performance.now();
const waiting: (() => void)[] = [];
let turnScheduled = false;

const spent = () => performance.now() - turnStart >= SLICE_MS;

function scheduleTurn(): void {
  if (turnScheduled) return;
  turnScheduled = true;
  setImmediate(() => {
    turnScheduled = false;
    turnStart = performance.now();
    letNextGo();
  });
}

/**
 * Lets the first waiting loop go, then (in a microtask queued behind its step, which runs until it awaits again)
 * the next, while the slice lasts.
 */
function letNextGo(): void {
  if (waiting.length === 0) return;
  if (spent()) {
    scheduleTurn();
    return;
  }
  waiting.shift()?.();
  queueMicrotask(letNextGo);
}

/**
 * Undefined while the turn's slice lasts and no loop waits; else a promise that resolves when this caller may take
 * its next step (a later turn with time left, after the loops that waited before it). A loop awaits it between
 * steps, and before a step that cannot be cut short, such as parsing a list page.
 */
export function nextSlice(): Promise<void> | undefined {
  if (!spent() && waiting.length === 0) return undefined;
  const turn = new Promise<void>((resolve) => waiting.push(resolve));
  scheduleTurn();
  return turn;
}

export { yieldToLoop };
