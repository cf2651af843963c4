// Writes, one request each, raw JSON in and out, with the content type always explicit (the generated clients
// default status patches to JSON Patch, as @kubernetes/client-node 2.0 does):
// - applyObject: server-side apply of a whole object under a named field manager;
// - patchStatus: server-side apply to the /status subresource, so each manager owns exactly the status fields it
//   sends and a field it stops sending is removed (a merge patch would leave it behind);
// - deleteObject: delete that treats "already gone" as success.
import type { KubernetesObject } from "@kubernetes/client-node";
import { type ObjectRef, resourcePath } from "./discovery.ts";
import { request, statusCode } from "./http.ts";
import type { KubeConfig } from "./kubeconfig.ts";

const APPLY = "application/apply-patch+yaml"; // JSON is YAML, so the body is plain JSON

export interface ApplyOptions {
  /** Take over fields another manager owns instead of failing with 409 Conflict. Default true (controllers own their fields). */
  force?: boolean;
  signal?: AbortSignal;
}

function refOf(obj: KubernetesObject): ObjectRef {
  if (!obj.apiVersion || !obj.kind || !obj.metadata?.name)
    throw new Error("apply needs apiVersion, kind and metadata.name");
  return { apiVersion: obj.apiVersion, kind: obj.kind, name: obj.metadata.name, namespace: obj.metadata.namespace };
}

/** Server-side applies `obj` (the complete intent of `fieldManager`) and returns the object as stored. */
export async function applyObject<T extends KubernetesObject>(
  kc: KubeConfig,
  obj: T,
  fieldManager: string,
  opts: ApplyOptions = {},
): Promise<T> {
  return request<T>(kc, {
    method: "PATCH",
    path: await resourcePath(kc, refOf(obj)),
    query: { fieldManager, force: opts.force ?? true },
    body: obj,
    contentType: APPLY,
    signal: opts.signal,
  });
}

/**
 * Server-side applies `status` to the /status subresource of `ref` under `fieldManager`; the object's spec and
 * metadata are never touched. Use one field manager per writer (say, "status" and "progress").
 */
export async function patchStatus<T extends KubernetesObject>(
  kc: KubeConfig,
  ref: ObjectRef,
  status: unknown,
  fieldManager: string,
  opts: ApplyOptions = {},
): Promise<T> {
  const body = {
    apiVersion: ref.apiVersion,
    kind: ref.kind,
    metadata: { name: ref.name, ...(ref.namespace ? { namespace: ref.namespace } : {}) },
    status,
  };
  return request<T>(kc, {
    method: "PATCH",
    path: await resourcePath(kc, ref, "status"),
    query: { fieldManager, force: opts.force ?? true },
    body,
    contentType: APPLY,
    signal: opts.signal,
  });
}

export interface DeleteOptions {
  /** Default "Background": the object goes at once and the garbage collector removes its dependents. */
  propagationPolicy?: "Background" | "Foreground" | "Orphan";
  /** Delete only this incarnation of the object (guards against deleting a re-created namesake). */
  uid?: string;
  signal?: AbortSignal;
}

/** Deletes `ref`; returns false if it was already gone. */
export async function deleteObject(kc: KubeConfig, ref: ObjectRef, opts: DeleteOptions = {}): Promise<boolean> {
  try {
    await request(kc, {
      method: "DELETE",
      path: await resourcePath(kc, ref),
      body: {
        apiVersion: "v1",
        kind: "DeleteOptions",
        propagationPolicy: opts.propagationPolicy ?? "Background",
        ...(opts.uid ? { preconditions: { uid: opts.uid } } : {}),
      },
      signal: opts.signal,
    });
    return true;
  } catch (err) {
    if (statusCode(err) === 404) return false;
    throw err;
  }
}
