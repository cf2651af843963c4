// The slicer's budget is one per turn of the event loop, shared by every loop that uses it: many loops running at
// once (informers listing together) must not hold the loop for one slice each.
import { describe, expect, it } from "vitest";
import { nextSlice, SLICE_MS } from "../../../src/runtime/slice.ts";

/** Starts `n` tasks, each from its own callback, as informers start from their own I/O callbacks; awaits them. */
async function startEach(n: number, task: () => Promise<void>): Promise<void> {
  await Promise.all(
    Array.from({ length: n }, () => new Promise<void>((resolve) => setImmediate(() => task().then(resolve)))),
  );
}

/** Holds the CPU for `ms` (a step of real work). A loaded machine only makes it longer. */
function busy(ms: number): void {
  const end = performance.now() + ms;
  while (performance.now() < end) {}
}

/**
 * Counts the steps the loops take between two turns of the event loop, as something else waiting to run (a /healthz
 * request) sees them: the most between two of its turns. Its turns and the slicer's need not line up, so that is at
 * most two slices' worth.
 */
function turnCounter() {
  let steps = 0;
  let most = 0;
  let running = true;
  const tick = () => {
    most = Math.max(most, steps);
    steps = 0;
    if (running) setImmediate(tick);
  };
  setImmediate(tick);
  return {
    step: () => steps++,
    stop: () => {
      running = false;
      return Math.max(most, steps);
    },
  };
}

describe("nextSlice", () => {
  it("shares one slice per turn among loops running at once", async () => {
    const loops = 20;
    const stepMs = 2;
    const counter = turnCounter();
    await startEach(loops, async () => {
      for (let i = 0; i < 10; i++) {
        await nextSlice();
        busy(stepMs);
        counter.step();
      }
    });
    // A slice per loop would allow loops × SLICE_MS / stepMs = 100 steps between two turns; a shared one a slice's
    // worth (and the step that overruns it) in each of two.
    expect(counter.stop()).toBeLessThanOrEqual(2 * (SLICE_MS / stepMs + 1));
  });

  it("goes on without yielding while the turn has time left", async () => {
    await new Promise((resolve) => setImmediate(resolve));
    await nextSlice(); // a fresh slice
    expect(nextSlice()).toBeUndefined();
    busy(SLICE_MS);
    const later = nextSlice();
    expect(later).toBeInstanceOf(Promise);
    await later;
  });

  it("lets steps that cannot be cut short (a list page's parse) take turns: a few per turn, not all at once", async () => {
    const steps = 12;
    const stepMs = 4;
    const counter = turnCounter();
    await startEach(steps, async () => {
      await nextSlice();
      busy(stepMs);
      counter.step();
    });
    expect(counter.stop()).toBeLessThanOrEqual(2 * Math.ceil(SLICE_MS / stepMs));
  });
});
