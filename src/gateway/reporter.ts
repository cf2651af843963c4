// Pushes the gateway's report to the operator: every interval, and soon after the progress changes. A push that
// meets no leader (connection refused or reset, a timeout, 502/503 while the operator fails over or rolls) is retried
// with backoff for a bounded time, each try with the newest counters; then it is logged (never with the token) and
// left to the next one, which carries cumulative values anyway. Other refusals (401, 403, 400) are not retried.
import type { Logger } from "pino";
import { type GatewayReport, ReportResponseSchema } from "../contract/report.ts";

// Progress changes are sent at most this often, so a burst of log lines makes one request.
const CHANGE_DEBOUNCE_MS = 1000;
/** Long enough to outlast a failover after a leader's crash (lease 15 s, a retry period, the new leader's sync). */
export const RETRY_BUDGET_MS = 60_000;
/** The last report, on SIGTERM, stays within the pod's default 30 s grace period. */
export const FINAL_RETRY_BUDGET_MS = 25_000;
const RETRYABLE = new Set([408, 429, 500, 502, 503, 504]);

/** What became of this reporter's pushes (a push is one report, however many tries it took). */
export interface ReporterStats {
  delivered: number;
  /** Tries beyond the first. */
  retries: number;
  /** Pushes that ran out of retry time or were refused for good. */
  failed: number;
}

export interface ReporterOptions {
  url: string;
  token: string;
  intervalMs: number;
  build: () => GatewayReport;
  /** Called with the operator's job-wide budget verdict, when it gives one. */
  onBudgetVerdict: (exceeded: boolean) => void;
  log: Logger;
  /** For tests: backoff between tries (default 250 ms doubling to 4 s) and the retry budgets. */
  backoffMs?: { initial: number; max: number };
  retryBudgetMs?: number;
  finalRetryBudgetMs?: number;
}

export class Reporter {
  private readonly options: ReporterOptions;
  private interval: NodeJS.Timeout | undefined;
  private soon: NodeJS.Timeout | undefined;
  private inFlight: Promise<void> | undefined;
  private stopping = false;
  readonly stats: ReporterStats = { delivered: 0, retries: 0, failed: 0 };

  constructor(options: ReporterOptions) {
    this.options = options;
  }

  start(): void {
    this.interval = setInterval(() => this.send(), this.options.intervalMs);
    this.send();
  }

  /** Schedules a push shortly, coalescing calls that come close together. */
  changed(): void {
    this.soon ??= setTimeout(() => {
      this.soon = undefined;
      this.send();
    }, CHANGE_DEBOUNCE_MS);
  }

  /** Stops the timers and sends a last report, so the operator sees the final counters. */
  async stop(): Promise<void> {
    clearInterval(this.interval);
    clearTimeout(this.soon);
    this.stopping = true; // an in-flight push stops retrying at the final budget's deadline too
    await this.inFlight;
    await this.push();
  }

  private send(): void {
    if (this.inFlight) return; // the next tick carries newer values anyway
    this.inFlight = this.push().finally(() => {
      this.inFlight = undefined;
    });
  }

  private async push(): Promise<void> {
    const { log } = this.options;
    const started = Date.now();
    const budget = () =>
      this.stopping
        ? (this.options.finalRetryBudgetMs ?? FINAL_RETRY_BUDGET_MS)
        : (this.options.retryBudgetMs ?? RETRY_BUDGET_MS);
    const { initial, max } = this.options.backoffMs ?? { initial: 250, max: 4000 };
    for (let attempt = 0; ; attempt++) {
      const outcome = await this.tryOnce();
      if (outcome === "delivered") {
        this.stats.delivered++;
        return;
      }
      const wait = Math.min(max, initial * 2 ** attempt) * (0.5 + Math.random() / 2);
      if (outcome === "refused" || Date.now() + wait - started > budget()) {
        this.stats.failed++;
        log.warn({ tries: attempt + 1 }, "gave up sending the gateway report");
        return;
      }
      this.stats.retries++;
      await new Promise((resolve) => setTimeout(resolve, wait));
    }
  }

  /** One try: a new report with the current counters. */
  private async tryOnce(): Promise<"delivered" | "retry" | "refused"> {
    const { url, token, log } = this.options;
    try {
      const response = await fetch(url, {
        method: "POST",
        headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
        body: JSON.stringify(this.options.build()),
        signal: AbortSignal.timeout(10_000),
      });
      const text = await response.text();
      if (!response.ok) {
        const retry = RETRYABLE.has(response.status);
        log[retry ? "debug" : "warn"]({ status: response.status }, "operator refused the gateway report");
        return retry ? "retry" : "refused";
      }
      const verdict = ReportResponseSchema.safeParse(text ? JSON.parse(text) : {});
      if (verdict.success && verdict.data.budgetExceeded !== undefined) {
        this.options.onBudgetVerdict(verdict.data.budgetExceeded);
      }
      return "delivered";
    } catch (error) {
      log.debug({ error: (error as Error).message }, "could not send the gateway report");
      return "retry";
    }
  }
}
