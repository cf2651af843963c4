// Gateway and preflight configuration: the settings of contract/gateway-settings.ts as the commands read them (from a
// flag or its COLLAB_GATEWAY_* env var: src/cli/), checked and given their defaults. Secrets come from the environment.
import { hostname } from "node:os";
import {
  API_KEY_ENV,
  ENDPOINT_ROLES,
  type EndpointRole,
  GATEWAY_SETTINGS,
  type GatewaySetting,
  gatewayEnv,
  type PreflightSetting,
  type SettingValues,
  TERMINATION_LOG,
  TOKEN_ENV,
} from "../contract/gateway-settings.ts";

const DEFAULT_PORT: Record<EndpointRole, number> = { "user-simulator": 4001, judge: 4002 };

type Key = GatewaySetting;

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
  /** The upstream is a server the job runs: wait for a replica while none answers (retry-policy.ts). */
  holdUnavailable: boolean;
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

function num<K extends Key>(raw: SettingValues<K>, key: K, fallback: number, min?: number): number;
function num<K extends Key>(raw: SettingValues<K>, key: K, fallback: undefined, min?: number): number | undefined;
function num<K extends Key>(raw: SettingValues<K>, key: K, fallback: number | undefined, min = 0): number | undefined {
  const text = raw[key];
  if (text === undefined) return fallback;
  // Accept fractions like 1/3 for --share.
  const parts = text.split("/");
  const value = parts.length === 2 ? Number(parts[0]) / Number(parts[1]) : Number(text);
  if (!Number.isFinite(value) || value < min)
    throw new Error(`--${GATEWAY_SETTINGS[key].flag}: ${text} is not a number >= ${min}`);
  return value;
}

function required<K extends Key>(raw: SettingValues<K>, key: K): string {
  const value = raw[key];
  if (!value) throw new Error(`--${GATEWAY_SETTINGS[key].flag} (or ${gatewayEnv(key)}) is required`);
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
  raw: SettingValues<"role" | "upstreamBaseUrl" | "upstreamModel" | "timeoutSeconds">,
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

/** The gateway's configuration from its settings' values; throws naming the flag (or variable) that is wrong. */
export function gatewayConfig(raw: SettingValues<GatewaySetting>, env: NodeJS.ProcessEnv): GatewayConfig {
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
    holdUnavailable: raw.holdUnavailable === "true",
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

export interface PreflightConfig extends EndpointSettings {
  terminationLog: string;
}

/** The preflight's configuration: the endpoint's settings, from the same variables as its gateway's. */
export function preflightConfig(raw: SettingValues<PreflightSetting>, env: NodeJS.ProcessEnv): PreflightConfig {
  return { ...endpointSettings(raw, env), terminationLog: raw.terminationLog ?? TERMINATION_LOG };
}
