// Work derived from an object, done once per version of it. A resourceVersion names one immutable state of an
// object, so whatever a pure function computes from that state (a parsed and defaulted spec, the Secrets it
// references) holds until the version changes. Reconciles of an unchanged job (woken by its children, a Secret, a
// resync) and the informer's index functions then share one parse instead of repeating it.
import type { KubernetesObject } from "@kubernetes/client-node";
import { deepFreeze } from "./immutable.ts";

export interface VersionMemoOptions {
  /** Objects remembered at most; the least recently used go first. Default 10,000. */
  max?: number;
}

export class VersionMemo<T> {
  readonly #fn: (obj: KubernetesObject) => T;
  readonly #max: number;
  /** identity -> the last version seen and what it computed; Map order is recency. */
  readonly #entries = new Map<string, { version: string; value: T }>();

  constructor(fn: (obj: KubernetesObject) => T, opts: VersionMemoOptions = {}) {
    this.#fn = fn;
    this.#max = opts.max ?? 10_000;
  }

  /**
   * `fn(obj)`, computed once per uid and resourceVersion and frozen, since every caller shares it. Objects without a
   * resourceVersion (not from the apiserver) are computed every time.
   */
  get(obj: KubernetesObject): T {
    const version = obj.metadata?.resourceVersion;
    if (!version) return this.#fn(obj);
    const id = identity(obj);
    const hit = this.#entries.get(id);
    if (hit) {
      this.#entries.delete(id);
      this.#entries.set(id, hit);
      if (hit.version === version) return hit.value;
    }
    const value = deepFreeze(this.#fn(obj));
    this.#entries.delete(id);
    this.#entries.set(id, { version, value });
    if (this.#entries.size > this.#max) this.#entries.delete(this.#entries.keys().next().value as string);
    return value;
  }

  /** Forgets an object (say, deleted). */
  forget(obj: KubernetesObject): void {
    this.#entries.delete(identity(obj));
  }

  get size(): number {
    return this.#entries.size;
  }
}

const identity = (obj: KubernetesObject) =>
  obj.metadata?.uid ?? `${obj.kind}/${obj.metadata?.namespace ?? ""}/${obj.metadata?.name ?? ""}`;
