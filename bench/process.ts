// The operator under test as a child process (`collab-operator run`, exactly as a user starts it), and what the
// benchmark reads about processes from outside: CPU time and memory from /proc, /healthz answer times, /metrics.
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { Agent, request } from "node:http";
import { createServer } from "node:net";
import { join } from "node:path";
import { imageNodeFlags } from "../test/cluster/node-flags.ts";

export const ROOT = new URL("../", import.meta.url).pathname;

/** User + system CPU time of a process so far, in ms (clock ticks are 10 ms). */
export function cpuMs(pid: number | undefined): number {
  if (pid === undefined || !existsSync(`/proc/${pid}/stat`)) return Number.NaN;
  const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.split(" ");
  return (Number(fields[11]) + Number(fields[12])) * 10;
}

/** Resident memory now and at its peak, in MiB. */
export function memoryMiB(pid: number | undefined): { rss: number; peak: number } {
  if (pid === undefined || !existsSync(`/proc/${pid}/status`)) return { rss: Number.NaN, peak: Number.NaN };
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const kb = (field: string) => Number(new RegExp(`${field}:\\s+(\\d+)`).exec(status)?.[1] ?? Number.NaN);
  return { rss: kb("VmRSS") / 1024, peak: kb("VmHWM") / 1024 };
}

/**
 * Time the process's main thread (the event loop) has spent on a CPU and waiting for one, in ms (Linux schedstat).
 * On a loaded machine a /healthz answer can be late because the loop waited for a CPU, not because a task held it.
 */
export function mainThreadMs(pid: number | undefined): { run: number; wait: number } {
  if (pid === undefined || !existsSync(`/proc/${pid}/schedstat`)) return { run: Number.NaN, wait: Number.NaN };
  const [run, wait] = readFileSync(`/proc/${pid}/schedstat`, "utf8").split(" ").map(Number);
  return { run: (run ?? Number.NaN) / 1e6, wait: (wait ?? Number.NaN) / 1e6 };
}

/** The local control plane's processes (pid files written by `npm run cluster:up`). */
export function clusterPids(): Record<string, number> {
  const out: Record<string, number> = {};
  for (const name of ["etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok"]) {
    const file = join(ROOT, ".cluster/pids", `${name}.pid`);
    if (existsSync(file)) out[name] = Number(readFileSync(file, "utf8"));
  }
  return out;
}

/** CPU ms of every control-plane process since `since` (a previous call's result), and the new readings. */
export function clusterCpu(): Record<string, number> {
  return Object.fromEntries(Object.entries(clusterPids()).map(([name, pid]) => [name, cpuMs(pid)]));
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      server.close(() =>
        typeof address === "object" && address ? resolve(address.port) : reject(new Error("no port")),
      );
    });
  });
}

const agent = new Agent({ keepAlive: true, maxSockets: 4 });

/** GET http://127.0.0.1:port/path; resolves to status and body (never rejects: status 0 when unreachable). */
export function httpGet(port: number, path: string, timeoutMs = 30_000): Promise<{ status: number; body: string }> {
  return new Promise((resolve) => {
    const req = request({ host: "127.0.0.1", port, path, agent, timeout: timeoutMs }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (c: string) => {
        body += c;
      });
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
      res.on("error", () => resolve({ status: 0, body: "" }));
    });
    req.on("timeout", () => req.destroy(new Error("timeout")));
    req.on("error", () => resolve({ status: 0, body: "" }));
    req.end();
  });
}

/** Sums a metric's samples (all label sets matching `labels`) in Prometheus text format; NaN when absent. */
export function metric(text: string, name: string, labels: Record<string, string> = {}): number {
  let sum = Number.NaN;
  for (const line of text.split("\n")) {
    if (!line.startsWith(name) || (line[name.length] !== "{" && line[name.length] !== " ")) continue;
    if (!Object.entries(labels).every(([k, v]) => line.includes(`${k}="${v}"`))) continue;
    const value = Number(line.slice(line.lastIndexOf(" ") + 1));
    sum = (Number.isNaN(sum) ? 0 : sum) + value;
  }
  return sum;
}

export interface OperatorOptions {
  namespaces?: string[];
  workers: number;
  resyncSeconds?: number;
  extraArgs?: string[];
  /** Node flags before src/cli.ts; default the image's (the Dockerfile's ENTRYPOINT). */
  nodeOptions?: string;
}

const BENCH_METRICS = [
  "reconcile_total",
  "workqueue_depth",
  "nodejs_eventloop_lag_seconds", // computes the max too (and resets it)
  "nodejs_eventloop_lag_max_seconds",
  "nodejs_heap_size_total_bytes", // computes the used size too
  "nodejs_heap_size_used_bytes",
  "rest_client_requests_total",
];

export class OperatorProcess {
  readonly child: ChildProcess;
  readonly port: number;
  readonly startedAt = performance.now();
  #log = "";
  #probe: { stop: boolean; worstMs: number; worstOwnMs: number; samples: number; done: Promise<void> } | undefined;

  constructor(kubeconfig: string, port: number, opts: OperatorOptions) {
    this.port = port;
    const args = [
      ...(opts.nodeOptions !== undefined ? opts.nodeOptions.split(" ").filter(Boolean) : imageNodeFlags()),
      join(ROOT, "src/cli.ts"),
      "run",
      "--leader-elect=false",
      `--port=${port}`,
      "--report-port=0",
      `--workers=${opts.workers}`,
      "--log-level=warn",
      ...(opts.namespaces ? [`--namespaces=${opts.namespaces.join(",")}`] : []),
      ...(opts.resyncSeconds !== undefined ? [`--resync-seconds=${opts.resyncSeconds}`] : []),
      ...(opts.extraArgs ?? []),
    ];
    this.child = spawn(process.execPath, args, {
      cwd: ROOT,
      env: { ...process.env, KUBECONFIG: kubeconfig, POD_NAME: "bench-operator" },
      stdio: ["ignore", "pipe", "pipe"],
    });
    const keep = (d: Buffer) => {
      this.#log = (this.#log + d.toString()).slice(-20_000);
    };
    this.child.stdout?.on("data", keep);
    this.child.stderr?.on("data", keep);
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  log(): string {
    return this.#log;
  }

  /** Waits for /readyz (every cache listed once); resolves to ms since spawn. */
  async ready(timeoutMs = 600_000): Promise<number> {
    const deadline = performance.now() + timeoutMs;
    while (performance.now() < deadline) {
      if (this.child.exitCode !== null) throw new Error(`operator exited (${this.child.exitCode}):\n${this.#log}`);
      if ((await httpGet(this.port, "/readyz", 5000)).status === 200) return performance.now() - this.startedAt;
      await sleep(100);
    }
    throw new Error(`operator not ready in ${timeoutMs} ms:\n${this.#log}`);
  }

  /** The metrics the benchmark reads (`/metrics?name=`): a full scrape formats every job's series, real work itself. */
  async metrics(): Promise<string> {
    return (await httpGet(this.port, `/metrics?${BENCH_METRICS.map((n) => `name=${n}`).join("&")}`)).body;
  }

  /** A full scrape, as Prometheus makes it: its wall time, the operator's CPU for it, and its size. */
  async fullScrape(): Promise<{ ms: number; cpuMs: number; bytes: number }> {
    const cpu0 = cpuMs(this.pid);
    const t0 = performance.now();
    const { body } = await httpGet(this.port, "/metrics");
    return { ms: performance.now() - t0, cpuMs: cpuMs(this.pid) - cpu0, bytes: body.length };
  }

  /**
   * Waits until the work queue is empty and no reconcile finished for `quietMs`; resolves to ms since spawn at the
   * last reconcile seen. Meanwhile nothing else may drive the operator.
   */
  async settled(quietMs = 3000, timeoutMs = 1_800_000): Promise<number> {
    const deadline = performance.now() + timeoutMs;
    let last = -1;
    let lastChange = performance.now();
    while (performance.now() < deadline) {
      const text = await this.metrics();
      // Absent until the first reconcile / the first queued key: that is zero.
      const total = metric(text, "reconcile_total") || 0;
      const depth = metric(text, "workqueue_depth") || 0;
      if (total !== last) {
        last = total;
        lastChange = performance.now();
      } else if (depth === 0 && performance.now() - lastChange >= quietMs) {
        return lastChange - this.startedAt;
      }
      // Not faster: with thousands of jobs a scrape (their per-job metrics) is itself real work for the operator.
      await sleep(1000);
    }
    throw new Error("operator did not settle");
  }

  /**
   * Probes /healthz every `everyMs` until stopped: the worst answer time is how long the event loop was held (the
   * probe itself costs well under a millisecond when the loop is free). Each answer is also counted as the operator's
   * own delay only up to the CPU time its main thread ran meanwhile: a loop held by a task runs on the CPU all that
   * time, while a loop waiting for a CPU on a loaded machine does not.
   */
  startProbe(everyMs = 50): void {
    if (this.#probe) this.#probe.stop = true;
    const state = { stop: false, worstMs: 0, worstOwnMs: 0, samples: 0, done: Promise.resolve() };
    state.done = (async () => {
      while (!state.stop) {
        const cpu0 = mainThreadMs(this.pid).run;
        const t0 = performance.now();
        await httpGet(this.port, "/healthz", 120_000);
        const took = performance.now() - t0;
        const ran = mainThreadMs(this.pid).run - cpu0;
        state.worstMs = Math.max(state.worstMs, took);
        if (!Number.isNaN(ran)) state.worstOwnMs = Math.max(state.worstOwnMs, Math.min(took, ran));
        state.samples++;
        await sleep(Math.max(0, everyMs - took));
      }
    })();
    this.#probe = state;
  }

  /**
   * The worst /healthz answer since the probe started (or since the last call), in ms: as measured, and as the
   * operator's own (at most the CPU time its event loop ran meanwhile).
   */
  takeWorstProbe(): { wall: number; own: number } {
    const p = this.#probe;
    if (!p) return { wall: Number.NaN, own: Number.NaN };
    const worst = { wall: p.worstMs, own: p.worstOwnMs };
    p.worstMs = 0;
    p.worstOwnMs = 0;
    return worst;
  }

  async stop(): Promise<void> {
    if (this.#probe) {
      this.#probe.stop = true;
      await this.#probe.done;
    }
    if (this.child.exitCode === null && this.child.signalCode === null) {
      const exited = new Promise((resolve) => this.child.once("exit", resolve));
      this.child.kill("SIGTERM");
      const timer = setTimeout(() => this.child.kill("SIGKILL"), 15_000);
      await exited;
      clearTimeout(timer);
    }
  }
}

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export function median(xs: number[]): number {
  const s = xs.filter((x) => !Number.isNaN(x)).sort((a, b) => a - b);
  if (s.length === 0) return Number.NaN;
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

export function percentile(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  if (s.length === 0) return Number.NaN;
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)]!;
}
