// What a gateway holds of the job's limits and budget, and how it spends it (docs/gateway.md, "Job-wide limits and
// budget"). Pure, the time passed in: the admission queue asks it whether a call may go, and the allowance client
// (allowance-client.ts) asks it what to tell the operator and hands it the answers.
//
// A call goes only when, at that moment: the gateway's lease on slots and budget is current, it holds a free slot
// (under the operator's target), a grant still valid covers one request and the call's token estimate, and its budget
// covers the call's worst case (prompt estimate + max_tokens, in tokens and in spend). All of it is taken at once and
// settled when the call ends: the upstream's real usage replaces the estimate, and what was reserved beyond it goes
// back to the grant (while still valid) and to the budget.

import {
  type AllowanceAnswer,
  type AllowanceRequest,
  type BudgetAmount,
  GRANT_VALIDITY_MS,
  HEARTBEAT_MS,
} from "../contract/allowance.ts";
import { WINDOW_MS } from "../contract/sliding-window.ts";
import { costOf, type Prices, type TokenCounts, totalTokens, type UsageCounters } from "../contract/usage.ts";
import { NeverFitsError, type Waiting } from "./admission.ts";
import type { Decision, Limiter, Ticket } from "./limiter.ts";

/** Calls refused because the job's budget cannot cover them (the operator said so). */
export class BudgetExhaustedError extends Error {}

/** No call for this long, and nothing waiting: give back what is held. */
export const IDLE_MS = 3_000;
/** An idle gateway still checks in this often, so a new leader soon knows every gateway (and that it holds nothing). */
export const IDLE_HEARTBEAT_MS = 10_000;
/** Asking again after an answer that brought nothing, when it named no time. */
const BLOCKED_RETRY_MS = 250;

interface Grant {
  seq: number;
  validUntil: number;
  requests: number;
  tokens: number;
  usedRequests: number;
  usedTokens: number;
  /** Calls admitted on it that have not ended: its usage is not final until they have. */
  calls: number;
  /** The seq of the ask that told the operator it is closed (acknowledged once that ask is answered). */
  closedIn: number | undefined;
}

interface AllowanceTicket extends Ticket {
  cost: number;
  grant: Grant | undefined;
}

/** Requests and tokens sent, per second of the monotonic clock, over the window and a grant's validity. */
class SendHistory {
  private static readonly SECONDS = Math.ceil((WINDOW_MS + GRANT_VALIDITY_MS) / 1000) + 1;
  private readonly seconds = new Array<number>(SendHistory.SECONDS).fill(-1);
  private readonly requests = new Array<number>(SendHistory.SECONDS).fill(0);
  private readonly tokens = new Array<number>(SendHistory.SECONDS).fill(0);

  add(now: number, requests: number, tokens: number): void {
    const second = Math.floor(now / 1000);
    const i = second % SendHistory.SECONDS;
    if (this.seconds[i] !== second) {
      this.seconds[i] = second;
      this.requests[i] = 0;
      this.tokens[i] = 0;
    }
    this.requests[i]! += requests;
    this.tokens[i]! += tokens;
  }

  /** Sums over the seconds that end less than `ms` ago. */
  recent(now: number, ms: number): { requests: number; tokens: number } {
    const sum = { requests: 0, tokens: 0 };
    for (const [i, second] of this.seconds.entries()) {
      if (second >= 0 && now - (second + 1) * 1000 < ms) {
        sum.requests += this.requests[i]!;
        sum.tokens += this.tokens[i]!;
      }
    }
    return sum;
  }

  /** [age, requests, tokens]: the age from each second's end, so the operator places it no earlier than it was. */
  snapshot(now: number): [number, number, number][] {
    const out: [number, number, number][] = [];
    for (const [i, second] of this.seconds.entries()) {
      const age = Math.max(0, Math.floor(now - (second + 1) * 1000));
      if (second >= 0 && this.requests[i]! > 0 && age < WINDOW_MS + GRANT_VALIDITY_MS) {
        out.push([age, this.requests[i]!, this.tokens[i]!]);
      }
    }
    return out;
  }
}

export class Allowances implements Limiter {
  private seq = 0;
  /** When this process first asked: it asks at once when it starts. */
  private firstAsk: number | undefined;
  private grants: Grant[] = [];
  private slots = 0;
  private slotTarget = Number.POSITIVE_INFINITY;
  private readonly budget: BudgetAmount = { tokens: 0, cost: 0 };
  private readonly reserved: BudgetAmount = { tokens: 0, cost: 0 };
  private inFlight = 0;
  private leaseUntil = Number.NEGATIVE_INFINITY;
  /** The job's terms from the last answer; nothing goes out before the first. */
  private terms: AllowanceAnswer["limits"] | undefined;
  private prices: Prices | undefined;
  private exhausted = false;
  /** The need of the last call refused for the budget, told to the operator until it can be met. */
  private refusedNeed: BudgetAmount | undefined;
  private retryAt = 0;
  private lastAdmission = Number.NEGATIVE_INFINITY;
  private lastAsk = Number.NEGATIVE_INFINITY;
  private giveBackBudget = false;
  private readonly history = new SendHistory();
  /** Called when a call could not go: the client then asks the operator without waiting for its next tick. */
  onShortage: () => void = () => {};

  get active(): number {
    return this.inFlight;
  }

  /** The operator says the budget cannot cover the next call; refuse calls until it says otherwise. */
  get budgetExhausted(): boolean {
    return this.exhausted;
  }

  /** The job's terms as the operator last gave them (undefined before the first answer). */
  get limits(): AllowanceAnswer["limits"] | undefined {
    return this.terms;
  }

  neverFits(need: TokenCounts): string | undefined {
    const tpm = this.terms?.tokensPerMinute ?? 0;
    const tokens = totalTokens(need);
    return tpm > 0 && tokens > tpm
      ? `request needs ~${tokens} tokens, more than the job's limit of ${tpm} per minute`
      : undefined;
  }

  waitMs(now: number, need: TokenCounts): number {
    if (!this.terms) return Number.POSITIVE_INFINITY;
    if (this.rateLimited && !this.grantFor(now, totalTokens(need))) {
      return this.retryAt > now ? this.retryAt - now : Number.POSITIVE_INFINITY;
    }
    return 0;
  }

  tryAcquire(now: number, need: TokenCounts): Decision {
    // Learnt only with the first answer, after the call may have joined the queue.
    const never = this.neverFits(need);
    if (never) return { admitted: false, refused: new NeverFitsError(never) };
    const refused = this.shortage(now, need);
    if (refused !== undefined) {
      if (refused === "budget" && this.exhausted) {
        this.refusedNeed = this.costs(need);
        return { admitted: false, refused: new BudgetExhaustedError(this.exhaustedMessage()) };
      }
      this.onShortage();
      return { admitted: false, waitMs: null };
    }
    const tokens = totalTokens(need);
    const cost = this.costs(need).cost;
    const grant = this.rateLimited ? this.grantFor(now, tokens) : undefined;
    if (grant) {
      grant.usedRequests++;
      grant.usedTokens += tokens;
      grant.calls++;
    }
    this.inFlight++;
    this.reserved.tokens += tokens;
    this.reserved.cost += cost;
    this.history.add(now, 1, tokens);
    this.lastAdmission = now;
    const ticket: AllowanceTicket = { at: now, tokens, cost, grant };
    return { admitted: true, ticket };
  }

  release(ticket: Ticket, used?: TokenCounts): void {
    const own = ticket as AllowanceTicket;
    const tokens = used ? totalTokens(used) : own.tokens;
    const cost = used ? this.costs(used).cost : own.cost;
    this.inFlight--;
    this.reserved.tokens -= own.tokens;
    this.reserved.cost -= own.cost;
    // What the call used leaves the budget; what it reserved beyond that is free again.
    this.budget.tokens -= tokens;
    this.budget.cost -= cost;
    if (own.grant) {
      own.grant.usedTokens += tokens - own.tokens;
      own.grant.calls--;
    }
    own.tokens = tokens;
  }

  /** Whether to ask the operator now; `waiting` is the admission queue's (its head could not go). */
  shouldAsk(now: number, waiting: Waiting): boolean {
    if (!this.terms) return true;
    const blocked = waiting.count > 0;
    if (blocked && now >= this.retryAt) return true;
    if (this.rateLimited && now >= this.retryAt && this.runwayShort(now)) return true;
    const keep = this.keepSlots(now, waiting);
    if (keep < this.slots) return true;
    if (
      this.idle(now, waiting) &&
      (this.budget.tokens > this.reserved.tokens || this.budget.cost > this.reserved.cost)
    ) {
      return true;
    }
    const holds =
      this.slots > 0 ||
      this.budget.tokens > 0 ||
      this.budget.cost > 0 ||
      this.grants.length > 0 ||
      this.exhausted ||
      this.history.recent(now, WINDOW_MS + GRANT_VALIDITY_MS).requests > 0;
    return now - this.lastAsk >= (holds ? HEARTBEAT_MS : IDLE_HEARTBEAT_MS);
  }

  /**
   * The next ask: gives back first what it no longer needs (slots above the operator's target once their calls
   * ended, everything unused when idle, everything when the lease lapsed), then says what it holds and wants.
   */
  ask(
    now: number,
    waiting: Waiting,
    usage: UsageCounters,
    identity: Pick<AllowanceRequest, "pod" | "role" | "startId">,
  ) {
    this.firstAsk ??= now;
    this.seq++;
    this.lastAsk = now;
    const idle = this.idle(now, waiting);
    const lapsed = now >= this.leaseUntil;
    this.slots = Math.min(this.slots, this.keepSlots(now, waiting));
    if (idle || lapsed || this.giveBackBudget) {
      this.budget.tokens = Math.min(this.budget.tokens, this.reserved.tokens);
      this.budget.cost = Math.min(this.budget.cost, this.reserved.cost);
      this.giveBackBudget = false;
    }
    if (idle) for (const g of this.grants) g.validUntil = Math.min(g.validUntil, now);
    const grants = this.grants.map((g) => {
      const spendable = now < g.validUntil;
      const open = spendable || g.calls > 0;
      if (!open) g.closedIn ??= this.seq;
      return {
        seq: g.seq,
        usedRequests: g.usedRequests,
        usedTokens: Math.max(0, g.usedTokens),
        open,
        leftRequests: spendable ? Math.max(0, g.requests - g.usedRequests) : 0,
        leftTokens: spendable ? Math.max(0, g.tokens - g.usedTokens) : 0,
      };
    });
    // An idle gateway expects nothing: it asks only to give back.
    const recent = idle ? { requests: 0, tokens: 0 } : this.history.recent(now, GRANT_VALIDITY_MS);
    const left = this.left(now);
    const blocked = waiting.count > 0 ? 1 : 0;
    const head = waiting.head;
    const headNeed = head ? this.costs(head) : undefined;
    const waitingCost = this.costs(waiting.need);
    const recentCost = this.costs({ promptTokens: recent.tokens, completionTokens: 0 });
    const budgeted = (this.terms?.budgetTokens ?? 0) > 0 || (this.terms?.budgetCost ?? 0) > 0;
    const request: AllowanceRequest = {
      ...identity,
      seq: this.seq,
      uptimeMs: Math.floor(now - this.firstAsk),
      usage: { ...usage },
      inFlight: this.inFlight,
      holding: {
        slots: this.slots,
        budget: nonNegative(this.budget),
        reserved: nonNegative(this.reserved),
      },
      want: {
        requests: this.rateLimited ? Math.max(blocked, waiting.count + recent.requests - left.requests) : 0,
        tokens: this.rateLimited ? Math.max(0, totalTokens(waiting.need) + recent.tokens - left.tokens) : 0,
        minTokens: head ? totalTokens(head) : 0,
        slots: this.inFlight + waiting.count,
        budget: budgeted
          ? {
              tokens: Math.ceil(this.reserved.tokens + waitingCost.tokens + recent.tokens),
              cost: this.reserved.cost + waitingCost.cost + recentCost.cost,
            }
          : { tokens: 0, cost: 0 },
        minBudget: budgeted ? (headNeed ?? this.refusedNeed ?? { tokens: 0, cost: 0 }) : { tokens: 0, cost: 0 },
      },
      grants,
      sent: this.history.snapshot(now),
    };
    return request;
  }

  /** The operator's answer to the ask `seq`, sent at `sentAt`, received at `now`. */
  answered(now: number, seq: number, sentAt: number, answer: AllowanceAnswer, waiting: Waiting): void {
    // Closed grants the operator has now taken note of are done with.
    this.grants = this.grants.filter((g) => g.closedIn === undefined || g.closedIn > seq);
    this.terms = answer.limits;
    this.prices = answer.prices;
    this.leaseUntil = sentAt + answer.leaseMs;
    if (answer.grant) {
      this.grants.push({
        seq,
        validUntil: sentAt + answer.grant.validMs,
        requests: answer.grant.requests,
        tokens: answer.grant.tokens,
        usedRequests: 0,
        usedTokens: 0,
        calls: 0,
        closedIn: undefined,
      });
    }
    this.slots += answer.slots;
    this.slotTarget = answer.slotTarget;
    this.budget.tokens += answer.budget.tokens;
    this.budget.cost += answer.budget.cost;
    this.exhausted = answer.budgetExhausted;
    if (!this.exhausted) this.refusedNeed = undefined;
    const gotNothing = !answer.grant && answer.slots === 0 && answer.budget.tokens === 0 && answer.budget.cost === 0;
    this.retryAt = now + (answer.retryAfterMs ?? (gotNothing && waiting.count > 0 ? BLOCKED_RETRY_MS : 0));
    // Blocked for want of budget the others hold: what it holds itself could not run its next call either; giving
    // it back lets one of them run theirs (else two gateways could each hold half of what either needs).
    const head = waiting.head;
    this.giveBackBudget = !!head && gotNothing && this.shortage(now, head) === "budget";
  }

  /** The operator refused the ask as older than one it answered: asking again at once is right. */
  stale(): void {
    this.retryAt = 0;
  }

  /** What keeps this call from going now, if anything. */
  private shortage(now: number, need: TokenCounts): "terms" | "lease" | "budget" | "slots" | "rate" | undefined {
    const terms = this.terms;
    if (!terms) return "terms";
    const leased = now < this.leaseUntil;
    const costs = this.costs(need);
    if (terms.budgetTokens > 0 || terms.budgetCost > 0) {
      if (!leased) return "lease";
      const freeTokens = this.budget.tokens - this.reserved.tokens;
      const freeCost = this.budget.cost - this.reserved.cost;
      if ((terms.budgetTokens > 0 && freeTokens < costs.tokens) || (terms.budgetCost > 0 && freeCost < costs.cost)) {
        return "budget";
      }
    }
    if (terms.maxConcurrency > 0) {
      if (!leased) return "lease";
      if (this.inFlight >= Math.min(this.slots, this.slotTarget)) return "slots";
    }
    if (this.rateLimited && !this.grantFor(now, costs.tokens)) return "rate";
    return undefined;
  }

  private get rateLimited(): boolean {
    return (this.terms?.requestsPerMinute ?? 0) > 0 || (this.terms?.tokensPerMinute ?? 0) > 0;
  }

  /** The valid grant that covers a call of `tokens`, the one that expires first. */
  private grantFor(now: number, tokens: number): Grant | undefined {
    const rpm = this.terms?.requestsPerMinute ?? 0;
    const tpm = this.terms?.tokensPerMinute ?? 0;
    let best: Grant | undefined;
    for (const g of this.grants) {
      if (now >= g.validUntil) continue;
      if (rpm > 0 && g.requests - g.usedRequests < 1) continue;
      if (tpm > 0 && g.tokens - g.usedTokens < tokens) continue;
      if (!best || g.validUntil < best.validUntil) best = g;
    }
    return best;
  }

  /** What the valid grants still allow. */
  private left(now: number): { requests: number; tokens: number } {
    const sum = { requests: 0, tokens: 0 };
    for (const g of this.grants) {
      if (now >= g.validUntil) continue;
      sum.requests += Math.max(0, g.requests - g.usedRequests);
      sum.tokens += Math.max(0, g.tokens - g.usedTokens);
    }
    return sum;
  }

  /** Less left than half of what the last T seconds used, or all of it expiring within half of T: ask ahead. */
  private runwayShort(now: number): boolean {
    const recent = this.history.recent(now, GRANT_VALIDITY_MS);
    if (recent.requests === 0) return false;
    const left = this.left(now);
    const rpm = this.terms?.requestsPerMinute ?? 0;
    const tpm = this.terms?.tokensPerMinute ?? 0;
    if ((rpm > 0 && left.requests < recent.requests / 2) || (tpm > 0 && left.tokens < recent.tokens / 2)) return true;
    const lastValid = Math.max(...this.grants.map((g) => g.validUntil), Number.NEGATIVE_INFINITY);
    return lastValid - now < GRANT_VALIDITY_MS / 2;
  }

  /** Slots worth keeping: what calls in flight use, and up to the operator's target while calls keep coming. */
  private keepSlots(now: number, waiting: Waiting): number {
    if (now >= this.leaseUntil || this.idle(now, waiting)) return Math.min(this.slots, this.inFlight);
    return Math.min(this.slots, Math.max(this.inFlight, this.slotTarget));
  }

  private idle(now: number, waiting: Waiting): boolean {
    return waiting.count === 0 && now - this.lastAdmission >= IDLE_MS;
  }

  /** A call's worst case against the budget: its tokens, and their spend at this endpoint's prices. */
  private costs(need: TokenCounts): BudgetAmount {
    return { tokens: totalTokens(need), cost: costOf(need, this.prices) };
  }

  /** Why calls are refused while the budget is exhausted. */
  exhaustedMessage(): string {
    const t = this.terms;
    const budgets = [
      ...(t && t.budgetTokens > 0 ? [`${t.budgetTokens} tokens`] : []),
      ...(t && t.budgetCost > 0 ? [`a spend of ${t.budgetCost}`] : []),
    ].join(" and ");
    return `the job's budget (${budgets}) cannot cover this call; no more requests are sent upstream until it is raised`;
  }
}

function nonNegative(amount: BudgetAmount): BudgetAmount {
  return { tokens: Math.max(0, Math.round(amount.tokens)), cost: Math.max(0, amount.cost) };
}
