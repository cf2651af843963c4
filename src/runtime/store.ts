// The informer's in-memory copy of the watched objects, keyed "namespace/name". Pure bookkeeping: it says which
// add/update/delete each change amounts to, so the informer only has to forward them. An update that carries the
// resourceVersion already stored is dropped, because watch reconnects and relists replay objects nobody changed.
import type { KubernetesObject } from "@kubernetes/client-node";

export type ChangeType = "add" | "update" | "delete";

export interface Change {
  type: ChangeType;
  obj: KubernetesObject;
  /** The stored object this change replaced or deleted. */
  old?: KubernetesObject;
}

export function storeKey(namespace: string | undefined, name: string | undefined): string {
  return `${namespace ?? ""}/${name ?? ""}`;
}

const keyOf = (obj: KubernetesObject): string => storeKey(obj.metadata?.namespace, obj.metadata?.name);

export class Store {
  #objects = new Map<string, KubernetesObject>();

  get(namespace: string, name: string): KubernetesObject | undefined {
    return this.#objects.get(storeKey(namespace, name));
  }

  values(): IterableIterator<KubernetesObject> {
    return this.#objects.values();
  }

  get size(): number {
    return this.#objects.size;
  }

  upsert(obj: KubernetesObject): Change | undefined {
    const key = keyOf(obj);
    const old = this.#objects.get(key);
    this.#objects.set(key, obj);
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
    return { type: "delete", obj, old };
  }

  /** Replaces the contents with a fresh LIST; objects missing from it are deleted with their last known state. */
  replace(items: KubernetesObject[]): Change[] {
    const changes: Change[] = [];
    const fresh = new Map(items.map((obj) => [keyOf(obj), obj]));
    for (const [key, old] of this.#objects) if (!fresh.has(key)) changes.push({ type: "delete", obj: old, old });
    const previous = this.#objects;
    this.#objects = new Map();
    for (const [key, obj] of fresh) {
      this.#objects.set(key, obj);
      const old = previous.get(key);
      if (!old) changes.push({ type: "add", obj });
      else if (obj.metadata?.resourceVersion !== old.metadata?.resourceVersion)
        changes.push({ type: "update", obj, old });
    }
    return changes;
  }
}
