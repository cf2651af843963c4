// One WATCH request on the runtime's pooled connection: newline-delimited JSON events until the server ends the
// stream, the caller aborts, or the connection fails. Deciding what an ending means (rewatch, relist, back off) and
// noticing silence is the informer's business; this only reads the stream.
import type { KubernetesObject } from "@kubernetes/client-node";
import { ApiError, readBody, send } from "./http.ts";
import type { KubeConfig } from "./kubeconfig.ts";

export interface WatchEvent {
  type: "ADDED" | "MODIFIED" | "DELETED" | "BOOKMARK" | "ERROR";
  /** The object, or a Status for ERROR (its `code` 410 means the resourceVersion is too old). */
  object: KubernetesObject & { code?: number; message?: string };
}

export interface WatchHandlers {
  event(e: WatchEvent): void;
  /** Called once: without an error when the server ended the stream, with one otherwise. Not called after abort(). */
  done(err?: unknown): void;
}

/** Starts a watch of `path` (a collection) with `query` (resourceVersion, selectors, ...); returns abort(). */
export function watch(
  kc: KubeConfig,
  path: string,
  query: Record<string, string | number | boolean | undefined>,
  on: WatchHandlers,
): () => void {
  const abort = new AbortController();
  let finished = false;
  const finish = (err?: unknown) => {
    if (finished || abort.signal.aborted) return;
    finished = true;
    on.done(err);
  };
  send(kc, { method: "GET", path, query: { ...query, watch: true }, signal: abort.signal }).then(
    async (res) => {
      if (res.statusCode !== 200) {
        const text = await readBody(res).catch(() => "");
        let body: unknown = text;
        try {
          body = JSON.parse(text);
        } catch {}
        finish(new ApiError(res.statusCode ?? 0, `WATCH ${path}`, body));
        return;
      }
      let buffered = "";
      res.setEncoding("utf8");
      res.on("data", (chunk: string) => {
        buffered += chunk;
        let start = 0;
        for (let nl = buffered.indexOf("\n"); nl >= 0; nl = buffered.indexOf("\n", start)) {
          const line = buffered.slice(start, nl);
          start = nl + 1;
          if (line.trim() === "" || finished || abort.signal.aborted) continue;
          let parsed: WatchEvent;
          try {
            parsed = JSON.parse(line) as WatchEvent;
          } catch (err) {
            res.destroy();
            finish(new Error(`WATCH ${path}: undecodable event: ${String(err)}`));
            return;
          }
          on.event(parsed);
        }
        buffered = buffered.slice(start);
      });
      res.on("end", () => finish());
      res.on("error", (err) => finish(err));
      // A connection that drops mid-stream may end with neither: `complete` says whether the server finished it.
      res.on("close", () => finish(res.complete ? undefined : new Error(`WATCH ${path}: connection lost`)));
    },
    (err: unknown) => finish(err),
  );
  return () => abort.abort();
}
