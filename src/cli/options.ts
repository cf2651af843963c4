// Command-line options where every flag has an environment variable (PREFIX_FLAG_NAME): a table in, raw strings
// out, flags winning over the environment. Typed conversion stays with each command.

import { envVarName, type Setting, type SettingValues } from "../contract/gateway-settings.ts";

export class Options<K extends string> {
  readonly #prefix: string;
  readonly #table: Record<K, Setting>;

  constructor(prefix: string, table: Record<K, Setting>) {
    this.#prefix = prefix;
    this.#table = table;
  }

  envName(key: K): string {
    return envVarName(this.#prefix, this.#table[key].flag);
  }

  flag(key: K): string {
    return `--${this.#table[key].flag}`;
  }

  /** One row per option: flag, env var, meaning. */
  helpRows(): string[] {
    const head = `  ${"flag".padEnd(34)} ${"env".padEnd(40)} meaning`;
    return [
      head,
      ...(Object.entries(this.#table) as [K, Setting][]).map(([key, o]) => {
        const flag = o.kind === "bool" ? `--${o.flag}` : `--${o.flag} <${o.kind === "number" ? "n" : "v"}>`;
        return `  ${flag.padEnd(34)} ${this.envName(key).padEnd(40)} ${o.help}`;
      }),
    ];
  }

  /** Environment first, then flags (`--name value`, `--name=value`, bare `--bool`). Throws on unknown flags. */
  read(argv: readonly string[], env: NodeJS.ProcessEnv): SettingValues<K> {
    const keys = Object.keys(this.#table) as K[];
    const byFlag = new Map(keys.map((k) => [this.#table[k].flag, k]));
    const raw: SettingValues<K> = {};
    for (const key of keys) {
      const value = env[this.envName(key)];
      if (value !== undefined && value !== "") raw[key] = value;
    }
    for (let i = 0; i < argv.length; i++) {
      const arg = argv[i] as string;
      if (!arg.startsWith("--")) throw new Error(`unexpected argument ${arg}`);
      const [name, inline] = arg.slice(2).split(/=(.*)/s, 2) as [string, string | undefined];
      const key = byFlag.get(name);
      if (!key) throw new Error(`unknown flag --${name}`);
      if (this.#table[key].kind === "bool" && inline === undefined) {
        raw[key] = "true";
        continue;
      }
      const value = inline ?? argv[++i];
      if (value === undefined) throw new Error(`--${name} needs a value`);
      raw[key] = value;
    }
    return raw;
  }

  number(raw: SettingValues<K>, key: K, fallback: number, min = 0): number {
    const text = raw[key];
    if (text === undefined) return fallback;
    const value = Number(text);
    if (!Number.isFinite(value) || value < min) throw new Error(`${this.flag(key)}: ${text} is not a number >= ${min}`);
    return value;
  }

  bool(raw: SettingValues<K>, key: K, fallback: boolean): boolean {
    const text = raw[key];
    if (text === undefined) return fallback;
    if (text !== "true" && text !== "false") throw new Error(`${this.flag(key)}: ${text} is not true or false`);
    return text === "true";
  }
}
