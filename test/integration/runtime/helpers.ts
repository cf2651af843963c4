// Shared bits for the runtime integration tests: a quiet logger, a fresh metrics registry and condition polling.
import { setTimeout as delay } from "node:timers/promises";
import pino from "pino";
import { Registry } from "prom-client";

export const logger = pino({ level: process.env.LOG_LEVEL ?? "silent" });
export const registry = (): Registry => new Registry();

/** Polls `check` until it returns a value other than undefined/false; the timeout is generous, not a measurement. */
export async function waitFor<T>(
  what: string,
  check: () => T | Promise<T>,
  timeoutMs = 60_000,
): Promise<Exclude<T, false | undefined>> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const value = await check();
      if (value !== undefined && value !== false) return value as Exclude<T, false | undefined>;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${last ? `: ${String(last)}` : ""}`);
    await delay(100);
  }
}
