#!/usr/bin/env node
// collab-operator's single entry point: each command lives in src/cli/, shares its prologue (src/cli/prologue.ts),
// and is loaded only when used.
const commands: Record<string, { summary: string; load: () => Promise<(argv: string[]) => Promise<number>> }> = {
  run: {
    summary: "run the operator (kubeconfig or in-cluster)",
    load: async () => (await import("./cli/run.ts")).main,
  },
  crd: {
    summary: "print the CollabTrainingJob CustomResourceDefinition (YAML)",
    load: async () => (await import("./cli/crd.ts")).main,
  },
  gateway: {
    summary: "run the user-simulator or judge sidecar (OpenAI-compatible gateway on 127.0.0.1)",
    load: async () => (await import("./cli/gateway.ts")).main,
  },
  preflight: {
    summary: "check a user-simulator or judge endpoint before the job takes GPUs (writes the termination message)",
    load: async () => (await import("./cli/preflight.ts")).main,
  },
  render: {
    summary: "print what a CollabTrainingJob would create, or its veRL overrides (--verl-args), without a cluster",
    load: async () => (await import("./cli/render.ts")).main,
  },
};

function usage(): string {
  const rows = Object.entries(commands).map(([name, c]) => `  ${name.padEnd(10)} ${c.summary}`);
  return [
    "usage: collab-operator <command> [flags]",
    "",
    "commands:",
    ...rows,
    "",
    "Run a command with --help for its flags.",
  ].join("\n");
}

const [name, ...rest] = process.argv.slice(2);
const command = name ? commands[name] : undefined;
if (!command) {
  const asked = name === "--help" || name === "-h" || name === "help";
  (asked ? process.stdout : process.stderr).write(`${usage()}\n`);
  process.exit(asked ? 0 : 2);
}
process.exitCode = await (await command.load())(rest);
