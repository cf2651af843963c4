// Cached objects are shared, not copied: the informer freezes each one before it is stored, and readers get the
// frozen object itself. A reader that tries to change one gets a TypeError (ES modules are strict) instead of
// silently corrupting what every other reader sees; copying on every read cost more than the reads (a job and its
// pods were cloned on every reconcile, and the jobs gauge cloned every job on every scrape).
//
// Their strings are shared too. JSON.parse makes a new copy of every string value, and cached objects repeat the same
// ones thousands of times: label keys and values, condition types and reasons, kinds, namespaces, node and container
// names, timestamps of the same second, and whole files (the scripts and configs in a job's ConfigMap are the same for
// most jobs, so thousands of jobs hold a few distinct ones: docs/runtime.md). `share` replaces each string by V8's
// internalized copy (the one property names use), whose table is weak: a string no object holds any more is
// collected as before.

/** Freezes `value` and everything reachable from it; returns it. */
export function deepFreeze<T>(value: T): T {
  if (typeof value !== "object" || value === null || Object.isFrozen(value)) return value;
  for (const key of Object.keys(value)) deepFreeze((value as Record<string, unknown>)[key]);
  return Object.freeze(value);
}

/** Strings longer than this are left alone: hashing a blob this size costs more than a copy of it is likely to. */
const SHARE_MAX_LENGTH = 64 * 1024;

/** The internalized copy of `s`: the same characters, one instance per process. */
function internalized(s: string): string {
  return Object.keys({ [s]: 0 })[0] as string;
}

/** Names the fields of an object that are computed on read (transform.ts `sharedLines`): a walk leaves them alone. */
export const COMPUTED: unique symbol = Symbol("fields computed on read");

/** deepFreeze that also makes every string value the process-wide shared copy; returns `value`. */
export function share<T>(value: T): T {
  if (typeof value === "string") return (value.length <= SHARE_MAX_LENGTH ? internalized(value) : value) as T;
  if (typeof value !== "object" || value === null || Object.isFrozen(value)) return value;
  const obj = value as Record<string | symbol, unknown>;
  const computed = obj[COMPUTED] as readonly string[] | undefined;
  for (const key of Object.keys(obj)) {
    if (computed?.includes(key)) continue;
    const v = obj[key];
    obj[key] = typeof v === "string" || (typeof v === "object" && v !== null) ? share(v) : v;
  }
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
