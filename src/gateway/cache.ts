// A bounded in-memory cache for deterministic requests (temperature 0, not streamed): the judge often scores the same
// conversation again. Least recently used entries go first; keys are hashes so a large prompt is not kept twice.
import { createHash } from "node:crypto";

/** The request as sent upstream (model mapped, defaults applied) and its JSON; undefined when it must not be cached. */
export function cacheKey(body: { temperature?: unknown; stream?: unknown }, payload: string): string | undefined {
  if (body.temperature !== 0 || body.stream === true) return undefined;
  return createHash("sha256").update(payload).digest("base64url");
}

export class LruCache<V> {
  private readonly entries = new Map<string, V>();
  private readonly capacity: number;

  constructor(capacity: number) {
    this.capacity = capacity;
  }

  get size(): number {
    return this.entries.size;
  }

  get(key: string): V | undefined {
    const value = this.entries.get(key);
    if (value !== undefined) {
      // Map keeps insertion order: re-inserting marks the entry most recently used.
      this.entries.delete(key);
      this.entries.set(key, value);
    }
    return value;
  }

  set(key: string, value: V): void {
    this.entries.delete(key);
    this.entries.set(key, value);
    if (this.entries.size > this.capacity) this.entries.delete(this.entries.keys().next().value!);
  }
}
