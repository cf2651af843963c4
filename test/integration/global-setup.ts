// Integration tests run against real local control planes, one per vitest worker (vitest.config.ts): the first in
// this process, the others through the harness's CLI with their instance number. Clusters already running are reused
// (and left running); the ones started here are stopped when the run ends.
import { spawn } from "node:child_process";
import { join } from "node:path";
import { down, ROOT, running, up } from "../cluster/cluster.ts";
import { realNodeUnavailable } from "../cluster/realnode.ts";
import { tool } from "../cluster/tools.ts";

const CLUSTERS = Number(process.env.COLLAB_TEST_CLUSTERS ?? 2);

/** Runs `node test/cluster/cli.ts <command>` for cluster `instance`; resolves with what it printed. */
function cli(instance: number, command: "up" | "down" | "status" | "images"): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [join(ROOT, "test/cluster/cli.ts"), command], {
      env: { ...process.env, COLLAB_CLUSTER_INSTANCE: String(instance) },
      stdio: ["ignore", "pipe", "inherit"],
    });
    let out = "";
    child.stdout.on("data", (d) => {
      out += d;
    });
    child.on("error", reject);
    child.on("exit", (code) =>
      code === 0 ? resolve(out) : reject(new Error(`cluster ${instance} ${command}: ${code}`)),
    );
  });
}

export default async function setup(): Promise<() => Promise<void>> {
  const others = Array.from({ length: CLUSTERS - 1 }, (_, i) => i + 2);
  const wasRunning = running().length > 0;
  const othersRunning = await Promise.all(others.map(async (n) => !(await cli(n, "status")).startsWith("not")));
  // The real node's images (debootstrap, pip: mostly waiting on the network) build beside the control plane's Go
  // build; its kubelet, kube-proxy and CoreDNS after it, under the same lock.
  const images = realNodeUnavailable() === undefined ? cli(1, "images") : undefined;
  await up(); // idempotent: also heals a partly running cluster (and builds the binaries the others then share)
  await Promise.all(others.map((n) => cli(n, "up")));
  tool("helm"); // builds the packaging and GitOps tools once (minutes when cold), before any test's timeout runs
  await images;
  return async () => {
    if (!wasRunning) await down();
    await Promise.all(others.filter((_, i) => !othersRunning[i]).map((n) => cli(n, "down")));
  };
}
