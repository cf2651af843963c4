// The real clock's timers: a requeue after a long deadline or TTL (activeDeadlineSeconds and ttlSecondsAfterFinished
// go up to 2^31-1 seconds) must wait, not fire at once as setTimeout does past 2^31-1 ms.
import { describe, expect, it } from "vitest";
import { realClock } from "../../../src/runtime/clock.ts";

const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe("realClock.after", () => {
  it("runs a short timer once", async () => {
    let runs = 0;
    realClock.after(5, () => runs++);
    await pause(50);
    expect(runs).toBe(1);
  });

  it.each([
    { name: "just past setTimeout's longest wait (about 24.8 days)", ms: 2 ** 31 },
    { name: "30 days, a common ttlSecondsAfterFinished", ms: 30 * 86_400_000 },
    { name: "the longest activeDeadlineSeconds admission accepts", ms: (2 ** 31 - 1) * 1000 },
  ])("waits for $name instead of firing at once", async ({ ms }) => {
    let runs = 0;
    const cancel = realClock.after(ms, () => runs++);
    await pause(50);
    cancel();
    expect(runs).toBe(0);
  });

  it("cancels a long timer", async () => {
    let runs = 0;
    realClock.after(2 ** 31, () => runs++)();
    await pause(20);
    expect(runs).toBe(0);
  });
});
