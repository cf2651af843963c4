// Job-wide limits and budget, measured: real gateway processes (two per simulated pod, user simulator and judge, as
// the operator renders them) with --allowance-url, one fake upstream that logs when each call arrives, and the
// operator's allowance book served over HTTP in this process. Prints, as medians over rounds:
//   1. all load from one pod of four, offered at twice the limit: the busiest 60 s of arrivals against the job's
//      requests per minute, and the busy pod's throughput in steady state as a share of the limit (design: 60/(60+T));
//   2. the load moving to another pod: the busiest window again;
//   3. with load from every pod, the operator killed (its port closed; a new book on restart, as a new leader), then
//      the operator and one pod's gateways killed together: calls that went while no operator answered, the time from
//      the operator's return to the first call it granted, and the busiest window;
//   4. a token budget with load from every pod: tokens used against the budget and the stated bound, calls refused;
//      then the budget raised: the time until calls go again.
// The allowance endpoint is AllowanceBooks.book().ask() behind AllowanceRequestSchema, exactly what the operator's
// report server calls (src/operator/report/server.ts, allowance()); what this leaves out is the operator's token check
// and its lookups of the job, pods and usage ledger in its caches (test/integration/allowance.test.ts runs those).
// Timings, not assertions: run it, read it.
//   npx node bench/governance.ts [--rounds 3] [--rpm 600] [--skew-seconds 120]   (about 6 minutes a round)
import { type ChildProcess, spawn } from "node:child_process";
import { Agent, createServer, request, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { setTimeout as sleep } from "node:timers/promises";
import { parseArgs } from "node:util";
import { AllowanceRequestSchema, GRANT_VALIDITY_MS } from "../src/contract/allowance.ts";
import { WINDOW_MS } from "../src/contract/sliding-window.ts";
import { AllowanceBooks, type JobTerms, type JobView } from "../src/operator/report/allowance.ts";
import { freePort } from "../test/cluster/stand-in.ts";
import { startFakeUpstream } from "../test/unit/gateway/fake-upstream.ts";
import { busiestWindow } from "../test/unit/operator/report/governance-sim.ts";

const { values } = parseArgs({
  options: {
    rounds: { type: "string", default: "3" },
    rpm: { type: "string", default: "600" },
    "skew-seconds": { type: "string", default: "120" },
  },
});
const ROUNDS = Number(values.rounds);
const RPM = Number(values.rpm);
const SKEW_MS = Number(values["skew-seconds"]) * 1000;
const PODS = 4;
const TOKEN = "bench-job-token-0123456789";
const root = new URL("../", import.meta.url).pathname;
const ROLES = ["user-simulator", "judge"] as const;
const TOKENS_PER_CALL = 18; // the fake upstream's usage: 11 prompt + 7 completion

/** The operator's allowance endpoint: one job's book, its terms settable, killable like a leader. */
class Operator {
  terms: JobTerms;
  private books = new AllowanceBooks();
  private server: Server | undefined;
  port = 0;

  constructor(terms: JobTerms) {
    this.terms = terms;
  }

  async start(): Promise<void> {
    this.books = new AllowanceBooks(); // a new leader: a new term, nothing known
    const pods = new Set([...Array(PODS).keys()].map(podName));
    this.server = createServer((req, res) => {
      let body = "";
      req.on("data", (chunk) => (body += chunk));
      req.on("end", () => {
        const parsed = AllowanceRequestSchema.safeParse(JSON.parse(body));
        if (!parsed.success) return void res.writeHead(400).end();
        const view: JobView = { terms: this.terms, livePods: pods, runningGatewayPods: pods, ledger: new Map() };
        const now = performance.now();
        const outcome = this.books.book("job-uid", "bench/job", now).ask(now, parsed.data, view);
        if ("stale" in outcome) return void res.writeHead(409).end("{}");
        res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify(outcome.answer));
      });
    });
    await new Promise<void>((resolve) => this.server!.listen(this.port, "127.0.0.1", resolve));
    this.port = (this.server.address() as AddressInfo).port;
  }

  async stop(): Promise<void> {
    this.server?.closeAllConnections();
    await new Promise((resolve) => this.server?.close(resolve));
  }
}

const podName = (i: number) => `job-a0-worker-${i}`;

function terms(limits: { rpm?: number; concurrency?: number }, budgetTokens = 0): JobTerms {
  const role = {
    limits: { requestsPerMinute: limits.rpm ?? 0, tokensPerMinute: 0, maxConcurrency: limits.concurrency ?? 0 },
    prices: undefined,
  };
  return { roles: { "user-simulator": role, judge: role }, budget: { tokens: budgetTokens, cost: 0 } };
}

/** One pod's two gateway processes (user simulator and judge, as the operator renders them). */
interface Pod {
  children: ChildProcess[];
  judgePort: number;
}

/** Every gateway process started, killed when this process exits however it does. */
const spawned: ChildProcess[] = [];
process.once("exit", () => {
  for (const child of spawned) child.kill("SIGKILL");
});
for (const signal of ["SIGINT", "SIGTERM"] as const) process.once(signal, () => process.exit(130));

async function startPod(i: number, operatorPort: number, upstreamURL: string): Promise<Pod> {
  const children: ChildProcess[] = [];
  let judgePort = 0;
  for (const role of ROLES) {
    const port = await freePort();
    if (role === "judge") judgePort = port;
    children.push(
      spawn(process.execPath, [`${root}src/cli.ts`, "gateway"], {
        env: {
          ...process.env,
          COLLAB_GATEWAY_ROLE: role,
          COLLAB_GATEWAY_LISTEN: `127.0.0.1:${port}`,
          COLLAB_GATEWAY_UPSTREAM_BASE_URL: upstreamURL,
          COLLAB_GATEWAY_UPSTREAM_MODEL: "m",
          COLLAB_GATEWAY_MODEL: "m",
          COLLAB_GATEWAY_MAX_TOKENS: "20",
          COLLAB_GATEWAY_RETRIES: "0",
          COLLAB_GATEWAY_DEADLINE_SECONDS: "30",
          COLLAB_GATEWAY_QUEUE_SIZE: "256",
          COLLAB_GATEWAY_ALLOWANCE_URL: `http://127.0.0.1:${operatorPort}/v1/namespaces/ns/collabtrainingjobs/job/allowance`,
          COLLAB_GATEWAY_POD: podName(i),
          COLLAB_GATEWAY_TOKEN: TOKEN,
          COLLAB_GATEWAY_LOG_LEVEL: "error",
        },
        stdio: ["ignore", "ignore", "inherit"],
      }),
    );
  }
  spawned.push(...children);
  for (;;) {
    const up = await fetch(`http://127.0.0.1:${judgePort}/healthz`).then(
      (r) => r.ok,
      () => false,
    );
    if (up) return { children, judgePort };
    await sleep(100);
  }
}

function killPod(pod: Pod): void {
  for (const child of pod.children) child.kill("SIGKILL");
}

const agent = new Agent({ keepAlive: true, maxSockets: 32 });

/** Outcomes of the calls the load generator made, by kind. */
const outcomes = { ok: 0, budget: 0, other: 0 };

function call(pod: Pod, i: number): void {
  const body = JSON.stringify({ model: "m", messages: [{ role: "user", content: `pod ${i}` }] });
  const req = request(
    {
      host: "127.0.0.1",
      port: pod.judgePort,
      path: "/v1/chat/completions",
      method: "POST",
      agent,
      headers: { authorization: `Bearer ${TOKEN}`, "content-type": "application/json" },
    },
    (res) => {
      let text = "";
      res.on("data", (c) => (text += c));
      res.on("end", () => {
        if (res.statusCode === 200) outcomes.ok++;
        else if (text.includes("budget_exceeded")) outcomes.budget++;
        else outcomes.other++;
      });
    },
  );
  req.on("error", () => outcomes.other++);
  req.end(body);
}

/** Offers `perSecond` calls a second from each pod `from()` names, for `ms`. */
async function load(pods: Pod[], from: () => number[], perSecond: number, ms: number): Promise<void> {
  const until = performance.now() + ms;
  const tick = 50;
  let owed = 0;
  while (performance.now() < until) {
    owed += (perSecond * tick) / 1000;
    for (; owed >= 1; owed--) for (const i of from()) if (pods[i]) call(pods[i]!, i);
    await sleep(tick);
  }
}

interface Arrival {
  at: number;
  tokens: number;
  pod: number;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const pct = (x: number) => `${(100 * x).toFixed(1)}%`;

async function round(): Promise<Record<string, number>> {
  const upstream = await startFakeUpstream();
  const operator = new Operator(terms({ rpm: RPM, concurrency: 64 }));
  await operator.start();
  const pods = await Promise.all([...Array(PODS).keys()].map((i) => startPod(i, operator.port, upstream.url)));
  const t0 = performance.now();
  const arrivals = (): Arrival[] =>
    upstream.requests.map((r) => ({
      at: r.at - t0,
      tokens: TOKENS_PER_CALL,
      pod: Number(/pod (\d+)/.exec(JSON.stringify(r.body.messages))?.[1]),
    }));
  const figures: Record<string, number> = {};
  const offered = (2 * RPM) / 60;

  // 1. All from pod 0, at twice the limit.
  await load(pods, () => [0], offered, SKEW_MS);
  const skew = arrivals();
  const steadyFrom = WINDOW_MS + GRANT_VALIDITY_MS;
  const steady = skew.filter((a) => a.at >= steadyFrom && a.at < SKEW_MS);
  figures.skewWindow = busiestWindow(skew, WINDOW_MS).requests / RPM;
  figures.busyShare = steady.length / ((RPM * (SKEW_MS - steadyFrom)) / WINDOW_MS);

  // 2. The load moves to pod 3.
  await load(pods, () => [3], offered, 30_000);
  figures.shiftWindow = busiestWindow(arrivals(), WINDOW_MS).requests / RPM;

  // 3a. Load from every pod; the operator dies for 10 s and comes back as a new leader.
  const all = () => [...Array(PODS).keys()];
  await load(pods, all, offered / PODS, 10_000);
  await operator.stop();
  let down = performance.now() - t0;
  await load(pods, all, offered / PODS, 10_000);
  await operator.start();
  let back = performance.now() - t0;
  await load(pods, all, offered / PODS, 30_000);
  let faults = arrivals();
  figures.whileDown = faults.filter((a) => a.at >= down + GRANT_VALIDITY_MS && a.at < back).length;
  figures.resumeMs = (faults.find((a) => a.at >= back)?.at ?? Number.NaN) - back;
  // 3b. The operator and pod 1's gateways die together (SIGKILL); both come back.
  await operator.stop();
  down = performance.now() - t0;
  killPod(pods[1]!);
  await load(pods, all, offered / PODS, 10_000);
  pods[1] = await startPod(1, operator.port, upstream.url);
  await operator.start();
  back = performance.now() - t0;
  await load(pods, all, offered / PODS, 80_000);
  faults = arrivals();
  figures.faultWindow = busiestWindow(faults, WINDOW_MS).requests / RPM;
  figures.bothWhileDown = faults.filter((a) => a.at >= down + GRANT_VALIDITY_MS && a.at < back).length;
  figures.bothResumeMs = (faults.find((a) => a.at >= back)?.at ?? Number.NaN) - back;

  // 4. A budget of 300 calls' tokens on fresh pods and a fresh operator (usage starts at 0), load from every pod;
  // then raised by as much.
  for (const pod of pods) killPod(pod);
  await operator.stop();
  const budget = 300 * TOKENS_PER_CALL;
  operator.terms = terms({ concurrency: 64 }, budget);
  await operator.start();
  pods.splice(0, PODS, ...(await Promise.all(all().map((i) => startPod(i, operator.port, upstream.url)))));
  const before = upstream.requests.length;
  const used = () => (upstream.requests.length - before) * TOKENS_PER_CALL;
  outcomes.budget = 0;
  await load(pods, all, offered / PODS, 30_000);
  figures.budgetUsed = used() / budget;
  figures.refused = outcomes.budget;
  const raisedAt = performance.now() - t0;
  operator.terms = terms({ concurrency: 64 }, 2 * budget);
  await load(pods, all, offered / PODS, 15_000);
  figures.raiseResumeMs = (arrivals().find((a) => a.at >= raisedAt)?.at ?? Number.NaN) - raisedAt;
  figures.raisedUsed = used() / (2 * budget);

  for (const pod of pods) killPod(pod);
  await operator.stop();
  await upstream.close();
  return figures;
}

const results: Record<string, number>[] = [];
for (let r = 0; r < ROUNDS; r++) {
  results.push(await round());
  process.stdout.write(`round ${r + 1}: ${JSON.stringify(results.at(-1))}\n`);
}
const m = (key: string) => median(results.map((x) => x[key]!));
const design = WINDOW_MS / (WINDOW_MS + GRANT_VALIDITY_MS);
const steadyFromSeconds = (WINDOW_MS + GRANT_VALIDITY_MS) / 1000;
process.stdout.write(
  [
    `medians of ${ROUNDS} rounds; job limit ${RPM} requests/min, T = ${GRANT_VALIDITY_MS / 1000} s, ${PODS} pods`,
    `1. all load from one pod, offered at 2x: busiest 60 s window ${pct(m("skewWindow"))} of the limit; the busy pod's throughput from ${steadyFromSeconds} s to the phase's end ${pct(m("busyShare"))} of the limit (long-run design ${pct(design)})`,
    `2. load moved to another pod: busiest 60 s window ${pct(m("shiftWindow"))} of the limit`,
    `3. operator down 10 s, pods alive: calls sent later than T after it died and before it returned: ${m("whileDown")}; first call ${(m("resumeMs") / 1000).toFixed(1)} s after it returned (design: T = ${GRANT_VALIDITY_MS / 1000} s)`,
    `   operator and one pod's gateways killed together: calls in between ${m("bothWhileDown")}; first call ${(m("bothResumeMs") / 1000).toFixed(1)} s after the operator returned (design: up to a window + T, 65 s); busiest 60 s window over both faults ${pct(m("faultWindow"))} of the limit`,
    `4. token budget: used ${pct(m("budgetUsed"))} of it (bound: 100% while estimates hold; max_tokens is set here), ${m("refused")} calls refused; after a raise calls went again within ${(m("raiseResumeMs") / 1000).toFixed(1)} s and used ${pct(m("raisedUsed"))} of the raised budget`,
    "",
  ].join("\n"),
);
agent.destroy();
