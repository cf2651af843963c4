// A work queue of string keys with client-go's guarantees: a key is queued at most once however often it is added
// (dirty set), a key is never handed to two workers at once (processing set: a key added while it is processed is
// queued again when `done` is called), delayed adds where the earliest pending deadline wins, and rate-limited
// re-adds for errors. `shutDown` drops queued keys but waits for the keys being processed.
import type { Cancel, Clock } from "./clock.ts";
import type { RateLimiter } from "./rate-limit.ts";

export class WorkQueue {
  readonly #clock: Clock;
  readonly #limiter: RateLimiter;
  readonly #onDepth: (depth: number) => void;
  readonly #queue: string[] = [];
  readonly #dirty = new Set<string>();
  readonly #processing = new Set<string>();
  readonly #waiting = new Map<string, { at: number; cancel: Cancel }>();
  readonly #getters: ((key: string | undefined) => void)[] = [];
  readonly #idle: (() => void)[] = [];
  #shuttingDown = false;

  constructor(clock: Clock, limiter: RateLimiter, onDepth: (depth: number) => void = () => {}) {
    this.#clock = clock;
    this.#limiter = limiter;
    this.#onDepth = onDepth;
  }

  get depth(): number {
    return this.#queue.length;
  }

  get shuttingDown(): boolean {
    return this.#shuttingDown;
  }

  add(key: string): void {
    if (this.#shuttingDown || this.#dirty.has(key)) return;
    this.#dirty.add(key);
    if (!this.#processing.has(key)) this.#enqueue(key); // else `done` queues it again
  }

  /** Adds `key` after `ms`; if an earlier add of `key` is already pending, that one stands. */
  addAfter(key: string, ms: number): void {
    if (this.#shuttingDown) return;
    if (ms <= 0) {
      this.add(key);
      return;
    }
    const at = this.#clock.now() + ms;
    const pending = this.#waiting.get(key);
    if (pending && pending.at <= at) return;
    pending?.cancel();
    const cancel = this.#clock.after(ms, () => {
      this.#waiting.delete(key);
      this.add(key);
    });
    this.#waiting.set(key, { at, cancel });
  }

  addRateLimited(key: string): void {
    this.addAfter(key, this.#limiter.when(key));
  }

  forget(key: string): void {
    this.#limiter.forget(key);
  }

  numRequeues(key: string): number {
    return this.#limiter.failures(key);
  }

  /** The next key to process, or undefined once the queue shuts down. Call `done(key)` when finished with it. */
  get(): Promise<string | undefined> {
    if (this.#shuttingDown) return Promise.resolve(undefined);
    const key = this.#queue.shift();
    if (key !== undefined) {
      this.#onDepth(this.#queue.length);
      return new Promise((resolve) => this.#hand(key, resolve));
    }
    return new Promise((resolve) => this.#getters.push(resolve));
  }

  done(key: string): void {
    this.#processing.delete(key);
    if (this.#dirty.has(key) && !this.#shuttingDown) this.#enqueue(key);
    if (this.#processing.size === 0) for (const resolve of this.#idle.splice(0)) resolve();
  }

  /** Stops handing out keys and resolves once every key being processed is done. */
  shutDown(): Promise<void> {
    this.#shuttingDown = true;
    for (const { cancel } of this.#waiting.values()) cancel();
    this.#waiting.clear();
    this.#queue.length = 0;
    this.#onDepth(0);
    for (const getter of this.#getters.splice(0)) getter(undefined);
    if (this.#processing.size === 0) return Promise.resolve();
    return new Promise((resolve) => this.#idle.push(resolve));
  }

  /** Gives `key` to a waiting worker if there is one, else queues it. */
  #enqueue(key: string): void {
    const getter = this.#getters.shift();
    if (getter) this.#hand(key, getter);
    else {
      this.#queue.push(key);
      this.#onDepth(this.#queue.length);
    }
  }

  #hand(key: string, to: (key: string) => void): void {
    this.#dirty.delete(key);
    this.#processing.add(key);
    to(key);
  }
}
