// Hydra override text, exactly as Hydra's override grammar (hydra-core 1.3) reads it from one argv element. The
// renderer never goes through a shell here; shell quoting of whole arguments is shell.ts's job.

/** One override as veRL's main_ppo or fsdp_sft_trainer receives it: `[+|++|~]key[=value]`. */
export interface ParsedOverride {
  prefix: "" | "+" | "++" | "~";
  key: string;
  value: string | undefined;
}

const OVERRIDE = /^(\+\+|\+|~)?([A-Za-z_][A-Za-z0-9_.@-]*)(?:=([\s\S]*))?$/;

export function parseOverride(text: string): ParsedOverride | undefined {
  const m = OVERRIDE.exec(text);
  if (!m) return undefined;
  return { prefix: (m[1] ?? "") as ParsedOverride["prefix"], key: m[2]!, value: m[3] };
}

// A string Hydra reads back unchanged when unquoted: no grammar characters, and not a word or number it would convert.
const BARE = /^[A-Za-z_/][A-Za-z0-9_./:-]*$/;
const CONVERTED = /^(true|false|null|inf|nan)$/i;

/** A string value; quoted only when Hydra would otherwise parse it as something else. */
export function str(value: string): string {
  if (BARE.test(value) && !CONVERTED.test(value)) return value;
  // Inside single quotes Hydra reads backslashes literally, except runs before a quote, before ${ or at the end,
  // which it halves; a quote and ${ are escaped with one more backslash.
  const escaped = value.replace(/(\\*)('|\$\{|$)/g, (_, run: string, tail: string) => {
    return run + run + (tail === "" ? "" : `\\${tail}`);
  });
  return `'${escaped}'`;
}

/** A string OmegaConf keeps as is when loading YAML: ${ (and the backslashes before it) escaped. */
export function omegaconfLiteral(value: string): string {
  return value.replace(/(\\*)\$\{/g, (_, run: string) => `${run}${run}\\$\{`);
}

/** An int or a float as JavaScript prints it (Hydra reads 1e-07 and 0.000001 alike). */
export function num(value: number): string {
  return String(value);
}

/** A float that stays a float when whole (1 -> 1.0), for keys veRL's dataclasses type as float. */
export function float(value: number): string {
  return Number.isInteger(value) ? value.toFixed(1) : String(value);
}

/** Booleans the way the recipe scripts write them. */
export function bool(value: boolean): string {
  return value ? "True" : "False";
}

export function list(values: readonly string[]): string {
  return `[${values.map(str).join(",")}]`;
}
