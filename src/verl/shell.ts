// POSIX shell quoting for the rendered launch scripts: every value reaches its program as one literal argument.

/** An argument the script expands itself (a shell variable), written as is. */
export interface Raw {
  raw: string;
}

const SAFE = /^[A-Za-z0-9_@%+=:,./-]+$/;

// Control characters (a newline in a task description) would put part of a quoted word on a line of its own, where
// indenting the script's blocks would add to it: bash's $'...' spells them as escapes, so every word is on one line.
const isControl = (c: string) => c.charCodeAt(0) < 0x20 || c.charCodeAt(0) === 0x7f;

export function shellQuote(arg: string): string {
  if (SAFE.test(arg)) return arg;
  if (![...arg].some(isControl)) return `'${arg.replaceAll("'", `'"'"'`)}'`;
  const escaped = [...arg]
    .map((c) =>
      c === "\\" || c === "'" ? `\\${c}` : isControl(c) ? `\\x${c.charCodeAt(0).toString(16).padStart(2, "0")}` : c,
    )
    .join("");
  return `$'${escaped}'`;
}

// Where a long command line breaks: before each flag and each Hydra override, so one line holds one setting.
const STARTS_SETTING = /^(-|[+~]*[A-Za-z_][A-Za-z0-9_.@-]*=)/;
const MAX_LINE = 100;

/** A command line; a long one is continued over lines, one flag (with its value) or override per line. */
export function shellCommand(argv: readonly (string | Raw)[]): string {
  const words = argv.map((a) => (typeof a === "string" ? shellQuote(a) : a.raw));
  if (words.join(" ").length <= MAX_LINE) return words.join(" ");
  const lines: string[][] = [];
  argv.forEach((arg, i) => {
    const last = lines.at(-1);
    if (last === undefined || (typeof arg === "string" && STARTS_SETTING.test(arg))) lines.push([words[i]!]);
    else last.push(words[i]!);
  });
  return lines.map((l) => l.join(" ")).join(" \\\n  ");
}
