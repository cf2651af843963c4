// The report endpoint's serial runner: one report at a time per job, each with a deadline that holds whatever its
// work does, so a report stuck on a write never stops the job's later ones.
import { describe, expect, it } from "vitest";
import { SerialByJob } from "../../../../src/operator/report/serial.ts";

const never = () => new Promise<never>(() => undefined);

describe("SerialByJob", () => {
  it("runs one job's reports one at a time, in order", async () => {
    const serial = new SerialByJob();
    const order: string[] = [];
    const slow = serial.run("ns/a", Date.now() + 1000, async () => {
      await new Promise((r) => setTimeout(r, 50));
      order.push("first");
    });
    const fast = serial.run("ns/a", Date.now() + 1000, async () => order.push("second"));
    await Promise.all([slow, fast]);
    expect(order).toEqual(["first", "second"]);
  });

  it("gives up a report whose work never ends at its deadline, aborting it, and runs the next", async () => {
    const serial = new SerialByJob();
    let aborted = false;
    const stuck = serial.run("ns/a", Date.now() + 100, (signal) => {
      signal.addEventListener("abort", () => (aborted = true));
      return never();
    });
    const next = serial.run("ns/a", Date.now() + 1000, async () => "applied");
    await expect(stuck).rejects.toMatchObject({ status: 503 });
    expect(aborted).toBe(true);
    await expect(next).resolves.toBe("applied");
  });

  it("skips a report that waited past its deadline behind others", async () => {
    const serial = new SerialByJob();
    const stuck = serial.run("ns/a", Date.now() + 150, never);
    let ran = false;
    const late = serial.run("ns/a", Date.now() + 50, async () => (ran = true));
    await expect(late).rejects.toMatchObject({ status: 503 });
    await expect(stuck).rejects.toMatchObject({ status: 503 });
    expect(ran).toBe(false);
  });

  it("does not hold other jobs' reports", async () => {
    const serial = new SerialByJob();
    void serial.run("ns/a", Date.now() + 5000, never).catch(() => undefined);
    await expect(serial.run("ns/b", Date.now() + 1000, async () => "b")).resolves.toBe("b");
  });

  it("refuses a report when too many of the job's are waiting", async () => {
    const serial = new SerialByJob();
    const waiting = Array.from({ length: 64 }, () =>
      serial.run("ns/a", Date.now() + 200, never).catch(() => undefined),
    );
    await expect(serial.run("ns/a", Date.now() + 200, async () => 1)).rejects.toMatchObject({ status: 429 });
    await Promise.all(waiting);
  });
});
