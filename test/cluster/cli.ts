// npm run cluster:up | cluster:down | cluster:status | start:local — the local control plane for development and tests.
// `npm run cluster:up -- --with=kueue,karpenter,realnode` also starts the opt-in components; `node test/cluster/cli.ts
// images` builds the real node's images and binaries (the test run's setup does it beside the control plane's build).
import { type Addon, binaries, down, KUBECONFIG, running, up } from "./cluster.ts";
import { allImages } from "./images.ts";
import { quickstart } from "./quickstart.ts";

const ADDONS: readonly Addon[] = ["kueue", "karpenter", "realnode"];

function addons(): Set<Addon> {
  const flags = process.argv.filter((a) => a.startsWith("--with="));
  const names = flags.flatMap((f) => f.slice("--with=".length).split(",")).filter((n) => n !== "");
  const unknown = names.filter((n) => !ADDONS.includes(n as Addon));
  if (unknown.length > 0) {
    process.stderr.write(`--with: unknown component ${unknown.join(", ")} (expected ${ADDONS.join(", ")})\n`);
    process.exit(2);
  }
  return new Set(names as Addon[]);
}

const commands: Record<string, () => Promise<void>> = {
  up: async () => {
    const withAddons = addons();
    await up({
      kueue: withAddons.has("kueue"),
      karpenter: withAddons.has("karpenter"),
      realnode: withAddons.has("realnode"),
    });
    process.stdout.write(`export KUBECONFIG=${KUBECONFIG}\n`);
  },
  down,
  // The README's start command (test/cluster/quickstart.ts); --exit-when-done for scripts.
  quickstart: () => quickstart({ exitWhenDone: process.argv.includes("--exit-when-done") }),
  images: async () => {
    const images = allImages();
    binaries("realnode");
    for (const [name, image] of Object.entries(images)) process.stdout.write(`${name}: ${image.ref}\n`);
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
