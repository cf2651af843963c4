// Runs controllers in a process: leader election (controllers run only while this replica leads), /healthz,
// /readyz and /metrics, and graceful shutdown. On lost leadership the controllers are stopped (in-flight reconciles
// finish, their signals abort) and the replica becomes a candidate again, rather than exiting as controller-runtime
// does: our controllers can be restarted, and staying up keeps the standby's caches and metrics endpoint alive.
// Shutdown order: stop the controllers (drain), then release the lease, so the next leader never overlaps our writes.

import { randomBytes } from "node:crypto";
import { createServer, type Server, type ServerResponse } from "node:http";
import { hostname } from "node:os";
import type { Logger } from "pino";
import { Counter, collectDefaultMetrics, Gauge, Histogram, type Registry } from "prom-client";
import type { Controller } from "./controller.ts";
import { observeRequests } from "./http.ts";
import type { KubeConfig } from "./kubeconfig.ts";
import { LeaderElector, type LeaseHolder } from "./leader-elector.ts";
import { exposition } from "./metrics.ts";

/** How long a shutdown lets reconciles in flight finish: well within a pod's default 30 s grace period. */
const SHUTDOWN_DRAIN_MS = 10_000;
export interface ManagerLeaderElection {
  namespace: string;
  /** Lease name, e.g. "collab-operator". */
  name: string;
  /** Default: hostname plus a random suffix. */
  identity?: string;
  leaseDurationMs?: number;
  renewDeadlineMs?: number;
  retryPeriodMs?: number;
  /** Written on the Lease while leading (LeaderElectionOptions.holderAnnotations). */
  holderAnnotations?: () => Record<string, string>;
}

export interface ManagerOptions {
  kc: KubeConfig;
  logger: Logger;
  registry: Registry;
  controllers: Controller[];
  /** Health and metrics port; 0 picks a free one (see `port`). Default 8080. */
  port?: number;
  host?: string;
  /** Omit to run the controllers at once (a single replica, or tests). */
  leaderElection?: ManagerLeaderElection;
}

export class Manager {
  readonly #o: ManagerOptions;
  readonly #server: Server;
  readonly #elector: LeaderElector | undefined;
  readonly #isLeader: Gauge;
  #running = false;
  #stopping: Promise<void> | undefined;
  /** Set as stop() begins (before the elector runs #stopControllers): a shutdown, not a lost lease. */
  #shuttingDown = false;
  #failed: (err: unknown) => void = () => {};
  /** Rejects if the controllers could not start while leading (say, caches never synced); the process should exit non-zero. */
  readonly failed: Promise<never>;

  constructor(opts: ManagerOptions) {
    this.#o = opts;
    this.failed = new Promise<never>((_, reject) => {
      this.#failed = reject;
    });
    this.failed.catch(() => {}); // observed by whoever awaits it; never an unhandled rejection
    this.#isLeader = new Gauge({
      name: "leader_election_is_leader",
      help: "1 while this replica holds the leader lease (or runs without election)",
      registers: [opts.registry],
    });
    processMetrics(opts.kc, opts.registry);
    const le = opts.leaderElection;
    this.#elector = le
      ? new LeaderElector({
          kc: opts.kc,
          namespace: le.namespace,
          name: le.name,
          identity: le.identity ?? `${hostname()}_${randomBytes(4).toString("hex")}`,
          leaseDurationMs: le.leaseDurationMs,
          renewDeadlineMs: le.renewDeadlineMs,
          retryPeriodMs: le.retryPeriodMs,
          holderAnnotations: le.holderAnnotations,
          logger: opts.logger,
          onStartedLeading: () => this.#startControllers(),
          onStoppedLeading: () => this.#stopControllers(),
        })
      : undefined;
    this.#server = createServer((req, res) => {
      this.#serve(req.url ?? "/")
        .then(async ({ status, type, body }) => {
          res.writeHead(status, { "content-type": type });
          if (typeof body === "string") res.end(body);
          else await writeAll(res, body);
        })
        .catch((err: unknown) => {
          this.#o.logger.warn({ err, url: req.url }, "serving a request failed");
          res.destroy();
        });
    });
  }

  /** The port actually listened on (useful with port 0). */
  get port(): number {
    const addr = this.#server.address();
    return typeof addr === "object" && addr ? addr.port : 0;
  }

  /** True while this replica leads (always, without leader election). */
  isLeader(): boolean {
    return this.#elector ? this.#elector.isLeader() : this.#running;
  }

  /** The Lease's holder as last read (undefined without leader election, or while none holds it). */
  leaseHolder(): LeaseHolder | undefined {
    return this.#elector?.holder();
  }

  /** Ready when standing by, or when leading with every controller's caches synced. */
  ready(): boolean {
    if (this.#elector && !this.#elector.isLeader()) return true;
    return this.#running && this.#o.controllers.every((c) => c.hasSynced());
  }

  async start(): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      this.#server.once("error", reject);
      this.#server.listen(this.#o.port ?? 8080, this.#o.host, resolve);
    });
    this.#o.logger.info({ port: this.port }, "serving /healthz, /readyz and /metrics");
    if (this.#elector) this.#elector.start();
    else void this.#startControllers();
  }

  /** Stops the controllers, releases the lease and closes the server. Safe to call more than once. */
  stop(): Promise<void> {
    this.#shuttingDown = true;
    this.#stopping ??= (async () => {
      if (this.#elector)
        await this.#elector.stop({ release: true }); // runs #stopControllers before releasing
      else await this.#stopControllers();
      await new Promise<void>((resolve) => this.#server.close(() => resolve()));
      this.#o.logger.info("manager stopped");
    })();
    return this.#stopping;
  }

  /** SIGTERM/SIGINT: stop gracefully, then exit 0 (or 1 if stopping failed). */
  handleSignals(): void {
    const onSignal = (signal: string) => {
      this.#o.logger.info({ signal }, "shutting down");
      this.stop().then(
        () => process.exit(0),
        (err: unknown) => {
          this.#o.logger.error({ err }, "shutdown failed");
          process.exit(1);
        },
      );
    };
    process.once("SIGTERM", onSignal);
    process.once("SIGINT", onSignal);
  }

  async #startControllers(): Promise<void> {
    this.#running = true;
    this.#isLeader.set(1);
    try {
      await Promise.all(this.#o.controllers.map((c) => c.start()));
    } catch (err) {
      this.#o.logger.error({ err }, "controllers failed to start");
      this.#failed(err);
    }
  }

  async #stopControllers(): Promise<void> {
    this.#running = false;
    this.#isLeader.set(0);
    // Shutting down, the reconciles in flight finish (within SHUTDOWN_DRAIN_MS) before the Lease is released; on a
    // lost lease they are aborted at once, since another replica may lead already.
    const drainMs = this.#shuttingDown ? SHUTDOWN_DRAIN_MS : 0;
    await Promise.all(this.#o.controllers.map((c) => c.stop(drainMs)));
  }

  async #serve(url: string): Promise<{ status: number; type: string; body: string | AsyncIterable<string> }> {
    const path = url.split("?")[0];
    if (path === "/healthz") return { status: 200, type: "text/plain", body: "ok" };
    if (path === "/readyz") {
      const ok = this.ready();
      return { status: ok ? 200 : 503, type: "text/plain", body: ok ? "ok" : "caches not synced" };
    }
    if (path === "/metrics") {
      // `?name=a&name=b` serves only those metrics (as node_exporter's `collect[]` narrows a scrape): a reader that
      // needs a few counters need not make the operator format every job's series. In the registry's order: some of
      // prom-client's process metrics are computed by the first of their group (the heap sizes by the total's).
      const names = new Set(new URLSearchParams(url.split("?")[1] ?? "").getAll("name"));
      const registry = this.#o.registry;
      return {
        status: 200,
        type: registry.contentType,
        body: exposition(registry, names.size > 0 ? names : undefined),
      };
    }
    return { status: 404, type: "text/plain", body: "not found" };
  }
}

/**
 * The process's own metrics: Node's defaults from prom-client (resident memory, CPU, heap, and
 * nodejs_eventloop_lag_max_seconds: the longest the event loop was held since the last scrape), and every API request
 * as client-go counts them (rest_client_requests_total{method,code}, a duration histogram per method).
 */
function processMetrics(kc: KubeConfig, registry: Registry): void {
  collectDefaultMetrics({ register: registry });
  const requests = new Counter({
    name: "rest_client_requests_total",
    help: "API requests sent, by method and HTTP status (0: no answer)",
    labelNames: ["method", "code"],
    registers: [registry],
  });
  const duration = new Histogram({
    name: "rest_client_request_duration_seconds",
    help: "Time from sending an API request to its response headers, by method",
    labelNames: ["method"],
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [registry],
  });
  observeRequests(kc, (method, code, seconds) => {
    requests.inc({ method, code: String(code) });
    duration.observe({ method }, seconds);
  });
}

/** Writes every piece of `body`, waiting whenever the socket's buffer is full; stops if the client goes away. */
async function writeAll(res: ServerResponse, body: AsyncIterable<string>): Promise<void> {
  for await (const piece of body) {
    if (res.destroyed) return;
    if (!res.write(piece)) {
      await new Promise<void>((resolve) => {
        const done = () => {
          res.off("drain", done).off("close", done);
          resolve();
        };
        res.on("drain", done).on("close", done);
      });
    }
  }
  res.end();
}
