// The bounded FIFO queue in front of the limiter.
import { describe, expect, it } from "vitest";
import { AdmissionQueue, NeverFitsError, QueueFullError } from "../../../src/gateway/admission.ts";
import { SlidingWindowLimiter } from "../../../src/gateway/limiter.ts";

/** A request of `tokens` prompt tokens. */
const need = (tokens: number) => ({ promptTokens: tokens, completionTokens: 0 });

const queueOf = (maxConcurrency: number, maxWaiting: number, tokensPerMinute = 0) =>
  new AdmissionQueue(new SlidingWindowLimiter({ requestsPerMinute: 0, tokensPerMinute, maxConcurrency }), maxWaiting);

describe("AdmissionQueue", () => {
  it("admits waiters in arrival order as slots free up", async () => {
    const queue = queueOf(1, 10);
    const first = await queue.acquire(need(1));
    const order: number[] = [];
    const waiting = [1, 2, 3].map((n) =>
      queue.acquire(need(1)).then((ticket) => {
        order.push(n);
        return ticket;
      }),
    );
    expect(queue.waiting).toBe(3);
    queue.release(first);
    for (const promise of waiting) queue.release(await promise);
    expect(order).toEqual([1, 2, 3]);
  });

  it("refuses at once when the queue is full", async () => {
    const queue = queueOf(1, 1);
    await queue.acquire(need(1));
    void queue.acquire(need(1));
    await expect(queue.acquire(need(1))).rejects.toBeInstanceOf(QueueFullError);
  });

  it("drops a waiter whose client went away", async () => {
    const queue = queueOf(1, 5);
    const held = await queue.acquire(need(1));
    const gone = new AbortController();
    const abandoned = queue.acquire(need(1), gone.signal);
    const next = queue.acquire(need(1));
    gone.abort(new Error("client went away"));
    await expect(abandoned).rejects.toThrow("client went away");
    queue.release(held);
    await expect(next).resolves.toBeDefined();
    expect(queue.waiting).toBe(0);
  });

  it("refuses a request that can never fit the token limit", async () => {
    await expect(queueOf(0, 5, 100).acquire(need(101))).rejects.toBeInstanceOf(NeverFitsError);
  });
});
