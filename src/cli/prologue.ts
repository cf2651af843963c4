// What every `collab-operator` command does before its own work: --help, then its flags and environment read and
// checked; a mistake there is said with the command's usage, exit code 2, before anything starts.

export interface Command<C> {
  name: string;
  help: () => string;
  /** Reads flags and environment; throws with a message that names what is wrong. */
  parse: (argv: string[], env: NodeJS.ProcessEnv) => C;
  run: (config: C) => Promise<number>;
}

/** The command as src/cli.ts runs it: argv in, the exit code out. */
export function command<C>(c: Command<C>): (argv: string[]) => Promise<number> {
  return async (argv) => {
    if (argv.includes("--help") || argv.includes("-h")) {
      process.stdout.write(`${c.help()}\n`);
      return 0;
    }
    let config: C;
    try {
      config = c.parse(argv, process.env);
    } catch (err) {
      process.stderr.write(`collab-operator ${c.name}: ${(err as Error).message}\n\n${c.help()}\n`);
      return 2;
    }
    return c.run(config);
  };
}
