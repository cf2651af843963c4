// One report of a job at a time: each reads the usage ledger the previous one wrote. Every report has a deadline;
// one that misses it gives way to the next, so a report stuck on a write never stops the job's later ones.
import { HttpError } from "./http.ts";

/** Reports of one job that may wait at once; the gateways send one per process every few seconds. */
const MAX_WAITING = 64;

/**
 * Runs each job's work one at a time, in order. The report endpoint hands a report over only once its body has arrived
 * whole, so a slow, endless or oversized body delays nobody else's report.
 */
export class SerialByJob {
  readonly #tails = new Map<string, { tail: Promise<unknown>; waiting: number }>();

  run<T>(key: string, deadline: number, work: (signal: AbortSignal) => Promise<T>): Promise<T> {
    const line = this.#tails.get(key) ?? { tail: Promise.resolve(), waiting: 0 };
    if (line.waiting >= MAX_WAITING) {
      return Promise.reject(
        new HttpError(429, `${MAX_WAITING} reports of this job are waiting already`, { "retry-after": "5" }),
      );
    }
    line.waiting++;
    const result = line.tail.then(() => withDeadline(deadline, work));
    line.tail = result.catch(() => undefined);
    this.#tails.set(key, line);
    const done = () => {
      line.waiting--;
      if (line.waiting === 0 && this.#tails.get(key) === line) this.#tails.delete(key);
    };
    result.then(done, done);
    return result;
  }
}

/** Runs `work` with a signal that aborts at the deadline, and settles by then whatever `work` does. */
function withDeadline<T>(deadline: number, work: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const remaining = deadline - Date.now();
  if (remaining <= 0) return Promise.reject(new HttpError(503, "the report waited too long behind others of its job"));
  const controller = new AbortController();
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => {
      controller.abort();
      reject(new HttpError(503, "the report could not be applied in time; the next one will carry the same counters"));
    }, remaining);
    work(controller.signal).then(
      (value) => {
        clearTimeout(timer);
        resolve(value);
      },
      (error: unknown) => {
        clearTimeout(timer);
        reject(error);
      },
    );
  });
}
