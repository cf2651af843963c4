// Pushes the gateway's report to the operator: every interval, and soon after the progress changes. A failed push is
// logged (never with the token) and simply superseded by the next one: reports carry cumulative values.
import type { Logger } from "pino";
import { type GatewayReport, ReportResponseSchema } from "./report.ts";

// Progress changes are sent at most this often, so a burst of log lines makes one request.
const CHANGE_DEBOUNCE_MS = 1000;

export interface ReporterOptions {
  url: string;
  token: string;
  intervalMs: number;
  build: () => GatewayReport;
  /** Called with the operator's job-wide budget verdict, when it gives one. */
  onBudgetVerdict: (exceeded: boolean) => void;
  log: Logger;
}

export class Reporter {
  private readonly options: ReporterOptions;
  private interval: NodeJS.Timeout | undefined;
  private soon: NodeJS.Timeout | undefined;
  private inFlight: Promise<void> | undefined;

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
        log.warn({ status: response.status }, "operator refused the gateway report");
        return;
      }
      const verdict = ReportResponseSchema.safeParse(text ? JSON.parse(text) : {});
      if (verdict.success && verdict.data.budgetExceeded !== undefined) {
        this.options.onBudgetVerdict(verdict.data.budgetExceeded);
      }
    } catch (error) {
      log.warn({ error: (error as Error).message }, "could not send the gateway report");
    }
  }
}
