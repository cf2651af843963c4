// Gateway memory under large request bodies: a real gateway process (defaults, as the operator runs it) behind which
// the fake upstream answers normally, and clients that send several large bodies at once. Prints the gateway's peak
// resident memory (VmHWM) next to its idle memory and the sidecar's 1 GiB limit, and what the clients were answered.
//   npx node bench/gateway-memory.ts [--bodies 4] [--mb 30] [--waves 3] [--gateway-args "--body-bytes-in-flight 1e8"]
import { type ChildProcess, spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { request } from "node:http";
import { parseArgs } from "node:util";

const { values } = parseArgs({
  options: {
    bodies: { type: "string", default: "4" },
    mb: { type: "string", default: "30" },
    waves: { type: "string", default: "3" },
    "gateway-args": { type: "string", default: "" },
  },
});
const BODIES = Number(values.bodies);
const BYTES = Number(values.mb) * 1024 * 1024;
const TOKEN = "bench-job-token-0123456789";
const root = new URL("../", import.meta.url).pathname;
const children: ChildProcess[] = [];

function start(args: string[], env: Record<string, string> = {}): { child: ChildProcess; output: Promise<string> } {
  const child = spawn(process.execPath, args, {
    cwd: root,
    env: { ...process.env, ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  children.push(child);
  const output = new Promise<string>((resolve) => {
    let seen = "";
    child.stdout!.on("data", (d: Buffer) => {
      seen += d;
      if (seen.includes("\n")) resolve(seen);
    });
    child.stderr!.on("data", (d: Buffer) => process.stderr.write(d));
  });
  return { child, output };
}

/** Resident memory of a process now and at its peak, in MiB (Linux /proc). */
function memory(pid: number): { rss: number; peak: number } {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const kb = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, "m").exec(status)?.[1] ?? Number.NaN);
  return { rss: kb("VmRSS") / 1024, peak: kb("VmHWM") / 1024 };
}

function send(body: Buffer): Promise<number | string> {
  return new Promise((resolve) => {
    const req = request(
      "http://127.0.0.1:4912/v1/chat/completions",
      {
        method: "POST",
        headers: {
          authorization: `Bearer ${TOKEN}`,
          "content-type": "application/json",
          "content-length": body.length,
        },
      },
      (res) => {
        res.resume();
        res.on("end", () => resolve(res.statusCode ?? 0));
      },
    );
    req.on("error", (e: NodeJS.ErrnoException) => resolve(e.code ?? "error"));
    req.end(body);
  });
}

try {
  const upstream = start(["bench/fake-upstream-server.ts"]);
  const upstreamURL = (await upstream.output).trim();
  const gateway = start(
    [
      "src/cli.ts",
      "gateway",
      "--role",
      "judge",
      "--listen",
      "127.0.0.1:4912",
      "--upstream-base-url",
      upstreamURL,
      "--upstream-model",
      "gpt-4o-mini",
      ...values["gateway-args"].split(" ").filter(Boolean),
    ],
    { COLLAB_GATEWAY_TOKEN: TOKEN, COLLAB_GATEWAY_LOG_LEVEL: "error" },
  );
  for (let i = 0; ; i++) {
    try {
      if ((await fetch("http://127.0.0.1:4912/healthz")).ok) break;
    } catch {}
    if (i > 200) throw new Error("the gateway did not start");
    await new Promise((r) => setTimeout(r, 100));
  }
  const pid = gateway.child.pid as number;
  const idle = memory(pid);
  const content = "x".repeat(BYTES - 100);
  const body = Buffer.from(JSON.stringify({ model: "judge", messages: [{ role: "user", content }], max_tokens: 16 }));
  const answers = new Map<string, number>();
  let peakSeen = 0;
  const sampler = setInterval(() => (peakSeen = Math.max(peakSeen, memory(pid).rss)), 20);
  const t0 = performance.now();
  for (let wave = 0; wave < Number(values.waves); wave++) {
    const statuses = await Promise.all(Array.from({ length: BODIES }, () => send(body)));
    for (const s of statuses) answers.set(String(s), (answers.get(String(s)) ?? 0) + 1);
  }
  clearInterval(sampler);
  const end = memory(pid);
  process.stdout.write(
    `${values.waves} waves of ${BODIES} bodies of ${values.mb} MiB at once, in ${((performance.now() - t0) / 1000).toFixed(1)} s\n` +
      `gateway RSS: idle ${idle.rss.toFixed(0)} MiB, peak ${end.peak.toFixed(0)} MiB (VmHWM; sampled ${peakSeen.toFixed(0)}), ` +
      `after ${end.rss.toFixed(0)} MiB; the sidecar's limit is 1024 MiB\n` +
      `answers: ${[...answers].map(([s, n]) => `${n}× ${s}`).join(", ")}\n`,
  );
} finally {
  for (const child of children) child.kill("SIGTERM");
}
