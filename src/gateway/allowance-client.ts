// Talks to the operator's allowance endpoint for a gateway (the decisions are Allowances', allowance.ts): one ask at a
// time, when a call cannot go, before a grant runs out, to give back what is idle, and as a heartbeat; answers go to
// Allowances, then the queue admits whoever fits. No request waits for this but those that cannot go without it.
import type { Logger } from "pino";
import { AllowanceAnswerSchema, type AllowanceRequest } from "../contract/allowance.ts";
import type { UsageCounters } from "../contract/usage.ts";
import type { AdmissionQueue } from "./admission.ts";
import type { Allowances } from "./allowance.ts";

/** How often the client looks whether an ask is due (heartbeats, expiring grants, idle holdings). */
const TICK_MS = 200;
/** An ask the operator has not answered in this long is given up; its answer, if it comes, is ignored. */
const ASK_TIMEOUT_MS = 5_000;
/** Backoff after a failed ask, doubling. */
const BACKOFF_MS = { initial: 250, max: 2_000 };

export interface AllowanceClientOptions {
  url: string;
  token: string;
  allowances: Allowances;
  queue: AdmissionQueue;
  usage: UsageCounters;
  identity: Pick<AllowanceRequest, "pod" | "role" | "startId">;
  log: Logger;
  now?: () => number;
}

/** What the client did, for the gateway's metrics. */
export interface AllowanceClientStats {
  asks: number;
  failures: number;
}

export class AllowanceClient {
  private readonly options: AllowanceClientOptions;
  private readonly now: () => number;
  private timer: NodeJS.Timeout | undefined;
  private asking = false;
  private nudged = false;
  private failures = 0;
  private notBefore = 0;
  private stopped = false;
  readonly stats: AllowanceClientStats = { asks: 0, failures: 0 };

  constructor(options: AllowanceClientOptions) {
    this.options = options;
    this.now = options.now ?? performance.now.bind(performance);
    options.allowances.onShortage = () => this.nudge();
  }

  start(): void {
    this.timer = setInterval(() => this.maybeAsk(), TICK_MS);
    this.maybeAsk();
  }

  stop(): void {
    this.stopped = true;
    clearInterval(this.timer);
  }

  /** A call could not go: ask once the current turn of the event loop has queued it. */
  private nudge(): void {
    if (this.nudged) return;
    this.nudged = true;
    setImmediate(() => {
      this.nudged = false;
      this.maybeAsk();
    });
  }

  private maybeAsk(): void {
    const { allowances, queue } = this.options;
    const now = this.now();
    if (this.stopped || this.asking || now < this.notBefore) return;
    if (!allowances.shouldAsk(now, queue.waitingDemand())) return;
    this.asking = true;
    void this.ask(now).finally(() => {
      this.asking = false;
    });
  }

  private async ask(sentAt: number): Promise<void> {
    const { allowances, queue, usage, identity, url, token, log } = this.options;
    const request = allowances.ask(sentAt, queue.waitingDemand(), usage, identity);
    this.stats.asks++;
    try {
      const response = await fetch(url, {
        method: "POST",
        headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
        body: JSON.stringify(request),
        signal: AbortSignal.timeout(ASK_TIMEOUT_MS),
      });
      const text = await response.text();
      if (response.status === 409) {
        allowances.stale();
        return;
      }
      if (!response.ok) throw new Error(`HTTP ${response.status}: ${text.slice(0, 200)}`);
      const answer = AllowanceAnswerSchema.parse(JSON.parse(text));
      this.failures = 0;
      allowances.answered(this.now(), request.seq, sentAt, answer, queue.waitingDemand());
      queue.poke();
    } catch (error) {
      this.stats.failures++;
      this.failures++;
      const wait = Math.min(BACKOFF_MS.max, BACKOFF_MS.initial * 2 ** (this.failures - 1));
      this.notBefore = this.now() + wait;
      log[this.failures === 1 ? "warn" : "debug"](
        { error: (error as Error).message, retryInMs: wait },
        "no answer from the operator's allowance endpoint; spending what this gateway holds",
      );
    }
  }
}
