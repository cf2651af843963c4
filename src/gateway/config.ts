// Gateway configuration: one table of options, each settable by a flag or by its COLLAB_GATEWAY_* env var (the flag
// wins). Secrets are deliberately NOT in the table: flags show up in `ps`, so the upstream key and the job token are
// read from the environment only.
import { hostname } from "node:os";
import { type OptionSpec, Options, type RawOptions } from "../cli/options.ts";

export const ENDPOINT_ROLES = ["user-simulator", "judge"] as const;
export type EndpointRole = (typeof ENDPOINT_ROLES)[number];

const DEFAULT_PORT: Record<EndpointRole, number> = { "user-simulator": 4001, judge: 4002 };

export const API_KEY_ENV = "COLLAB_GATEWAY_UPSTREAM_API_KEY";
export const TOKEN_ENV = "COLLAB_GATEWAY_TOKEN";

// Order here is the order of --help.
const OPTIONS = {
  role: { flag: "role", kind: "string", help: "user-simulator | judge (required)" },
  listen: { flag: "listen", kind: "string", help: "host:port (default 127.0.0.1:4001 user-simulator, :4002 judge)" },
  metricsListen: {
    flag: "metrics-listen",
    kind: "string",
    help: "host:port of a second listener serving only GET /metrics and /healthz, for Prometheus and the kubelet on the pod IP (default: none)",
  },
  model: { flag: "model", kind: "string", help: "model name clients ask for (default: the role name)" },
  upstreamBaseUrl: { flag: "upstream-base-url", kind: "string", help: "OpenAI-compatible base URL (required)" },
  upstreamModel: { flag: "upstream-model", kind: "string", help: "model name sent upstream (required)" },
  temperature: { flag: "temperature", kind: "number", help: "temperature when a request has none" },
  maxTokens: { flag: "max-tokens", kind: "number", help: "max_tokens when a request has none" },
  retries: { flag: "retries", kind: "number", help: "retries per request after the first attempt (default 6)" },
  timeoutSeconds: {
    flag: "timeout-seconds",
    kind: "number",
    help: "upstream attempt: longest wait to connect, for the answer to start or go on (default 120)",
  },
  deadlineSeconds: {
    flag: "deadline-seconds",
    kind: "number",
    help: "overall deadline of a request, queueing and retries included (default 600)",
  },
  allowanceUrl: {
    flag: "allowance-url",
    kind: "string",
    help: "operator endpoint handing out the job's limits and budget (then --share, --pods do not apply)",
  },
  requestsPerMinute: { flag: "requests-per-minute", kind: "number", help: "job-wide RPM limit (0 = none)" },
  tokensPerMinute: { flag: "tokens-per-minute", kind: "number", help: "job-wide TPM limit (0 = none)" },
  maxConcurrency: { flag: "max-concurrency", kind: "number", help: "job-wide in-flight limit (0 = none)" },
  share: {
    flag: "share",
    kind: "number",
    help: "without --allowance-url: this pod's fraction of the job's limits and budget (default 1)",
  },
  pods: { flag: "pods", kind: "number", help: "shorthand for --share 1/N" },
  queueSize: { flag: "queue-size", kind: "number", help: "requests that may wait for the limiter (default 1024)" },
  maxBodyBytes: { flag: "max-body-bytes", kind: "number", help: "largest request body (default 33554432, 32 MiB)" },
  bodyBytesInFlight: {
    flag: "body-bytes-in-flight",
    kind: "number",
    help: "request bytes all requests in flight may hold together (default 67108864, 64 MiB)",
  },
  bodyTimeoutSeconds: {
    flag: "body-timeout-seconds",
    kind: "number",
    help: "a request body must have arrived whole within this (default 30)",
  },
  budgetTokens: { flag: "budget-tokens", kind: "number", help: "job-wide token budget (0 = none)" },
  cacheEntries: { flag: "cache-entries", kind: "number", help: "cache of temperature-0 answers (0 = off)" },
  followLog: { flag: "follow-log", kind: "string", help: "trainer log to parse for progress (head pod only)" },
  totalSteps: { flag: "total-steps", kind: "number", help: "total training steps, if known in advance" },
  reportUrl: { flag: "report-url", kind: "string", help: "operator endpoint to POST usage and progress to" },
  reportIntervalSeconds: { flag: "report-interval-seconds", kind: "number", help: "report period (default 15)" },
  pod: { flag: "pod", kind: "string", help: "pod name in reports (default: hostname)" },
  logLevel: { flag: "log-level", kind: "string", help: "fatal|error|warn|info|debug (default info)" },
  logRequestBodies: { flag: "log-request-bodies", kind: "bool", help: "log request bodies at debug level" },
} as const satisfies Record<string, OptionSpec>;

type Key = keyof typeof OPTIONS;
const options = new Options<Key>("COLLAB_GATEWAY", OPTIONS);

export function envName(key: Key): string {
  return options.envName(key);
}

export interface GatewayConfig extends EndpointSettings {
  host: string;
  port: number;
  /** Where the second listener, with only /metrics, listens (for a PodMonitor); undefined: none. */
  metrics: { host: string; port: number } | undefined;
  model: string;
  token: string;
  temperature: number | undefined;
  maxTokens: number | undefined;
  retries: number;
  deadlineMs: number;
  /** When set, the operator hands out the job's limits and budget; the numbers below are then not used. */
  allowanceUrl: string | undefined;
  /** Already multiplied by share; 0 = unlimited. */
  requestsPerMinute: number;
  tokensPerMinute: number;
  maxConcurrency: number;
  share: number;
  queueSize: number;
  maxBodyBytes: number;
  bodyBytesInFlight: number;
  bodyTimeoutMs: number;
  budgetTokens: number;
  cacheEntries: number;
  followLog: string | undefined;
  totalSteps: number | undefined;
  reportUrl: string | undefined;
  reportIntervalMs: number;
  pod: string;
  logLevel: string;
  logRequestBodies: boolean;
}

export function helpText(): string {
  return [
    "usage: collab-operator gateway [flags]",
    "",
    "OpenAI-compatible sidecar for the user simulator or the judge: auth, model mapping, limits, retries, usage, progress.",
    "",
    ...options.helpRows(),
    "",
    "Secrets come from the environment only:",
    `  ${API_KEY_ENV.padEnd(75)} upstream API key (optional)`,
    `  ${TOKEN_ENV.padEnd(75)} token clients must send as 'Authorization: Bearer' (required)`,
  ].join("\n");
}

function num<K extends Key>(raw: RawOptions<K>, key: K, fallback: number, min?: number): number;
function num<K extends Key>(raw: RawOptions<K>, key: K, fallback: undefined, min?: number): number | undefined;
function num<K extends Key>(raw: RawOptions<K>, key: K, fallback: number | undefined, min = 0): number | undefined {
  const text = raw[key];
  if (text === undefined) return fallback;
  // Accept fractions like 1/3 for --share.
  const parts = text.split("/");
  const value = parts.length === 2 ? Number(parts[0]) / Number(parts[1]) : Number(text);
  if (!Number.isFinite(value) || value < min)
    throw new Error(`--${OPTIONS[key].flag}: ${text} is not a number >= ${min}`);
  return value;
}

function required<K extends Key>(raw: RawOptions<K>, key: K): string {
  const value = raw[key];
  if (!value) throw new Error(`--${OPTIONS[key].flag} (or ${envName(key)}) is required`);
  return value;
}

function hostPort(flag: string, value: string): { host: string; port: number } {
  const colon = value.lastIndexOf(":");
  const port = Number(value.slice(colon + 1));
  if (colon < 0 || !Number.isInteger(port)) throw new Error(`--${flag}: ${value} is not host:port`);
  return { host: value.slice(0, colon), port };
}

/** Splits a job-wide limit to this pod; a limit never rounds down to 0 (which would mean "unlimited"). */
function perPod(limit: number, share: number): number {
  return limit === 0 ? 0 : Math.max(1, Math.floor(limit * share));
}

/** The settings of one endpoint, as the gateway and the preflight both read them. */
export interface EndpointSettings {
  role: EndpointRole;
  upstreamBaseUrl: string;
  upstreamModel: string;
  /** null: no key; the upstream (e.g. an in-cluster vLLM) takes anonymous requests. */
  upstreamApiKey: string | null;
  timeoutMs: number;
}

function endpointSettings(
  raw: RawOptions<"role" | "upstreamBaseUrl" | "upstreamModel" | "timeoutSeconds">,
  env: NodeJS.ProcessEnv,
): EndpointSettings {
  const role = required(raw, "role");
  if (!(ENDPOINT_ROLES as readonly string[]).includes(role))
    throw new Error(`--role must be one of ${ENDPOINT_ROLES.join(", ")}`);
  const upstreamBaseUrl = required(raw, "upstreamBaseUrl");
  new URL(upstreamBaseUrl); // throws on a malformed URL, before any request is served
  return {
    role: role as EndpointRole,
    upstreamBaseUrl,
    upstreamModel: required(raw, "upstreamModel"),
    upstreamApiKey: env[API_KEY_ENV] || null,
    timeoutMs: num(raw, "timeoutSeconds", 120) * 1000,
  };
}

export function parseConfig(argv: string[], env: NodeJS.ProcessEnv): GatewayConfig {
  const raw = options.read(argv, env);
  const endpoint = endpointSettings(raw, env);
  const typedRole = endpoint.role;
  const { host, port } = hostPort("listen", raw.listen ?? `127.0.0.1:${DEFAULT_PORT[typedRole]}`);
  const token = env[TOKEN_ENV];
  if (!token) throw new Error(`${TOKEN_ENV} must be set: clients authenticate with it`);
  const pods = num(raw, "pods", undefined, 1);
  const share = pods !== undefined ? 1 / pods : num(raw, "share", 1);
  if (share <= 0 || share > 1) throw new Error("--share must be in (0, 1]");
  if (raw.allowanceUrl !== undefined) {
    new URL(raw.allowanceUrl); // throws on a malformed URL
    if (share !== 1) throw new Error("--share and --pods do not apply with --allowance-url: the operator shares");
  }
  const maxBodyBytes = Math.floor(num(raw, "maxBodyBytes", 32 * 1024 * 1024, 1));
  const bodyBytesInFlight = Math.floor(num(raw, "bodyBytesInFlight", 64 * 1024 * 1024, 1));
  if (bodyBytesInFlight < maxBodyBytes) {
    throw new Error("--body-bytes-in-flight must be at least --max-body-bytes (or the largest request never fits)");
  }
  const logLevel = raw.logLevel ?? "info";
  if (!["fatal", "error", "warn", "info", "debug", "silent"].includes(logLevel)) {
    throw new Error(`--log-level: unknown level ${logLevel}`);
  }
  return {
    ...endpoint,
    host,
    port,
    metrics: raw.metricsListen === undefined ? undefined : hostPort("metrics-listen", raw.metricsListen),
    model: raw.model ?? typedRole,
    token,
    temperature: num(raw, "temperature", undefined),
    maxTokens: num(raw, "maxTokens", undefined, 1),
    retries: Math.floor(num(raw, "retries", 6)),
    deadlineMs: num(raw, "deadlineSeconds", 600) * 1000,
    allowanceUrl: raw.allowanceUrl,
    requestsPerMinute: perPod(num(raw, "requestsPerMinute", 0), share),
    tokensPerMinute: perPod(num(raw, "tokensPerMinute", 0), share),
    maxConcurrency: perPod(num(raw, "maxConcurrency", 0), share),
    share,
    queueSize: Math.floor(num(raw, "queueSize", 1024)),
    maxBodyBytes,
    bodyBytesInFlight,
    bodyTimeoutMs: num(raw, "bodyTimeoutSeconds", 30) * 1000,
    budgetTokens: perPod(num(raw, "budgetTokens", 0), share),
    cacheEntries: Math.floor(num(raw, "cacheEntries", 0)),
    followLog: raw.followLog,
    totalSteps: num(raw, "totalSteps", undefined, 1),
    reportUrl: raw.reportUrl,
    reportIntervalMs: num(raw, "reportIntervalSeconds", 15) * 1000,
    pod: raw.pod ?? hostname(),
    logLevel,
    logRequestBodies: raw.logRequestBodies === "true",
  };
}

// ---- collab-operator preflight ----

/** Where the kubelet reads a container's termination message (terminationMessagePolicy: File). */
export const TERMINATION_LOG = "/dev/termination-log";

// The preflight reads the endpoint options of the gateway's table, from the same env vars, and ignores the rest of
// the sidecar's environment.
const PREFLIGHT_OPTIONS = {
  role: OPTIONS.role,
  upstreamBaseUrl: OPTIONS.upstreamBaseUrl,
  upstreamModel: OPTIONS.upstreamModel,
  timeoutSeconds: OPTIONS.timeoutSeconds,
  terminationLog: {
    flag: "termination-log",
    kind: "string",
    help: `file the verdict (JSON) is written to (default ${TERMINATION_LOG})`,
  },
} as const satisfies Record<string, OptionSpec>;
const preflightOptions = new Options<keyof typeof PREFLIGHT_OPTIONS>("COLLAB_GATEWAY", PREFLIGHT_OPTIONS);

export interface PreflightConfig extends EndpointSettings {
  terminationLog: string;
}

export function parsePreflightConfig(argv: string[], env: NodeJS.ProcessEnv): PreflightConfig {
  const raw = preflightOptions.read(argv, env);
  return { ...endpointSettings(raw, env), terminationLog: raw.terminationLog ?? TERMINATION_LOG };
}

export function preflightHelpText(): string {
  return [
    "usage: collab-operator preflight [flags]",
    "",
    "Checks one endpoint as the gateway would use it: reachable, key accepted, model served, one completion of",
    "max_tokens 1 answered. Writes the verdict as JSON to the termination log and exits 0 (ready) or 1 (not ready).",
    "",
    ...preflightOptions.helpRows(),
    "",
    "Secrets come from the environment only:",
    `  ${API_KEY_ENV.padEnd(75)} upstream API key (optional)`,
  ].join("\n");
}
