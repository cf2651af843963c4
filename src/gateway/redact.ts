// Last line of defence for secrets: every string that leaves the process through a log line or an error answer goes
// through a redactor that replaces the secret values themselves, wherever an upstream or a library may have echoed them.

export type Redact = (text: string) => string;

export function makeRedactor(secrets: (string | null | undefined)[]): Redact {
  // Very short values would blank out ordinary text; keys and tokens are long.
  const values = secrets.filter((s): s is string => typeof s === "string" && s.length >= 8);
  if (values.length === 0) return (text) => text;
  return (text) => {
    let out = text;
    for (const value of values) out = out.replaceAll(value, "[REDACTED]");
    return out;
  };
}
