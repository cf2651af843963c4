// Gateway overhead benchmark: the same chat completion request, sent directly to the fake upstream, through a real
// gateway process, and (when the interop venv has it) through LiteLLM's own proxy, all in one run on this machine.
// Prints latency at a fixed offered rate (p50/p99 and what each path adds over the direct call) and the maximum
// throughput with a fixed number of requests in flight. Ratios, not timed assertions: run it, read it.
// The latency phases run in interleaved rounds (direct, gateway, ... again) and report medians, so a machine that
// slows down for a while (a shared VM does) weighs on every path alike instead of on whichever ran then.
//   npx node bench/gateway.ts [--rate 1000] [--seconds 4] [--rounds 5] [--concurrency 32] [--skip-litellm]
//                             [--gateway-node-options "--max-semi-space-size=4"]
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { Agent, request } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";

const { values } = parseArgs({
  options: {
    rate: { type: "string", default: "1000" },
    seconds: { type: "string", default: "4" },
    rounds: { type: "string", default: "5" },
    concurrency: { type: "string", default: "32" },
    "skip-litellm": { type: "boolean", default: false },
    // Node/V8 options for the gateway process only, to compare runtime settings, e.g. "--max-semi-space-size=4".
    "gateway-node-options": { type: "string", default: "" },
  },
});
const RATE = Number(values.rate);
const SECONDS = Number(values.seconds);
const ROUNDS = Number(values.rounds);
const CONCURRENCY = Number(values.concurrency);
const TOKEN = "bench-job-token-0123456789";
const root = new URL("../", import.meta.url).pathname;
const children: ChildProcess[] = [];
const lastPid = () => children.at(-1)?.pid;

/** User + system CPU time of a process so far, in ms (Linux /proc; clock ticks are 10 ms). */
function cpuMs(pid: number | undefined): number {
  if (pid === undefined || !existsSync(`/proc/${pid}/stat`)) return Number.NaN;
  const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.split(" ");
  return (Number(fields[11]) + Number(fields[12])) * 10;
}

/** Spawns a helper process; with `ready`, resolves with the first match of it in the process's output. */
function start(command: string, args: string[], env: Record<string, string>, ready?: RegExp): Promise<string> {
  const output = ready ? "pipe" : "ignore";
  const child = spawn(command, args, { cwd: root, env: { ...process.env, ...env }, stdio: ["ignore", output, output] });
  children.push(child);
  if (!ready) return Promise.resolve("");
  return new Promise((resolve, reject) => {
    let seen = "";
    const onData = (data: Buffer) => {
      seen += data.toString();
      const match = ready.exec(seen);
      if (match) resolve(match[1] ?? match[0]);
    };
    child.stdout!.on("data", onData);
    child.stderr!.on("data", onData);
    child.once("exit", (code) => reject(new Error(`${command} exited (${code}) before it was ready:\n${seen}`)));
  });
}

async function waitHealthy(url: string, seconds: number): Promise<void> {
  for (let i = 0; i < seconds * 10; i++) {
    try {
      if ((await fetch(url)).ok) return;
    } catch {}
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`${url} did not become healthy`);
}

interface Target {
  name: string;
  /** The process serving this target, whose CPU time per request is reported (robust to a busy machine). */
  pid: number | undefined;
  url: URL;
  body: string;
  headers: Record<string, string>;
  /** Far slower than the rate: measured once, after the others (see below). */
  slow?: boolean;
}

const agent = new Agent({ keepAlive: true, maxSockets: 4096 });

function once(target: Target): Promise<number> {
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const req = request(
      target.url,
      { method: "POST", agent, headers: { "content-type": "application/json", ...target.headers } },
      (res) => {
        res.resume();
        res.on("end", () => (res.statusCode === 200 ? resolve(performance.now() - started) : reject(res.statusCode)));
      },
    );
    req.on("error", reject);
    req.end(target.body);
  });
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? Number.NaN;
}

function median(values: number[]): number {
  return percentile(
    [...values].sort((a, b) => a - b),
    50,
  );
}

/** Open loop: requests leave on a fixed schedule whatever the answers do, so queueing shows in the latency. */
interface Latency {
  p50: number;
  p99: number;
  errors: number;
}

const show = (r: Latency) => `${r.p50.toFixed(3)}/${r.p99.toFixed(3)}`;

async function atRate(target: Target): Promise<Latency> {
  const total = RATE * SECONDS;
  const latencies: number[] = [];
  let errors = 0;
  const pending: Promise<void>[] = [];
  const t0 = performance.now();
  for (let i = 0; i < total; i++) {
    const due = t0 + (i * 1000) / RATE;
    const wait = due - performance.now();
    if (wait > 1) await new Promise((resolve) => setTimeout(resolve, wait));
    pending.push(
      once(target).then(
        (ms) => void latencies.push(ms),
        () => void errors++,
      ),
    );
  }
  await Promise.all(pending);
  latencies.sort((a, b) => a - b);
  return { p50: percentile(latencies, 50), p99: percentile(latencies, 99), errors };
}

/** Closed loop: CONCURRENCY requests always in flight, for the maximum throughput and CPU per request. */
async function maxThroughput(target: Target, seconds = SECONDS): Promise<{ rps: number; cpuUsPerRequest: number }> {
  let done = 0;
  const cpuBefore = cpuMs(target.pid);
  const end = performance.now() + seconds * 1000;
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (performance.now() < end) {
        await once(target).catch(() => {});
        done++;
      }
    }),
  );
  return { rps: done / seconds, cpuUsPerRequest: ((cpuMs(target.pid) - cpuBefore) * 1000) / done };
}

const body = (model: string) =>
  JSON.stringify({ model, messages: [{ role: "user", content: "Rate this conversation." }], max_tokens: 64 });

try {
  const upstream = await start(process.execPath, ["bench/fake-upstream-server.ts"], {}, /(http:\S+)\n/);
  const targets: Target[] = [
    {
      name: "direct",
      pid: lastPid(),
      url: new URL(`${upstream}/chat/completions`),
      body: body("gpt-4o-mini"),
      headers: {},
    },
  ];
  const gatewayEnv = {
    COLLAB_GATEWAY_TOKEN: TOKEN,
    COLLAB_GATEWAY_UPSTREAM_API_KEY: "sk-bench-upstream-key-0123456789",
    COLLAB_GATEWAY_LOG_LEVEL: "warn",
  };
  await start(
    process.execPath,
    [
      ...values["gateway-node-options"].split(" ").filter(Boolean),
      "src/cli.ts",
      "gateway",
      "--role",
      "judge",
      "--listen",
      "127.0.0.1:4902",
      "--upstream-base-url",
      upstream,
      "--upstream-model",
      "gpt-4o-mini",
    ],
    gatewayEnv,
  );
  await waitHealthy("http://127.0.0.1:4902/healthz", 20);
  targets.push({
    name: "gateway",
    pid: lastPid(),
    url: new URL("http://127.0.0.1:4902/v1/chat/completions"),
    body: body("judge"),
    headers: { authorization: `Bearer ${TOKEN}` },
  });
  const litellm = join(root, ".venv/bin/litellm");
  if (values["skip-litellm"]) {
    process.stdout.write("litellm proxy not measured: --skip-litellm\n");
  } else if (existsSync(litellm)) {
    const config = join(mkdtempSync(join(tmpdir(), "litellm-")), "config.yaml");
    writeFileSync(
      config,
      `model_list:\n  - model_name: judge\n    litellm_params: {model: openai/gpt-4o-mini, api_base: "${upstream}", api_key: sk-bench}\n`,
    );
    await start(litellm, ["--config", config, "--port", "4903", "--num_workers", "1"], { LITELLM_LOG: "ERROR" });
    try {
      await waitHealthy("http://127.0.0.1:4903/health/liveliness", 120);
      targets.push({
        name: "litellm-proxy",
        slow: true,
        pid: lastPid(),
        url: new URL("http://127.0.0.1:4903/v1/chat/completions"),
        body: body("judge"),
        headers: {},
      });
    } catch (error) {
      process.stdout.write(`litellm proxy not measured: ${(error as Error).message}\n`);
    }
  } else {
    process.stdout.write("litellm proxy not measured: .venv/bin/litellm missing (bash test/interop/setup-venv.sh)\n");
  }
  process.stderr.write(`measuring ${targets.map((t) => t.name).join(", ")}\n`);
  // A slow target (LiteLLM's proxy) is measured once, after the others: at this rate its backlog keeps the machine
  // busy long after its own phase, which would weigh on whatever ran next.
  const paced = targets.filter((t) => !t.slow);
  const latency = new Map<Target, Latency[]>(targets.map((t) => [t, []]));
  const throughput = new Map<Target, { rps: number; cpuUsPerRequest: number }>();
  // Warm up with the same concurrency as the measurement, so connection pools and JIT-compiled code exist already.
  for (const target of paced) await maxThroughput(target, 2);
  for (let round = 0; round < ROUNDS; round++) {
    for (const target of paced) latency.get(target)!.push(await atRate(target));
    const line = paced.map((t) => `${t.name} ${show(latency.get(t)!.at(-1)!)}`).join("  ");
    process.stderr.write(`round ${round + 1}: p50/p99 ms  ${line}\n`);
  }
  for (const target of paced) throughput.set(target, await maxThroughput(target));
  for (const target of targets.filter((t) => t.slow)) {
    await maxThroughput(target, 2);
    latency.get(target)!.push(await atRate(target));
    process.stderr.write(`once: p50/p99 ms  ${target.name} ${show(latency.get(target)!.at(-1)!)}\n`);
    throughput.set(target, await maxThroughput(target));
  }
  const [direct] = targets as [Target];
  const directP = (key: "p50" | "p99") => median(latency.get(direct)!.map((r) => r[key]));
  process.stdout.write(
    `\n${RATE} req/s offered, ${ROUNDS} interleaved rounds of ${SECONDS} s (medians over rounds; a slow target ` +
      `once, after them); max throughput with ${CONCURRENCY} in flight for ${SECONDS} s\n`,
  );
  process.stdout.write(
    "target          p50 ms   p99 ms   +p50 ms  +p99 ms  errors  max req/s  throughput vs direct  server CPU µs/req\n",
  );
  for (const target of targets) {
    const mine = latency.get(target)!;
    // Paced targets: the median of each round's difference to the direct call of the same round.
    const added = (key: "p50" | "p99") =>
      target.slow
        ? mine[0]![key] - directP(key)
        : median(mine.map((r, round) => r[key] - latency.get(direct)![round]![key]));
    const { rps, cpuUsPerRequest } = throughput.get(target)!;
    const row = [
      target.name.padEnd(14),
      median(mine.map((r) => r.p50))
        .toFixed(3)
        .padStart(7),
      median(mine.map((r) => r.p99))
        .toFixed(3)
        .padStart(8),
      added("p50").toFixed(3).padStart(9),
      added("p99").toFixed(3).padStart(8),
      String(mine.reduce((sum, r) => sum + r.errors, 0)).padStart(7),
      rps.toFixed(0).padStart(10),
      (rps / throughput.get(direct)!.rps).toFixed(2).padStart(21),
      cpuUsPerRequest.toFixed(0).padStart(18),
    ];
    process.stdout.write(`${row.join(" ")}\n`);
  }
} finally {
  for (const child of children) child.kill("SIGTERM");
  agent.destroy();
}
