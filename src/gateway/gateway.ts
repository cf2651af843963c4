// Wires a gateway process together: config -> limiter, queue, usage, cache, metrics, server; and on the head pod the
// log follower and progress tracker; and the reporter when a report URL is set.
import { randomUUID } from "node:crypto";
import type { AddressInfo } from "node:net";
import { type DestinationStream, type Logger, type LoggerOptions, pino } from "pino";
import type { GatewayReport } from "../contract/report.ts";
import { emptyUsage } from "../contract/usage.ts";
import { AdmissionQueue } from "./admission.ts";
import { Allowances } from "./allowance.ts";
import { AllowanceClient } from "./allowance-client.ts";
import { LruCache } from "./cache.ts";
import type { ChatDeps } from "./chat.ts";
import type { GatewayConfig } from "./config.ts";
import { BodyBudget } from "./http.ts";
import { SlidingWindowLimiter } from "./limiter.ts";
import { LogFollower } from "./log-follower.ts";
import { createMetrics } from "./metrics.ts";
import { makeRedactor, type Redact } from "./redact.ts";
import { Reporter } from "./reporter.ts";
import { type Backoff, DEFAULT_BACKOFF } from "./retry-policy.ts";
import { createGatewayServer, createMetricsServer } from "./server.ts";
import { createUpstreamClient } from "./upstream.ts";
import { overBudget } from "./usage.ts";
import { ProgressTracker } from "./verl-log.ts";

const FOLLOW_INTERVAL_MS = 1000;

export interface Gateway {
  url: string;
  /** The --metrics-listen listener's base URL, when there is one. */
  metricsUrl: string | undefined;
  buildReport: () => GatewayReport;
  close: () => Promise<void>;
}

export interface StartOptions {
  /** For tests: shorter backoff than production's. */
  backoff?: Omit<Backoff, "retries">;
  /** Where log lines go (default stdout); tests collect them to check that no secret is written. */
  logDestination?: DestinationStream;
}

export function createLogger(level: string, redact: Redact, destination?: DestinationStream): Logger {
  const options: LoggerOptions = {
    level,
    base: { component: "gateway" },
    // Every log call passes through the redactor, whatever library text it carries.
    hooks: {
      logMethod(args, method) {
        const clean = args.map((arg) =>
          typeof arg === "string"
            ? redact(arg)
            : arg && typeof arg === "object"
              ? JSON.parse(redact(JSON.stringify(arg)))
              : arg,
        );
        return method.apply(this, clean as Parameters<typeof method>);
      },
    },
  };
  return destination ? pino(options, destination) : pino(options);
}

export async function startGateway(config: GatewayConfig, options: StartOptions = {}): Promise<Gateway> {
  const redact = makeRedactor([config.upstreamApiKey, config.token]);
  const log = createLogger(config.logLevel, redact, options.logDestination);
  // With an allowance URL the operator hands out the job's limits and budget; without, this pod keeps its share.
  const allowances = config.allowanceUrl ? new Allowances() : undefined;
  const queue = new AdmissionQueue(allowances ?? new SlidingWindowLimiter(config), config.queueSize);
  const usage = emptyUsage();
  let operatorSaysOverBudget = false;
  const budgetExceeded = allowances
    ? () => allowances.budgetExhausted
    : () => operatorSaysOverBudget || overBudget(usage, config.budgetTokens);
  const budgetMessage = allowances
    ? () => allowances.exhaustedMessage()
    : () =>
        `the job's token budget is used up (this pod's share: ${config.budgetTokens} tokens); no more requests are sent upstream`;
  const metrics = createMetrics({
    role: config.role,
    upstreamBaseUrl: config.upstreamBaseUrl,
    upstreamModel: config.upstreamModel,
    usage,
    waiting: () => queue.waiting,
    inFlight: () => queue.active,
    budgetExceeded,
  });
  const deps: ChatDeps = {
    config,
    bodyBudget: new BodyBudget(config.bodyBytesInFlight),
    bodyLimits: { maxBytes: config.maxBodyBytes, timeoutMs: config.bodyTimeoutMs },
    upstream: createUpstreamClient({
      baseURL: config.upstreamBaseUrl,
      apiKey: config.upstreamApiKey,
      connectTimeoutMs: config.timeoutMs,
    }),
    queue,
    usage,
    cache: config.cacheEntries > 0 ? new LruCache(config.cacheEntries) : undefined,
    metrics,
    log,
    redact,
    backoff: {
      retries: config.retries,
      holdUnavailable: config.holdUnavailable,
      ...(options.backoff ?? DEFAULT_BACKOFF),
    },
    random: Math.random,
    budgetExceeded,
    budgetMessage,
  };
  const server = createGatewayServer(deps);
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(config.port, config.host, resolve);
  });
  const address = server.address() as AddressInfo;
  const metricsServer = config.metrics ? createMetricsServer(metrics) : undefined;
  if (metricsServer && config.metrics) {
    const { port, host } = config.metrics;
    await new Promise<void>((resolve, reject) => {
      metricsServer.once("error", reject);
      metricsServer.listen(port, host, resolve);
    });
  }

  const tracker = new ProgressTracker(config.totalSteps);
  const startId = randomUUID();
  const buildReport = (): GatewayReport => ({
    pod: config.pod,
    role: config.role,
    startId,
    usage: { [config.role]: { ...usage } },
    ...(tracker.progress && { progress: tracker.progress }),
  });
  const reporter = config.reportUrl
    ? new Reporter({
        url: config.reportUrl,
        token: config.token,
        intervalMs: config.reportIntervalMs,
        build: buildReport,
        // With allowances the operator's answers to asks say it; the report's verdict is older news.
        onBudgetVerdict: (exceeded) => {
          if (!allowances) operatorSaysOverBudget = exceeded;
        },
        log,
      })
    : undefined;
  const follower = config.followLog
    ? new LogFollower(config.followLog, (line) => {
        if (tracker.feed(line, new Date())) reporter?.changed();
      })
    : undefined;
  const allowanceClient =
    allowances && config.allowanceUrl
      ? new AllowanceClient({
          url: config.allowanceUrl,
          token: config.token,
          allowances,
          queue,
          usage,
          identity: { pod: config.pod, role: config.role, startId },
          log,
        })
      : undefined;
  follower?.start(FOLLOW_INTERVAL_MS);
  reporter?.start();
  allowanceClient?.start();
  log.info(
    {
      role: config.role,
      listen: `${address.address}:${address.port}`,
      upstream: config.upstreamBaseUrl,
      upstreamModel: config.upstreamModel,
      limits: allowances
        ? "job-wide, from the operator"
        : { rpm: config.requestsPerMinute, tpm: config.tokensPerMinute, concurrency: config.maxConcurrency },
      upstreamKey: config.upstreamApiKey ? "set" : "none",
      followLog: config.followLog ?? null,
      report: Boolean(config.reportUrl),
    },
    "gateway listening",
  );
  return {
    url: `http://${address.address}:${address.port}`,
    metricsUrl: metricsServer ? `http://${hostOf(metricsServer.address() as AddressInfo)}` : undefined,
    buildReport,
    close: async () => {
      allowanceClient?.stop();
      await follower?.stop();
      await reporter?.stop();
      for (const listener of metricsServer ? [server, metricsServer] : [server]) {
        listener.closeAllConnections();
        await new Promise<void>((resolve) => listener.close(() => resolve()));
      }
      await deps.upstream.close();
    },
  };
}

function hostOf(address: AddressInfo): string {
  const host = address.family === "IPv6" ? `[${address.address}]` : address.address;
  return `${host}:${address.port}`;
}
