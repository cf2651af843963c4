// How the operator configures the processes it puts in job pods: the gateway sidecars (`collab-operator gateway`) and
// the endpoint preflight (`collab-operator preflight`). Every setting is a flag with an environment variable,
// COLLAB_GATEWAY_<FLAG>; the operator renders the variables, the commands read them (the flag wins). Secrets are
// deliberately not settings: flags show up in `ps`, so the upstream key and the job token are read from the
// environment only.

/** The two endpoints a job calls, each through its own gateway. */
export const ENDPOINT_ROLES = ["user-simulator", "judge"] as const;
export type EndpointRole = (typeof ENDPOINT_ROLES)[number];

/** A setting: its flag (without --), the kind of its value, and its line in --help. */
export interface Setting {
  flag: string;
  kind: "string" | "number" | "bool";
  help: string;
}

/** Settings as read from flags and environment, before they are checked: absent when neither sets them. */
export type SettingValues<K extends string> = Partial<Record<K, string>>;

/** The environment variable of a flag: PREFIX_FLAG_NAME. */
export function envVarName(prefix: string, flag: string): string {
  return `${prefix}_${flag.toUpperCase().replaceAll("-", "_")}`;
}

export const GATEWAY_ENV_PREFIX = "COLLAB_GATEWAY";
export const API_KEY_ENV = "COLLAB_GATEWAY_UPSTREAM_API_KEY";
export const TOKEN_ENV = "COLLAB_GATEWAY_TOKEN";

/** Where the kubelet reads a container's termination message (terminationMessagePolicy: File). */
export const TERMINATION_LOG = "/dev/termination-log";

// Order here is the order of --help.
export const GATEWAY_SETTINGS = {
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
  holdUnavailable: {
    flag: "hold-unavailable",
    kind: "bool",
    help: "the upstream is a server the job runs: while none of its replicas answers (connection refused, reset or timed out, 502, 503, 504) a request waits for one, trying again every few seconds within its deadline, and those tries do not count against --retries",
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
} as const satisfies Record<string, Setting>;
export type GatewaySetting = keyof typeof GATEWAY_SETTINGS;

/** The preflight reads the gateway's endpoint settings, from the same variables, and ignores the rest. */
export const PREFLIGHT_SETTINGS = {
  role: GATEWAY_SETTINGS.role,
  upstreamBaseUrl: GATEWAY_SETTINGS.upstreamBaseUrl,
  upstreamModel: GATEWAY_SETTINGS.upstreamModel,
  timeoutSeconds: GATEWAY_SETTINGS.timeoutSeconds,
  terminationLog: {
    flag: "termination-log",
    kind: "string",
    help: `file the verdict (JSON) is written to (default ${TERMINATION_LOG})`,
  },
} as const satisfies Record<string, Setting>;
export type PreflightSetting = keyof typeof PREFLIGHT_SETTINGS;

/** The environment variable the operator sets a gateway setting with. */
export function gatewayEnv(key: GatewaySetting): string {
  return envVarName(GATEWAY_ENV_PREFIX, GATEWAY_SETTINGS[key].flag);
}
