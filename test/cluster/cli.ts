// npm run cluster:up | cluster:down | cluster:status | start:local — the local control plane for development and tests.
import { down, KUBECONFIG, running, up } from "./cluster.ts";
import { quickstart } from "./quickstart.ts";

const commands: Record<string, () => Promise<void>> = {
  up: async () => {
    await up();
    process.stdout.write(`export KUBECONFIG=${KUBECONFIG}\n`);
  },
  down,
  // The README's start command (test/cluster/quickstart.ts); --exit-when-done for scripts.
  quickstart: () => quickstart({ exitWhenDone: process.argv.includes("--exit-when-done") }),
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
