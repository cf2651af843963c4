// The preflight's verdict on one endpoint, pure: from what the endpoint answered to `GET /models` and to one chat
// completion of max_tokens 1, whether a training job may count on it, and why not in the provider's own words. The
// verdict's shape is the contract's (contract/preflight-verdict.ts): the operator reads only that, never the key.
//
// What counts as ready, and why:
// - 2xx with a chat completion: ready.
// - 429 that is a rate limit: ready. Providers authenticate and resolve the model before they rate-limit, and the
//   gateways wait out and retry rate-limited calls; holding GPUs back because the key is busy elsewhere would be wrong.
// - 429 (or 402) that says the quota, credit or billing is spent: not ready. Every call of the job would fail the
//   same way until someone pays; OpenAI marks it `insufficient_quota`.
// - 5xx after retries: not ready. An endpoint that cannot answer one token would fail the episodes too. The kubelet
//   runs the check again (restartPolicy OnFailure), so a passing outage lets the job go on by itself.
// - 401 (key refused), 403 (access denied), 404 (model or URL not found), other 4xx, timeouts, refused or failed
//   connections, and a 2xx that is no chat completion: not ready, with the status and the provider's message.
import type { EndpointRole } from "../contract/gateway-settings.ts";
import type { PreflightReason, PreflightVerdict } from "../contract/preflight-verdict.ts";

/** One answer, or the lack of one. */
export type Answer =
  | { kind: "answer"; status: number; body: string; retryAfterMs?: number }
  | { kind: "timeout"; message: string }
  /** code: the socket error's code (ECONNREFUSED, ENOTFOUND, ...), when known. */
  | { kind: "connection"; code: string | undefined; message: string };

export interface Observations {
  endpoint: EndpointRole;
  model: string;
  baseURL: string;
  timeoutSeconds: number;
  /** Whether a key was sent (the endpoint's apiKeySecretRef is set). */
  withKey: boolean;
  /** GET {baseURL}/models. */
  models: Answer;
  /** The completion, after retries; undefined when the endpoint could not be reached at all. */
  completion: Answer | undefined;
  /** Attempts the completion took. */
  attempts: number;
  seconds: number | undefined;
}

/** The kubelet keeps at most 4096 bytes of a termination message; the verdict's message stays well within. */
const MAX_PROVIDER_MESSAGE = 1500;
const MAX_LISTED_MODELS = 10;

export function verdict(o: Observations): PreflightVerdict {
  const base = {
    endpoint: o.endpoint,
    model: o.model,
    baseURL: o.baseURL,
    ...(o.seconds !== undefined ? { seconds: Math.round(o.seconds * 1000) / 1000 } : {}),
  };
  const answer = o.completion ?? o.models;
  if (answer.kind !== "answer") return { ...base, ready: false, ...transportFailure(answer, o.timeoutSeconds) };
  const { status } = answer;
  const said = providerMessage(answer.body);
  const http = `HTTP ${status}${said ? `: ${said}` : ""}`;
  const decided = (ready: boolean, reason: PreflightReason, message: string): PreflightVerdict => ({
    ...base,
    ready,
    reason,
    status,
    message,
  });
  if (status >= 200 && status < 300) {
    if (isChatCompletion(answer.body)) {
      const tries = o.attempts > 1 ? ` after ${o.attempts} attempts` : "";
      return decided(true, "Answered", `answered a completion of max_tokens 1${tries}`);
    }
    return decided(
      false,
      "UnexpectedAnswer",
      `HTTP ${status}, but not a chat completion (${snippet(answer.body)}): is baseURL an OpenAI-compatible API (it usually ends in /v1)?`,
    );
  }
  if (status === 401) {
    const hint = o.withKey ? "the key was refused" : "the endpoint wants a key and none is set (apiKeySecretRef)";
    return decided(false, "KeyRefused", `${hint}: ${http}`);
  }
  if (status === 403) return decided(false, "AccessDenied", `the key may not use this model or endpoint: ${http}`);
  if (status === 404) return decided(false, "ModelNotFound", `model ${o.model} not found: ${http}${modelsHint(o)}`);
  if (status === 402 || (status === 429 && quotaSpent(answer.body))) {
    return decided(false, "QuotaExceeded", `the account's quota or credit is spent: ${http}`);
  }
  if (status === 429) {
    return decided(
      true,
      "RateLimited",
      `rate-limited (${http}); counted as ready: the key and model were not refused, and the gateways wait out and retry rate limits`,
    );
  }
  if (status >= 500) {
    return decided(
      false,
      "UpstreamError",
      `the endpoint failed${o.attempts > 1 ? ` ${o.attempts} times` : ""}: ${http}`,
    );
  }
  if (status >= 300 && status < 400) {
    return decided(false, "UnexpectedAnswer", `${http}: the endpoint redirects; set baseURL to where it redirects`);
  }
  return decided(false, "RequestRefused", `a minimal chat completion was refused: ${http}`);
}

function transportFailure(
  answer: Exclude<Answer, { kind: "answer" }>,
  timeoutSeconds: number,
): { reason: PreflightReason; message: string } {
  if (answer.kind === "timeout") {
    return { reason: "Timeout", message: `no answer within ${timeoutSeconds} s (timeoutSeconds): ${answer.message}` };
  }
  if (answer.code === "ECONNREFUSED") return { reason: "ConnectionRefused", message: answer.message };
  if (answer.code === "ENOTFOUND" || answer.code === "EAI_AGAIN") {
    return { reason: "HostNotFound", message: `the host name does not resolve: ${answer.message}` };
  }
  return { reason: "ConnectionFailed", message: answer.message };
}

/** OpenAI's insufficient_quota, and the words other providers use for spent credit (402 needs no words). */
function quotaSpent(body: string): boolean {
  const error = parsed(body)?.error;
  const code = error && typeof error === "object" ? `${error.code ?? ""} ${error.type ?? ""}` : "";
  if (/insufficient_quota/.test(code)) return true;
  return /billing|credit|balance|check your plan|insufficient.?quota/i.test(providerMessage(body));
}

function modelsHint(o: Observations): string {
  const listed = o.models.kind === "answer" && o.models.status === 200 ? modelIds(o.models.body) : undefined;
  if (listed && listed.length > 0 && !listed.includes(o.model)) {
    const more = listed.length > MAX_LISTED_MODELS ? `, ... (${listed.length} in all)` : "";
    return `; the endpoint serves ${listed.slice(0, MAX_LISTED_MODELS).join(", ")}${more}`;
  }
  if (o.models.kind === "answer" && o.models.status === 404) {
    return "; GET /models is not found either: is baseURL right (it usually ends in /v1)?";
  }
  return "";
}

export function modelIds(body: string): string[] | undefined {
  const data = parsed(body)?.data;
  if (!Array.isArray(data)) return undefined;
  return data.flatMap((m) => (m && typeof m === "object" && typeof m.id === "string" ? [m.id] : []));
}

function isChatCompletion(body: string): boolean {
  return Array.isArray(parsed(body)?.choices);
}

/** The provider's own error message: OpenAI's error.message, or the shapes vLLM, proxies and others use. */
export function providerMessage(body: string): string {
  const json = parsed(body);
  const error = json?.error;
  const text =
    (error && typeof error === "object" && typeof error.message === "string" ? error.message : undefined) ??
    (typeof error === "string" ? error : undefined) ??
    (typeof json?.message === "string" ? json.message : undefined) ??
    (typeof json?.detail === "string" ? json.detail : undefined) ??
    (json === undefined ? body : "");
  const line = text.replace(/\s+/g, " ").trim();
  return line.length > MAX_PROVIDER_MESSAGE ? `${line.slice(0, MAX_PROVIDER_MESSAGE)}...` : line;
}

function snippet(body: string): string {
  const line = body.replace(/\s+/g, " ").trim();
  return line === "" ? "empty body" : `starts with ${JSON.stringify(line.slice(0, 80))}`;
}

// biome-ignore lint/suspicious/noExplicitAny: JSON of unknown shape, read defensively field by field
function parsed(body: string): Record<string, any> | undefined {
  try {
    const value: unknown = JSON.parse(body);
    return value && typeof value === "object" && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}
