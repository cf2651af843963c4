// npm run cluster:up | cluster:down | cluster:status | start:local — the local control plane for development and tests.
import { readdirSync } from "node:fs";
import { join } from "node:path";
import { binaries, down, KUBECONFIG, kubectl, ROOT, running, up } from "./cluster.ts";

const commands: Record<string, () => Promise<void>> = {
  up: async () => {
    await up();
    process.stdout.write(`export KUBECONFIG=${KUBECONFIG}\n`);
  },
  down,
  // The README's start command: the local cluster with the API installed and every example applied.
  quickstart: async () => {
    await up();
    const bin = binaries();
    kubectl(bin, ["apply", "-f", join(ROOT, "examples/quickstart.yaml")]);
    kubectl(bin, ["apply", "-f", "-"], kubectl(bin, ["create", "namespace", "ml", "--dry-run=client", "-o", "yaml"]));
    for (const file of readdirSync(join(ROOT, "examples")).filter((f) => f !== "quickstart.yaml")) {
      kubectl(bin, ["apply", "-f", join(ROOT, "examples", file)]);
    }
    process.stdout.write(kubectl(bin, ["get", "ctj", "-A"]));
    process.stdout.write(`\nexport KUBECONFIG=${KUBECONFIG}\nkubectl get ctj -A -w\n`);
  },
  status: async () => {
    const alive = running();
    process.stdout.write(alive.length > 0 ? `running: ${alive.join(", ")}\n` : "not running\n");
  },
};

const command = commands[process.argv[2] ?? ""];
if (!command) {
  process.stderr.write(`usage: node test/cluster/cli.ts ${Object.keys(commands).join("|")}\n`);
  process.exit(2);
}
await command();
