// The informer's in-memory copy of the watched objects, keyed "namespace/name", with indexes. Pure bookkeeping: it
// says which add/update/delete each change amounts to, so the informer only has to forward them. An update that
// carries the resourceVersion already stored is dropped, because watch reconnects and relists replay objects nobody
// changed. A relist is an upsert of every listed object, then removeMissing for the objects the list no longer
// has: one object at a time, so the informer can spread a relist of thousands over many turns of the event loop.
//
// Indexes answer "which objects have value v" without a scan: every object is filed under its namespace, under the
// values of the label keys it is asked to index, and under each value an index function returns for it (the Secrets a
// job references...). A scan per read made every Secret event and every reconcile cost O(objects), which thousands of
// objects cannot afford (docs/runtime.md, "Store").
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

/** Keys filed under one value: one key as itself, more as a Set (most values of most indexes name one object). */
type Bucket = string | Set<string>;

/** An index: value -> the keys of the objects filed under it. */
class Index {
  readonly #buckets = new Map<string, Bucket>();

  keys(value: string): Iterable<string> {
    const bucket = this.#buckets.get(value);
    return bucket === undefined ? [] : typeof bucket === "string" ? [bucket] : bucket;
  }

  add(value: string, key: string): void {
    const bucket = this.#buckets.get(value);
    if (bucket === undefined) this.#buckets.set(value, key);
    else if (typeof bucket === "string") {
      if (bucket !== key) this.#buckets.set(value, new Set([bucket, key]));
    } else bucket.add(key);
  }

  remove(value: string, key: string): void {
    const bucket = this.#buckets.get(value);
    if (bucket === key || (typeof bucket !== "string" && bucket?.delete(key) && bucket.size === 0)) {
      this.#buckets.delete(value);
    }
  }

  clear(): void {
    this.#buckets.clear();
  }
}

export interface StoreIndexes {
  /** Label keys to file objects by (the label's value). */
  labels?: readonly string[];
  /** Named index functions. What an object was filed under is remembered, so a function runs once per version. */
  indexes?: Record<string, IndexFunction>;
}

const single = (value: string | undefined): readonly string[] => (value === undefined ? [] : [value]);

export class Store {
  readonly #objects = new Map<string, KubernetesObject>();
  readonly #namespaces = new Index();
  /** label key -> index; filed under again from the old version on change (reading a label costs nothing) */
  readonly #labels = new Map<string, Index>();
  readonly #custom = new Map<string, { fn: IndexFunction; index: Index; filed: Map<string, readonly string[]> }>();

  constructor(opts: StoreIndexes = {}) {
    for (const key of opts.labels ?? []) this.#labels.set(key, new Index());
    for (const [name, fn] of Object.entries(opts.indexes ?? {})) {
      this.#custom.set(name, { fn, index: new Index(), filed: new Map() });
    }
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

  hasLabelIndex(key: string): boolean {
    return this.#labels.has(key);
  }

  /** Objects whose label `key` (an indexed one) is `value`. */
  byLabel(key: string, value: string): KubernetesObject[] {
    const index = this.#labels.get(key);
    if (!index) throw new Error(`no index of label ${key}`);
    return this.#resolve(index.keys(value));
  }

  /** Objects filed under `value` in index `name` (throws for an index it does not have). */
  byIndex(name: string, value: string): KubernetesObject[] {
    const custom = this.#custom.get(name);
    if (!custom) throw new Error(`no index ${name}`);
    return this.#resolve(custom.index.keys(value));
  }

  /** Objects in `namespace`. */
  inNamespace(namespace: string): KubernetesObject[] {
    return this.#resolve(this.#namespaces.keys(namespace));
  }

  #resolve(keys: Iterable<string>): KubernetesObject[] {
    return [...keys].map((key) => this.#objects.get(key) as KubernetesObject);
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
    this.#namespaces.clear();
    for (const index of this.#labels.values()) index.clear();
    for (const custom of this.#custom.values()) {
      custom.index.clear();
      custom.filed.clear();
    }
  }

  /** Files the object stored under `key` (`obj`, or none) anew; `old` is what was stored before. */
  #reindex(key: string, old: KubernetesObject | undefined, obj: KubernetesObject | undefined): void {
    refile(this.#namespaces, key, single(old?.metadata?.namespace), single(obj?.metadata?.namespace));
    for (const [label, index] of this.#labels) {
      refile(index, key, single(old?.metadata?.labels?.[label]), single(obj?.metadata?.labels?.[label]));
    }
    for (const { fn, index, filed } of this.#custom.values()) {
      const after = obj ? fn(obj) : [];
      refile(index, key, filed.get(key) ?? [], after);
      if (after.length > 0) filed.set(key, after);
      else filed.delete(key);
    }
  }
}

function refile(index: Index, key: string, before: readonly string[], after: readonly string[]): void {
  for (const value of before) if (!after.includes(value)) index.remove(value, key);
  for (const value of after) if (!before.includes(value)) index.add(value, key);
}
