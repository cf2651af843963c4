// npm run cluster:up | cluster:down | cluster:status — the local control plane for development and tests.
import { down, KUBECONFIG, running, up } from "./cluster.ts";

const commands: Record<string, () => Promise<void>> = {
  up: async () => {
    await up();
    process.stdout.write(`export KUBECONFIG=${KUBECONFIG}\n`);
  },
  down,
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
