// The exact sliding window both sides run, on a fake clock: what the gateway's limiter and the operator's allowance
// books rely on beyond one request a charge (limiter.test.ts checks that through the limiter).
import { describe, expect, it } from "vitest";
import { SlidingWindow } from "../../../src/contract/sliding-window.ts";

describe("SlidingWindow", () => {
  it("lets a charge go only while the window has room, and says when it will", () => {
    const w = new SlidingWindow(60_000, 10, 0);
    expect(w.tryCharge(0, 6, 0)).toMatchObject({ requests: 6 });
    expect(w.tryCharge(1000, 6, 0)).toEqual({ waitMs: 59_000 }); // once the first charge leaves the window
    expect(w.tryCharge(60_000, 6, 0)).toMatchObject({ requests: 6, at: 60_000 });
  });

  it("never fits what is larger than the limit", () => {
    expect(new SlidingWindow(60_000, 0, 100).waitMs(0, 1, 101)).toBe(Number.POSITIVE_INFINITY);
  });

  it("charges what was sent earlier at the time it was sent, and what a charge really used once settled", () => {
    const w = new SlidingWindow(65_000, 100, 1000);
    w.record(10_000, 50, 0);
    w.record(5_000, 40, 0); // learnt late: still ordered by time, and leaves the window first
    expect(w.room(20_000).requests).toBe(10);
    expect(w.room(70_000).requests).toBe(50); // the earlier one left, the later stays
    const grant = w.record(70_000, 30, 600);
    w.settle(grant, 5, 100);
    expect(w.room(70_000)).toEqual({ requests: 45, tokens: 900 });
  });

  it("settles nothing once a charge has left the window", () => {
    const w = new SlidingWindow(1000, 10, 0);
    const charge = w.record(0, 5, 0);
    expect(w.room(1000).requests).toBe(10);
    w.settle(charge, 1, 0);
    expect(w.room(1000).requests).toBe(10);
  });

  it("follows a lowered limit at once, with no room until enough has left", () => {
    const w = new SlidingWindow(60_000, 10, 0);
    w.record(0, 8, 0);
    w.requestsPerWindow = 5;
    expect(w.room(1000).requests).toBe(0);
    expect(w.waitMs(1000, 1, 0)).toBe(59_000);
  });
});
