// Cached objects are shared, not copied: the informer freezes each one before it is stored, and readers get the
// frozen object itself. A reader that tries to change one gets a TypeError (ES modules are strict) instead of
// silently corrupting what every other reader sees; copying on every read cost more than the reads (a job and its
// pods were cloned on every reconcile, and the jobs gauge cloned every job on every scrape).

/** Freezes `value` and everything reachable from it; returns it. */
export function deepFreeze<T>(value: T): T {
  if (typeof value !== "object" || value === null || Object.isFrozen(value)) return value;
  for (const key of Object.keys(value)) deepFreeze((value as Record<string, unknown>)[key]);
  return Object.freeze(value);
}

/**
 * True when two versions of an object differ in nothing but metadata.resourceVersion: an update a cache reader
 * cannot tell from the version it has (say, a pod status change in fields the cache does not keep).
 */
export function sameButVersion(a: unknown, b: unknown): boolean {
  return equal(a, b, 0);
}

function equal(a: unknown, b: unknown, depth: number): boolean {
  if (a === b) return true;
  if (typeof a !== "object" || typeof b !== "object" || a === null || b === null) return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  const ka = Object.keys(a);
  const kb = Object.keys(b);
  if (ka.length !== kb.length) return false;
  for (const k of ka) {
    if (!Object.hasOwn(b, k)) return false;
    // depth 1 is metadata when the walk started at the object
    if (depth === 1 && k === "resourceVersion") continue;
    const next = depth === 0 && k !== "metadata" ? 2 : depth + 1;
    if (!equal((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k], next)) return false;
  }
  return true;
}
