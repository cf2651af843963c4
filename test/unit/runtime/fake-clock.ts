// A manual clock for unit tests: time moves only when the test says so, and due timers run in deadline order.
import type { Cancel, Clock } from "../../../src/runtime/clock.ts";

export class FakeClock implements Clock {
  #now: number;
  #seq = 0;
  readonly #timers = new Map<number, { at: number; fn: () => void }>();

  constructor(start = 1_000_000) {
    this.#now = start;
  }

  now(): number {
    return this.#now;
  }

  after(ms: number, fn: () => void): Cancel {
    const id = this.#seq++;
    this.#timers.set(id, { at: this.#now + Math.max(0, ms), fn });
    return () => this.#timers.delete(id);
  }

  get pending(): number {
    return this.#timers.size;
  }

  /** Moves time forward by `ms`, running every timer that falls due on the way, in order. */
  advance(ms: number): void {
    const end = this.#now + ms;
    for (let next = this.#next(); next && next[1].at <= end; next = this.#next()) this.#fire(next);
    this.#now = end;
  }

  /** Jumps to the earliest timer and runs it; false when none is pending. */
  runNext(): boolean {
    const next = this.#next();
    if (!next) return false;
    this.#fire(next);
    return true;
  }

  #next(): [number, { at: number; fn: () => void }] | undefined {
    let best: [number, { at: number; fn: () => void }] | undefined;
    for (const entry of this.#timers) if (!best || entry[1].at < best[1].at) best = entry;
    return best;
  }

  #fire([id, timer]: [number, { at: number; fn: () => void }]): void {
    this.#timers.delete(id);
    this.#now = Math.max(this.#now, timer.at);
    timer.fn();
  }
}

/** Lets pending promise callbacks run (not a time wait: setImmediate fires after the microtask queue drains). */
export const settle = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));
