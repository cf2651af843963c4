// The benchmark's own client for the local control plane: raw JSON over HTTPS with keep-alive connections, the admin
// client certificate from .cluster/kubeconfig, nothing else. It drives the workload, observes the outcome through
// watches, and plays the "plain client" baseline, so it shares no code with the operator's runtime: a slow runtime
// transport cannot slow its own baseline down and hide in the ratio.
import { readFileSync } from "node:fs";
import { Agent, request } from "node:https";
import { parse } from "yaml";

export interface KubeObject {
  apiVersion?: string;
  kind?: string;
  metadata: {
    name: string;
    namespace?: string;
    uid?: string;
    resourceVersion?: string;
    labels?: Record<string, string>;
    [k: string]: unknown;
  };
  [k: string]: unknown;
}

export class HttpError extends Error {
  readonly status: number;
  readonly body: string;
  constructor(status: number, body: string) {
    super(`HTTP ${status}: ${body.slice(0, 300)}`);
    this.status = status;
    this.body = body;
  }
}

export interface WatchHandle {
  stop(): void;
  /** Resolves once the server accepted the watch (response headers arrived). */
  started: Promise<void>;
}

export class Kube {
  readonly #server: URL;
  readonly #agent: Agent;

  constructor(kubeconfig: string) {
    const config = parse(readFileSync(kubeconfig, "utf8"));
    const cluster = config.clusters[0].cluster;
    const user = config.users[0].user;
    this.#server = new URL(cluster.server);
    this.#agent = new Agent({
      keepAlive: true,
      maxSockets: 256,
      ca: readFileSync(cluster["certificate-authority"]),
      cert: readFileSync(user["client-certificate"]),
      key: readFileSync(user["client-key"]),
    });
  }

  /**
   * One request; resolves to the parsed JSON body, rejects with HttpError on a non-2xx status. A request that could
   * not connect (the apiserver restarting) is tried again for up to a minute.
   */
  async send<T = KubeObject>(
    method: string,
    path: string,
    body?: unknown,
    contentType = "application/json",
    accept = "application/json",
  ): Promise<T> {
    for (let attempt = 0; ; attempt++) {
      try {
        return await this.#sendOnce<T>(method, path, body, contentType, accept);
      } catch (err) {
        if ((err as { code?: string }).code !== "ECONNREFUSED" || attempt >= 60) throw err;
        await new Promise((resolve) => setTimeout(resolve, 1000));
      }
    }
  }

  #sendOnce<T>(
    method: string,
    path: string,
    body?: unknown,
    contentType = "application/json",
    accept = "application/json",
  ): Promise<T> {
    return new Promise((resolve, reject) => {
      const payload = body === undefined ? undefined : JSON.stringify(body);
      const req = request(
        {
          host: this.#server.hostname,
          port: this.#server.port,
          method,
          path,
          agent: this.#agent,
          headers: {
            accept,
            ...(payload !== undefined
              ? { "content-type": contentType, "content-length": Buffer.byteLength(payload) }
              : {}),
          },
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on("data", (c: Buffer) => chunks.push(c));
          res.on("end", () => {
            const text = Buffer.concat(chunks).toString("utf8");
            const status = res.statusCode ?? 0;
            if (status < 200 || status >= 300) reject(new HttpError(status, text));
            else resolve((text ? JSON.parse(text) : undefined) as T);
          });
          res.on("error", reject);
        },
      );
      req.on("error", reject);
      req.end(payload);
    });
  }

  create(path: string, body: unknown) {
    return this.send("POST", path, body);
  }

  apply(path: string, body: unknown, fieldManager: string) {
    return this.send("PATCH", `${path}?fieldManager=${fieldManager}&force=true`, body, "application/apply-patch+yaml");
  }

  mergePatch(path: string, body: unknown) {
    return this.send("PATCH", path, body, "application/merge-patch+json");
  }

  /** Every item of a collection, paged. */
  async list(path: string): Promise<KubeObject[]> {
    const items: KubeObject[] = [];
    let cont = "";
    do {
      const sep = path.includes("?") ? "&" : "?";
      const page = await this.send<{ items: KubeObject[]; metadata: { continue?: string } }>(
        "GET",
        `${path}${sep}limit=500${cont ? `&continue=${encodeURIComponent(cont)}` : ""}`,
      );
      items.push(...page.items);
      cont = page.metadata.continue ?? "";
    } while (cont);
    return items;
  }

  /** Watches a collection from now on; `onEvent` gets each event as it arrives. */
  watch(path: string, onEvent: (type: string, obj: KubeObject) => void): WatchHandle {
    let stopped = false;
    let current: ReturnType<typeof request> | undefined;
    let markStarted: () => void = () => {};
    const started = new Promise<void>((resolve) => {
      markStarted = resolve;
    });
    const open = async (resourceVersion: string) => {
      const sep = path.includes("?") ? "&" : "?";
      current = request(
        {
          host: this.#server.hostname,
          port: this.#server.port,
          path: `${path}${sep}watch=1&allowWatchBookmarks=true&resourceVersion=${resourceVersion}`,
          // A watch holds its connection for its whole life: its own agent-less socket keeps the pool for requests.
          agent: false,
          ca: this.#agent.options.ca,
          cert: this.#agent.options.cert,
          key: this.#agent.options.key,
          headers: { accept: "application/json" },
        },
        (res) => {
          markStarted();
          let buffered = "";
          let rv = resourceVersion;
          res.setEncoding("utf8");
          res.on("data", (chunk: string) => {
            buffered += chunk;
            for (let nl = buffered.indexOf("\n"); nl >= 0; nl = buffered.indexOf("\n")) {
              const line = buffered.slice(0, nl);
              buffered = buffered.slice(nl + 1);
              if (!line) continue;
              const event = JSON.parse(line) as { type: string; object: KubeObject };
              rv = event.object.metadata?.resourceVersion ?? rv;
              if (event.type !== "BOOKMARK" && event.type !== "ERROR") onEvent(event.type, event.object);
            }
          });
          res.on("end", () => {
            if (!stopped) void open(rv);
          });
        },
      );
      current.on("error", () => {
        if (!stopped) setTimeout(() => void open(resourceVersion), 500);
      });
      current.end();
    };
    void this.send<{ metadata: { resourceVersion: string } }>(
      "GET",
      `${path}${path.includes("?") ? "&" : "?"}limit=1`,
    ).then((list) => open(list.metadata.resourceVersion));
    return {
      started,
      stop: () => {
        stopped = true;
        current?.destroy();
      },
    };
  }

  close(): void {
    this.#agent.destroy();
  }
}

/** Runs `task` over `items` with at most `limit` in flight. */
export async function pool<T>(items: T[], limit: number, task: (item: T, index: number) => Promise<void>) {
  let next = 0;
  const run = async () => {
    for (let i = next++; i < items.length; i = next++) await task(items[i] as T, i);
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, run));
}
