// A job's gateways and the operator's allowance book on a virtual clock: the same pure classes the processes run
// (Allowances in each gateway, JobAllowances in the operator), with a network that delays and loses messages, and
// faults (the operator restarted, a gateway restarted, the gang replaced) at chosen moments. Every call that goes
// upstream is logged with its time and what it used, so the tests can check the job-wide invariants over the log.
import { randomUUID } from "node:crypto";
import type { AllowanceAnswer, AllowanceRequest } from "../../../../src/contract/allowance.ts";
import type { EndpointRole } from "../../../../src/contract/gateway-settings.ts";
import { emptyUsage, type TokenCounts, type UsageCounters } from "../../../../src/contract/usage.ts";
import type { Waiting } from "../../../../src/gateway/admission.ts";
import { Allowances, BudgetExhaustedError } from "../../../../src/gateway/allowance.ts";
import type { Ticket } from "../../../../src/gateway/limiter.ts";
import { JobAllowances, type JobTerms, type JobView } from "../../../../src/operator/report/allowance.ts";
import type { LedgerEntry } from "../../../../src/operator/report/ledger.ts";

export interface SimCall {
  pod: number;
  /** The judge's gateway unless told. */
  role?: EndpointRole;
  need: TokenCounts;
  /** What the upstream says it used (at most `need` unless a test wants an underestimate). */
  used: TokenCounts;
  durationMs: number;
}

export interface Arrival {
  at: number;
  tokens: number;
  pod: number;
}

const ROLES: EndpointRole[] = ["user-simulator", "judge"];
const QUEUE_SIZE = 1024;

interface Gateway {
  pod: string;
  role: EndpointRole;
  startId: string;
  allowances: Allowances;
  usage: UsageCounters;
  queue: { call: SimCall; queuedAt: number }[];
  /** What the queue needs together, kept as calls come and go. */
  queued: TokenCounts;
  inFlight: { ticket: Ticket; call: SimCall; endAt: number }[];
  askInFlight: { seq: number; sentAt: number; timeoutAt: number } | undefined;
}

interface Message {
  at: number;
  deliver: () => void;
}

export interface SimOptions {
  pods: number;
  terms: JobTerms;
  /** What the served roles' GPUs have cost (JobView.servedCost). */
  servedCost?: number;
  /** One-way network delay, ms (random in [min, max]). */
  delayMs: [number, number];
  /** Chance that an ask or its answer is lost. */
  loss: number;
  random: () => number;
  stepMs?: number;
}

export class GovernanceSim {
  now = 0;
  readonly arrivals: Arrival[] = [];
  /** Highest number of calls in flight upstream at once, job-wide. */
  maxInFlight = 0;
  refusedForBudget = 0;
  queueFull = 0;
  /** Tokens used beyond the reservation, over calls in flight, summed: the budget's allowed overshoot. */
  overrun = 0;
  private book: JobAllowances;
  private readonly gateways: Gateway[] = [];
  private messages: Message[] = [];
  private readonly ledger = new Map<string, LedgerEntry>();
  private readonly options: SimOptions;
  private operatorUp = true;
  private attempt = 0;

  constructor(options: SimOptions) {
    this.options = options;
    // The operator has led long before the job started, as usual (a new leader's first moments: restartOperator).
    this.book = new JobAllowances(-10 * 60_000);
    for (let i = 0; i < options.pods; i++) for (const role of ROLES) this.gateways.push(this.newGateway(i, role));
  }

  get terms(): JobTerms {
    return this.options.terms;
  }

  /** A new call from pod `pod`'s trainer, now. */
  call(call: SimCall): void {
    const g = this.gateways[call.pod * 2 + ROLES.indexOf(call.role ?? "judge")]!;
    // The gateway's queue is bounded (--queue-size): beyond it a call is refused at once.
    if (g.queue.length >= QUEUE_SIZE) {
      this.queueFull++;
      return;
    }
    g.queue.push({ call, queuedAt: this.now });
    g.queued.promptTokens += call.need.promptTokens;
    g.queued.completionTokens += call.need.completionTokens;
    this.admit(g);
  }

  /** Runs the clock forward by `ms`. */
  run(ms: number, load?: (sim: GovernanceSim) => void): void {
    const step = this.options.stepMs ?? 10;
    const until = this.now + ms;
    while (this.now < until) {
      this.now += step;
      load?.(this);
      this.tick();
    }
  }

  /** The operator goes away (its answers are lost) until `restartOperator`. */
  stopOperator(): void {
    this.operatorUp = false;
  }

  /** A new operator process: a new term, an empty book. */
  restartOperator(): void {
    this.operatorUp = true;
    this.book = new JobAllowances(this.now);
  }

  /** Pod `i`'s judge gateway restarts: a new process, its calls in flight gone with it. */
  restartGateway(i: number): void {
    const index = i * 2 + ROLES.indexOf("judge");
    this.gateways[index] = this.newGateway(i, "judge", this.gateways[index]!.pod);
  }

  /** The gang restarts: every pod replaced by a pod of the next attempt. */
  restartGang(): void {
    this.attempt++;
    for (let i = 0; i < this.gateways.length; i++) this.gateways[i] = this.newGateway(i >> 1, ROLES[i % 2]!);
  }

  /** Calls waiting in the gateways' queues. */
  get waiting(): number {
    return this.gateways.reduce((sum, g) => sum + g.queue.length, 0);
  }

  /** Tokens used upstream (what the calls used, as the ledger has it). */
  get usedTokens(): number {
    return this.gateways.reduce((sum, g) => sum + g.usage.promptTokens + g.usage.completionTokens, 0) + this.retired;
  }
  private retired = 0;

  /** Prompt and completion tokens the live gateways' calls used. */
  get used(): { promptTokens: number; completionTokens: number } {
    const sum = { promptTokens: 0, completionTokens: 0 };
    for (const g of this.gateways) {
      sum.promptTokens += g.usage.promptTokens;
      sum.completionTokens += g.usage.completionTokens;
    }
    return sum;
  }

  setTerms(terms: JobTerms): void {
    this.options.terms = terms;
  }

  private newGateway(i: number, role: EndpointRole, pod = `job-a${this.attempt}-worker-${i}`): Gateway {
    const old = this.gateways[i * 2 + ROLES.indexOf(role)];
    if (old) {
      // The old process's usage stays in the ledger (it reported it); its calls in flight died with it.
      this.retired += old.usage.promptTokens + old.usage.completionTokens;
      this.ledger.set(`${old.pod}.${old.role}.${old.startId}`, { role: old.role, usage: { ...old.usage } });
    }
    return {
      pod,
      role,
      startId: randomUUID(),
      allowances: new Allowances(),
      usage: emptyUsage(),
      queue: [],
      queued: { promptTokens: 0, completionTokens: 0 },
      inFlight: [],
      askInFlight: undefined,
    };
  }

  private delay(): number {
    const [min, max] = this.options.delayMs;
    return min + this.options.random() * (max - min);
  }

  private view(): JobView {
    const pods = new Set(this.gateways.map((g) => g.pod));
    return {
      terms: this.options.terms,
      livePods: pods,
      runningGatewayPods: pods,
      ledger: this.ledger,
      ...(this.options.servedCost !== undefined ? { servedCost: this.options.servedCost } : {}),
    };
  }

  private tick(): void {
    const due = this.messages.filter((m) => m.at <= this.now);
    this.messages = this.messages.filter((m) => m.at > this.now);
    for (const m of due) m.deliver();
    for (const g of this.gateways) {
      for (const f of g.inFlight.filter((f) => f.endAt <= this.now)) {
        g.inFlight.splice(g.inFlight.indexOf(f), 1);
        g.usage.requests++;
        g.usage.promptTokens += f.call.used.promptTokens;
        g.usage.completionTokens += f.call.used.completionTokens;
        g.allowances.release(f.ticket, f.call.used);
      }
      this.admit(g);
      if (g.askInFlight && this.now >= g.askInFlight.timeoutAt) g.askInFlight = undefined;
      if (!g.askInFlight && g.allowances.shouldAsk(this.now, this.waitingOf(g))) this.ask(g);
    }
  }

  private waitingOf(g: Gateway): Waiting {
    return { count: g.queue.length, need: { ...g.queued }, head: g.queue[0]?.call.need };
  }

  private dequeue(g: Gateway): SimCall {
    const { call } = g.queue.shift()!;
    g.queued.promptTokens -= call.need.promptTokens;
    g.queued.completionTokens -= call.need.completionTokens;
    return call;
  }

  private admit(g: Gateway): void {
    while (g.queue.length > 0) {
      const head = g.queue[0]!;
      const decision = g.allowances.tryAcquire(this.now, head.call.need);
      if (!decision.admitted) {
        if ("refused" in decision) {
          if (decision.refused instanceof BudgetExhaustedError) this.refusedForBudget++;
          this.dequeue(g);
          continue;
        }
        return;
      }
      this.dequeue(g);
      g.inFlight.push({ ticket: decision.ticket, call: head.call, endAt: this.now + head.call.durationMs });
      this.arrivals.push({
        at: this.now,
        tokens: head.call.used.promptTokens + head.call.used.completionTokens,
        pod: head.call.pod,
      });
      const estimate = head.call.need.promptTokens + head.call.need.completionTokens;
      this.overrun += Math.max(0, head.call.used.promptTokens + head.call.used.completionTokens - estimate);
      const inFlight = this.gateways.reduce((sum, x) => sum + x.inFlight.length, 0);
      this.maxInFlight = Math.max(this.maxInFlight, inFlight);
    }
  }

  private ask(g: Gateway): void {
    const sentAt = this.now;
    const request: AllowanceRequest = g.allowances.ask(sentAt, this.waitingOf(g), g.usage, g);
    g.askInFlight = { seq: request.seq, sentAt, timeoutAt: sentAt + 5000 };
    if (this.options.random() < this.options.loss) return;
    const book = this.book;
    const wire = JSON.parse(JSON.stringify(request)) as AllowanceRequest;
    this.messages.push({
      at: this.now + this.delay(),
      deliver: () => {
        if (!this.operatorUp || book !== this.book) return; // the process that would have answered is gone
        if (!this.gateways.includes(g)) return; // the gateway died meanwhile
        const outcome = book.ask(this.now, wire, this.view());
        if (this.options.random() < this.options.loss) return;
        this.messages.push({
          at: this.now + this.delay(),
          deliver: () => {
            if (g.askInFlight?.seq !== request.seq) return; // given up on
            g.askInFlight = undefined;
            if ("stale" in outcome) g.allowances.stale();
            else
              g.allowances.answered(
                this.now,
                request.seq,
                sentAt,
                JSON.parse(JSON.stringify(outcome.answer)) as AllowanceAnswer,
                this.waitingOf(g),
              );
            this.admit(g);
          },
        });
      },
    });
  }
}

/** The most arrivals (requests, tokens) in any window of `windowMs`: the busiest window starts at an arrival. */
export function busiestWindow(arrivals: readonly Arrival[], windowMs: number): { requests: number; tokens: number } {
  const sorted = [...arrivals].sort((a, b) => a.at - b.at);
  let best = { requests: 0, tokens: 0 };
  let end = 0;
  let tokens = 0;
  for (let start = 0; start < sorted.length; start++) {
    while (end < sorted.length && sorted[end]!.at < sorted[start]!.at + windowMs) tokens += sorted[end++]!.tokens;
    best = { requests: Math.max(best.requests, end - start), tokens: Math.max(best.tokens, tokens) };
    tokens -= sorted[start]!.tokens;
  }
  return best;
}
