import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { WorkQueue } from "../../../src/runtime/queue.ts";
import { RateLimiter } from "../../../src/runtime/rate-limit.ts";
import { FakeClock, settle } from "./fake-clock.ts";

const newQueue = (clock = new FakeClock()) => new WorkQueue(clock, new RateLimiter(clock, { bucket: false }));

describe("WorkQueue", () => {
  it("queues a key once however often it is added, in first-add order", async () => {
    const q = newQueue();
    for (const k of ["a", "b", "a", "c", "b"]) q.add(k);
    expect(q.depth).toBe(3);
    expect([await q.get(), await q.get(), await q.get()]).toEqual(["a", "b", "c"]);
  });

  it("re-queues a key added while it is processed only after done, so no two workers hold it", async () => {
    const q = newQueue();
    q.add("a");
    const key = await q.get();
    q.add("a");
    expect(q.depth).toBe(0); // held back while "a" is processed
    let second: string | undefined;
    void q.get().then((k) => {
      second = k;
    });
    await settle();
    expect(second).toBeUndefined();
    q.done(key!);
    await settle();
    expect(second).toBe("a");
  });

  it("lets the earliest pending addAfter win", () => {
    const clock = new FakeClock();
    const q = newQueue(clock);
    q.addAfter("a", 1000);
    q.addAfter("a", 100);
    q.addAfter("a", 5000);
    clock.advance(99);
    expect(q.depth).toBe(0);
    clock.advance(1);
    expect(q.depth).toBe(1);
    expect(clock.pending).toBe(0); // the later timers were replaced, not stacked
  });

  it("backs a failing key off exponentially and resets after forget", () => {
    const clock = new FakeClock();
    const q = newQueue(clock);
    const readyAfter = (): number => {
      const start = clock.now();
      q.addRateLimited("a");
      clock.runNext();
      return clock.now() - start;
    };
    expect([readyAfter(), readyAfter(), readyAfter()]).toEqual([5, 10, 20]);
    expect(q.numRequeues("a")).toBe(3);
    q.forget("a");
    expect(readyAfter()).toBe(5);
  });

  it("shutDown wakes idle workers, drops queued keys and waits for in-flight ones", async () => {
    const q = newQueue();
    const idle = q.get();
    q.add("a"); // handed straight to the idle worker
    expect(await idle).toBe("a");
    q.add("b");
    let stopped = false;
    const stopping = q.shutDown().then(() => {
      stopped = true;
    });
    expect(await q.get()).toBeUndefined();
    await settle();
    expect(stopped).toBe(false); // "a" is still being processed
    q.done("a");
    await stopping;
    q.add("c");
    expect(q.depth).toBe(0);
  });
});

// A model of a controller: `workers` loops take keys, "work" for a while on the fake clock, then succeed, fail
// (rate-limited re-add) or ask for a requeue-after. Commands add keys and move time.
type Command = { op: "add"; key: string } | { op: "addAfter"; key: string; ms: number } | { op: "tick"; ms: number };

const keyArb = fc.constantFrom("a", "b", "c", "d");
const commandArb: fc.Arbitrary<Command> = fc.oneof(
  fc.record({ op: fc.constant("add" as const), key: keyArb }),
  fc.record({ op: fc.constant("addAfter" as const), key: keyArb, ms: fc.integer({ min: 0, max: 500 }) }),
  fc.record({ op: fc.constant("tick" as const), ms: fc.integer({ min: 0, max: 200 }) }),
);

describe("WorkQueue under concurrent workers (property)", () => {
  it("never runs a key twice at once and eventually processes every add", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(commandArb, { maxLength: 40 }),
        fc.integer({ min: 1, max: 4 }),
        fc.array(fc.constantFrom("ok", "error", "requeue"), { minLength: 1, maxLength: 20 }),
        fc.array(fc.integer({ min: 0, max: 50 }), { minLength: 1, maxLength: 20 }),
        async (commands, workers, outcomes, durations) => {
          const clock = new FakeClock();
          const q = newQueue(clock);
          const running = new Set<string>();
          const lastAdd = new Map<string, number>();
          const lastStart = new Map<string, number>();
          const errors = new Map<string, number>();
          let seq = 0;
          let n = 0;
          const loops = Array.from({ length: workers }, async () => {
            for (let key = await q.get(); key !== undefined; key = await q.get()) {
              expect(running.has(key)).toBe(false);
              running.add(key);
              lastStart.set(key, ++seq);
              const i = n++;
              await new Promise<void>((resolve) => clock.after(durations[i % durations.length]!, resolve));
              running.delete(key);
              // Errors stop after three per key so that everything drains.
              const outcome = outcomes[i % outcomes.length];
              if (outcome === "error" && (errors.get(key) ?? 0) < 3) {
                errors.set(key, (errors.get(key) ?? 0) + 1);
                q.addRateLimited(key);
              } else {
                q.forget(key);
                if (outcome === "requeue" && (errors.get(key) ?? 0) < 3) {
                  errors.set(key, (errors.get(key) ?? 0) + 1);
                  q.addAfter(key, 100);
                }
              }
              q.done(key);
            }
          });
          for (const c of commands) {
            if (c.op === "add") {
              lastAdd.set(c.key, ++seq);
              q.add(c.key);
            } else if (c.op === "addAfter") {
              lastAdd.set(c.key, ++seq);
              q.addAfter(c.key, c.ms);
            } else clock.advance(c.ms);
            await settle();
          }
          for (let guard = 0; guard < 10_000 && (clock.pending > 0 || q.depth > 0); guard++) {
            clock.runNext();
            await settle();
          }
          for (const [key, added] of lastAdd) expect(lastStart.get(key) ?? 0).toBeGreaterThan(added);
          expect(running.size).toBe(0);
          await q.shutDown();
          await Promise.all(loops);
        },
      ),
      { numRuns: 150 },
    );
  });
});
