// The base URL of an OpenAI-compatible endpoint, as the gateway sidecar uses it: it appends /chat/completions and
// connects to the origin. What it cannot use is refused at admission with a message that says what to write: a full
// endpoint instead of the base (the gateway would call .../chat/completions/chat/completions), characters a URL copied
// from a web page or a chat often carries (a zero-width space, a no-break space, a trailing newline), credentials,
// queries and fragments (the appended path would land inside them), and ports the URL parser refuses (the sidecar
// would crash at start).
import { z } from "zod";
import { type ValueRule, withRules } from "./k8s.ts";

const VISIBLE_ASCII = "^[!-~]+$";
const PORT = "(6553[0-5]|655[0-2][0-9]|65[0-4][0-9]{2}|6[0-4][0-9]{3}|[1-5][0-9]{4}|[0-9]{1,4})";
const HOST = "(\\[[0-9A-Fa-f:.]+\\]|[A-Za-z0-9_]([-A-Za-z0-9_.]*[A-Za-z0-9_])?)";
const BASE_URL = `^[Hh][Tt][Tt][Pp][Ss]?://${HOST}(:${PORT})?(/[^?#]*)?$`;
// Paths of the OpenAI API below the base URL; a base URL ending with one of them is an endpoint.
const ENDPOINT_SUFFIX = "/(chat/completions|completions|responses|embeddings|models)/*$";

const ENDPOINT_EXAMPLE = "e.g. https://api.openai.com/v1 or http://vllm.models.svc:8000/v1";

/** Names the first character that is not visible ASCII, so the user can find it. */
function firstInvisible(url: string): string {
  const index = [...url].findIndex((c) => !/^[!-~]$/.test(c));
  const char = [...url][index] as string;
  const code = `U+${(char.codePointAt(0) as number).toString(16).toUpperCase().padStart(4, "0")}`;
  return `has ${code} at character ${index + 1}: a URL may contain only visible ASCII characters (no spaces, no invisible or non-ASCII characters, often copied along from a web page or a chat); retype it, writing an internationalised host name in its xn-- form`;
}

const rules: ValueRule<string>[] = [
  {
    cel: `self.matches(${JSON.stringify(VISIBLE_ASCII)})`,
    message:
      "may contain only visible ASCII characters: it has whitespace or an invisible or non-ASCII character (often copied along from a web page or a chat); retype it, writing an internationalised host name in its xn-- form",
    holds: (s) => new RegExp(VISIBLE_ASCII).test(s),
    explain: firstInvisible,
  },
  {
    cel: `!self.matches(${JSON.stringify(VISIBLE_ASCII)}) || self.matches(${JSON.stringify(BASE_URL)})`,
    message: `must be an http:// or https:// base URL: scheme, host, optional port (0-65535) and path, without user:password@ (use apiKeySecretRef), query (?...) or fragment (#...), ${ENDPOINT_EXAMPLE}`,
    holds: (s) => !new RegExp(VISIBLE_ASCII).test(s) || new RegExp(BASE_URL).test(s),
  },
  {
    cel: `!self.matches(${JSON.stringify(`(?i)${ENDPOINT_SUFFIX}`)})`,
    message: `is an endpoint, not a base URL: leave out the trailing /chat/completions (or /completions, /responses, /embeddings, /models); the gateway appends /chat/completions itself, ${ENDPOINT_EXAMPLE}`,
    holds: (s) => !new RegExp(ENDPOINT_SUFFIX, "i").test(s),
  },
];

export function baseURL() {
  return withRules(z.string().max(2048), rules);
}
