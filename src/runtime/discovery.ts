// Maps apiVersion + kind to a REST path through API discovery, so writes work for any kind, built-in or custom,
// without the typed clients. Results are cached per KubeConfig; an unknown kind refetches once, since a CRD may have
// been installed after the first lookup.
import { request, statusCode } from "./http.ts";
import type { KubeConfig } from "./kubeconfig.ts";

export interface ObjectRef {
  apiVersion: string;
  kind: string;
  name: string;
  /** Omit for cluster-scoped kinds. */
  namespace?: string;
}

interface Resource {
  name: string;
  kind: string;
  namespaced: boolean;
}

const cache = new WeakMap<KubeConfig, Map<string, Map<string, Resource>>>();

async function resources(kc: KubeConfig, apiVersion: string, refresh: boolean): Promise<Map<string, Resource>> {
  const perKc = cache.get(kc) ?? new Map<string, Map<string, Resource>>();
  cache.set(kc, perKc);
  const known = perKc.get(apiVersion);
  if (known && !refresh) return known;
  const base = apiVersion.includes("/") ? `/apis/${apiVersion}` : `/api/${apiVersion}`;
  const list = await request<{ resources: Resource[] }>(kc, { method: "GET", path: base });
  // Subresources ("pods/status") share the kind of their parent; keep only the top-level resource.
  const byKind = new Map(list.resources.filter((r) => !r.name.includes("/")).map((r) => [r.kind, r]));
  perKc.set(apiVersion, byKind);
  return byKind;
}

/** The path of `ref` (or of its collection when `name` is empty), e.g. /apis/apps/v1/namespaces/ns/deployments/x. */
export async function resourcePath(kc: KubeConfig, ref: ObjectRef, subresource?: string): Promise<string> {
  let resource = (await resources(kc, ref.apiVersion, false)).get(ref.kind);
  resource ??= (await resources(kc, ref.apiVersion, true)).get(ref.kind);
  if (!resource) throw new Error(`the apiserver does not serve kind ${ref.kind} in ${ref.apiVersion}`);
  const base = ref.apiVersion.includes("/") ? `/apis/${ref.apiVersion}` : `/api/${ref.apiVersion}`;
  if (resource.namespaced && !ref.namespace) throw new Error(`${ref.kind} ${ref.name} needs a namespace`);
  const ns = resource.namespaced ? `/namespaces/${encodeURIComponent(ref.namespace!)}` : "";
  const name = ref.name ? `/${encodeURIComponent(ref.name)}` : "";
  return `${base}${ns}/${resource.name}${name}${subresource ? `/${subresource}` : ""}`;
}

/**
 * Whether the apiserver serves `kind` in `apiVersion` (an API group version that is not served answers 404). Read
 * afresh: a component installed since the last lookup counts.
 */
export async function serves(kc: KubeConfig, apiVersion: string, kind: string): Promise<boolean> {
  try {
    return (await resources(kc, apiVersion, true)).has(kind);
  } catch (err) {
    if (statusCode(err) === 404) return false;
    throw err;
  }
}
