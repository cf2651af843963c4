// The informer's in-memory copy of the watched objects, keyed "namespace/name", with indexes. Pure bookkeeping: it
// says which add/update/delete each change amounts to, so the informer only has to forward them. An update that
// carries the resourceVersion already stored is dropped, because watch reconnects and relists replay objects nobody
// changed. A relist is an upsert of every listed object, then removeMissing for the objects the list no longer
// has: one object at a time, so the informer can spread a relist of thousands over many turns of the event loop.
//
// Indexes answer "which objects have value v" without a scan: every object is filed under its namespace, and under
// each value an index function returns for it (a label's value, the Secrets a job references...). A scan per read
// was fine for hundreds of objects; with thousands it made every Secret event and every reconcile cost
// O(objects) (issue 13: a resync of 1,000 jobs held the event loop for 90 s).
import type { KubernetesObject } from "@kubernetes/client-node";

export type ChangeType = "add" | "update" | "delete";

export interface Change {
  type: ChangeType;
  obj: KubernetesObject;
  /** The stored object this change replaced or deleted. */
  old?: KubernetesObject;
}

/** The values an object is filed under in one index (none: not in it). */
export type IndexFunction = (obj: KubernetesObject) => readonly string[];

export function storeKey(namespace: string | undefined, name: string | undefined): string {
  return `${namespace ?? ""}/${name ?? ""}`;
}

export const keyOf = (obj: KubernetesObject): string => storeKey(obj.metadata?.namespace, obj.metadata?.name);

/** The index of a label key: objects filed under the label's value. */
export const labelIndex =
  (key: string): IndexFunction =>
  (obj) => {
    const value = obj.metadata?.labels?.[key];
    return value === undefined ? [] : [value];
  };

const NAMESPACE = "\u0000namespace";

export class Store {
  readonly #objects = new Map<string, KubernetesObject>();
  readonly #indexers: Map<string, IndexFunction>;
  /** index name -> value -> keys of the objects filed under it */
  readonly #indexes = new Map<string, Map<string, Set<string>>>();
  /** key -> the values the object is filed under, per index (in #indexers order) */
  readonly #filed = new Map<string, (readonly string[])[]>();

  constructor(indexers: Record<string, IndexFunction> = {}) {
    this.#indexers = new Map([[NAMESPACE, (obj) => [obj.metadata?.namespace ?? ""]], ...Object.entries(indexers)]);
    for (const name of this.#indexers.keys()) this.#indexes.set(name, new Map());
  }

  get(namespace: string, name: string): KubernetesObject | undefined {
    return this.#objects.get(storeKey(namespace, name));
  }

  values(): IterableIterator<KubernetesObject> {
    return this.#objects.values();
  }

  get size(): number {
    return this.#objects.size;
  }

  hasIndex(name: string): boolean {
    return this.#indexers.has(name);
  }

  /** Objects filed under `value` in index `name` (throws for an index it does not have). */
  byIndex(name: string, value: string): KubernetesObject[] {
    const index = this.#indexes.get(name);
    if (!index) throw new Error(`no index ${name}`);
    return [...(index.get(value) ?? [])].map((key) => this.#objects.get(key) as KubernetesObject);
  }

  /** Objects in `namespace`. */
  inNamespace(namespace: string): KubernetesObject[] {
    return this.byIndex(NAMESPACE, namespace);
  }

  upsert(obj: KubernetesObject): Change | undefined {
    const key = keyOf(obj);
    const old = this.#objects.get(key);
    this.#objects.set(key, obj);
    this.#reindex(key, old, obj);
    if (!old) return { type: "add", obj };
    const rv = obj.metadata?.resourceVersion;
    if (rv !== undefined && rv === old.metadata?.resourceVersion) return undefined;
    return { type: "update", obj, old };
  }

  remove(obj: KubernetesObject): Change | undefined {
    const key = keyOf(obj);
    const old = this.#objects.get(key);
    if (!old) return undefined;
    this.#objects.delete(key);
    this.#reindex(key, old, undefined);
    return { type: "delete", obj, old };
  }

  /**
   * Completes a relist: after every listed object was upserted, deletes the objects the list did not have (their
   * keys are not in `listed`), with their last known state.
   */
  removeMissing(listed: ReadonlySet<string>): Change[] {
    const gone = [...this.#objects].filter(([key]) => !listed.has(key)).map(([, obj]) => obj);
    return gone.map((obj) => this.remove(obj) as Change);
  }

  clear(): void {
    this.#objects.clear();
    this.#filed.clear();
    for (const index of this.#indexes.values()) index.clear();
  }

  /** Files the object stored under `key` (`obj`, or none) anew; `old` is what was stored before. */
  #reindex(key: string, old: KubernetesObject | undefined, obj: KubernetesObject | undefined): void {
    const previous = this.#filed.get(key);
    const now: (readonly string[])[] = [];
    let i = 0;
    for (const [name, fn] of this.#indexers) {
      const index = this.#indexes.get(name) as Map<string, Set<string>>;
      // What the old version was filed under is remembered, not recomputed (an index function may be costly).
      const before = old ? (previous?.[i] ?? []) : [];
      const after = obj ? fn(obj) : [];
      now.push(after);
      i++;
      for (const value of before) {
        if (after.includes(value)) continue;
        const keys = index.get(value);
        keys?.delete(key);
        if (keys?.size === 0) index.delete(value);
      }
      for (const value of after) {
        if (before.includes(value)) continue;
        const keys = index.get(value);
        if (keys) keys.add(key);
        else index.set(value, new Set([key]));
      }
    }
    if (obj) this.#filed.set(key, now);
    else this.#filed.delete(key);
  }
}
