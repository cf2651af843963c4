// The job's limits and budget, handed out to its gateways (docs/gateway.md, "Job-wide limits and budget"). Pure: the
// time and what the caches show come in, the answer goes out; the report endpoint (server.ts) does the HTTP.
//
// Per endpoint (role), requests and tokens per minute: every grant is charged at the moment it is issued to a window
// of 60 s + T (T = GRANT_VALIDITY_MS), and a grant is only issued while the grants in that window leave room for it.
// A gateway spends a grant only within T of sending the ask that brought it, so whatever a grant lets through reaches
// the upstream within [issue, issue + T]; any 60 s window of arrivals thus sees only grants issued within 60 s + T,
// which together stay within the limit. What a gateway reports unused comes off the charge.
//
// Slots (max concurrency, per endpoint) and budget (tokens and spend, for the whole job) are held until given back:
// the sum handed out never exceeds the limit, and a gateway's holding only shrinks by its own report of what it keeps,
// so a slot moves from one gateway to another only after the first one released it.
//
// A new leader knows nothing of what its predecessor handed out: it issues no grant for T after it started leading
// (every earlier grant has expired by then) and charges what each gateway says it sent in the last window, at its
// first ask; new slots and budget wait until every running pod's gateways have checked in (or LEASE_MS passed, when
// any earlier holding has lapsed).
import type { V1Pod } from "@kubernetes/client-node";
import type { Endpoint, Spec } from "../../api/schema.ts";
import { LABEL } from "../../children/meta.ts";
import {
  type AllowanceAnswer,
  type AllowanceRequest,
  type BudgetAmount,
  GRANT_VALIDITY_MS,
  LEASE_MS,
  type Limits,
} from "../../contract/allowance.ts";
import { ENDPOINT_ROLES, type EndpointRole } from "../../contract/gateway-settings.ts";
import { type Charge, SlidingWindow, WINDOW_MS } from "../../contract/sliding-window.ts";
import { costOf, type Prices, totalTokens, type UsageCounters } from "../../contract/usage.ts";
import { controllerUid, isFinished, podPhase } from "../../kube/pods.ts";
import { endpointPrices, jobBudget, type LedgerEntry, type RefusedCall } from "./ledger.ts";

/** The job's limits and budget as its spec says now: a raised limit or budget applies at the next ask. */
export interface JobTerms {
  roles: Record<EndpointRole, { limits: Limits; prices: Prices | undefined }>;
  /** 0: no budget of that kind. */
  budget: BudgetAmount;
}

export interface JobView {
  terms: JobTerms;
  /** The job's pods that exist and have not ended: a gateway of any other pod is gone, with what it held. */
  livePods: ReadonlySet<string>;
  /** Running pods with gateways: after a new leader starts, each one's gateways must check in before it hands out more. */
  runningGatewayPods: ReadonlySet<string>;
  /** The usage ledger (durable): every gateway process's cumulative counters, as last reported. */
  ledger: ReadonlyMap<string, LedgerEntry>;
  /** What the served roles' GPUs have cost so far (served-spend.ts); none when absent. */
  servedCost?: number;
}

/** The job's terms from its spec. */
export function jobTerms(spec: Pick<Spec, "userSimulator" | "judge" | "budget">): JobTerms {
  const prices = endpointPrices(spec);
  const role = (endpoint: Endpoint, r: EndpointRole) => ({
    limits: {
      requestsPerMinute: endpoint.rateLimit.requestsPerMinute ?? 0,
      tokensPerMinute: endpoint.rateLimit.tokensPerMinute ?? 0,
      maxConcurrency: endpoint.rateLimit.maxConcurrency,
    },
    prices: prices[r],
  });
  return {
    roles: { "user-simulator": role(spec.userSimulator, "user-simulator"), judge: role(spec.judge, "judge") },
    budget: jobBudget(spec.budget),
  };
}

/** Which of the job's pods may hold allowances, from the pods the cache shows (the job's by controller uid). */
export function gatewayPods(pods: readonly V1Pod[], jobUid: string) {
  const livePods = new Set<string>();
  const runningGatewayPods = new Set<string>();
  for (const pod of pods) {
    const name = pod.metadata?.name;
    if (!name || controllerUid(pod) !== jobUid || isFinished(pod)) continue;
    livePods.add(name);
    const role = pod.metadata?.labels?.[LABEL.role];
    if (podPhase(pod) === "Running" && (role === "head" || role === "worker")) runningGatewayPods.add(name);
  }
  return { livePods, runningGatewayPods };
}

export type AskOutcome = { answer: AllowanceAnswer } | { stale: true };

interface Holder {
  pod: string;
  role: EndpointRole;
  startId: string;
  seq: number;
  seenAt: number;
  /** Grants this book issued to it and has not seen closed, by the seq of the ask they answered. */
  grants: Map<number, Charge>;
  /** What it was granted in the last T: no gateway gets more than the limit's full rate over any T. */
  issued: { at: number; requests: number; tokens: number }[];
  slots: number;
  wantSlots: number;
  budget: BudgetAmount;
  usage: UsageCounters;
}

/**
 * A gateway alive at a new leader's start asks it within this (its idle heartbeat, 10 s, and a failed ask's timeout
 * and backoff, 7 s, with room to spare).
 */
const SILENT_PREDECESSOR_MS = 20_000;

/** The window grants are counted in: a minute, plus the time a grant may still be spent after it was issued. */
export const GRANT_WINDOW_MS = WINDOW_MS + GRANT_VALIDITY_MS;

/** At most this share of a per-minute limit per grant (what the limit allows in T at its full rate). */
function grantCap(limit: number): number {
  return limit > 0 ? Math.max(1, Math.ceil((limit * GRANT_VALIDITY_MS) / WINDOW_MS)) : Number.POSITIVE_INFINITY;
}

const holderKey = (r: Pick<AllowanceRequest, "pod" | "role" | "startId">) => `${r.pod}.${r.role}.${r.startId}`;

/** One job's allowances, for one leadership term of this replica. */
export class JobAllowances {
  private readonly termStart: number;
  private readonly windows = new Map<EndpointRole, SlidingWindow>();
  private readonly holders = new Map<string, Holder>();
  /** pod/role pairs that asked during this term. */
  private readonly checkedIn = new Set<string>();
  /** Per endpoint: no rate grant before this time (a predecessor this term never heard of may have sent until then). */
  private readonly unknownSends = new Map<EndpointRole, number>();
  private refusedNeed: BudgetAmount | undefined;

  /** termStart: when this replica started leading (the monotonic clock of `now`). */
  constructor(termStart: number) {
    this.termStart = termStart;
  }

  ask(now: number, request: AllowanceRequest, view: JobView): AskOutcome {
    const key = holderKey(request);
    this.forgetGone(now, request, view);
    const known = this.holders.get(key);
    if (known && request.seq <= known.seq) return { stale: true };
    const { limits, prices } = view.terms.roles[request.role];
    const window = this.window(request.role, limits);
    const holder = known ?? this.newHolder(now, request, window);
    if (known) this.settle(request, holder, window);
    holder.seq = request.seq;
    holder.seenAt = now;
    holder.slots = request.holding.slots;
    holder.wantSlots = request.want.slots;
    holder.budget = { ...request.holding.budget };
    holder.usage = request.usage;
    if (!known) this.heardOf(now, request);
    this.checkedIn.add(`${request.pod}/${request.role}`);

    const rate = this.grant(now, request, view, holder, window, limits);
    // Slots are this endpoint's: its gateways must have checked in; the budget is the job's: every gateway.
    const slotsLearning = this.leaseLearning(now, view, [request.role]);
    const learning = this.leaseLearning(now, view, ENDPOINT_ROLES);
    const slots = slotsLearning ? 0 : this.moreSlots(request, holder, limits.maxConcurrency);
    const budget = this.moreBudget(request, holder, view, learning);
    const answer: AllowanceAnswer = {
      ...(rate.grant ? { grant: rate.grant } : {}),
      slots,
      slotTarget: this.slotTargets(request.role, limits.maxConcurrency).get(key) ?? 0,
      budget: budget.give,
      budgetExhausted: budget.exhausted,
      // While learning, a second is a guess: it ends when the last running pod's gateways have asked.
      ...(rate.retryAfterMs !== undefined
        ? { retryAfterMs: rate.retryAfterMs }
        : learning || slotsLearning
          ? { retryAfterMs: 1000 }
          : {}),
      leaseMs: LEASE_MS,
      limits: {
        ...limits,
        budgetTokens: view.terms.budget.tokens,
        budgetCost: view.terms.budget.cost,
      },
      ...(prices ? { prices } : {}),
    };
    return { answer };
  }

  /** The last call refused for want of budget, while what is left still cannot cover it (a raise clears it). */
  refusedCall(view: JobView): RefusedCall | undefined {
    const need = this.refusedNeed;
    if (!need) return undefined;
    const short = shortOf(view.terms.budget, this.remaining(view), need);
    if (!short.tokens && !short.cost) this.refusedNeed = undefined;
    return short.tokens || short.cost ? { need, ...short } : undefined;
  }

  private window(role: EndpointRole, limits: Limits): SlidingWindow {
    let window = this.windows.get(role);
    if (!window) {
      window = new SlidingWindow(GRANT_WINDOW_MS, limits.requestsPerMinute, limits.tokensPerMinute);
      this.windows.set(role, window);
    }
    window.requestsPerWindow = limits.requestsPerMinute;
    window.tokensPerWindow = limits.tokensPerMinute;
    return window;
  }

  /**
   * A gateway this book has not seen: what it sent in the last window (under an earlier leader's grants, or before
   * this replica led) is charged when it was sent, and what its open grants may still let through is charged now.
   */
  private newHolder(now: number, request: AllowanceRequest, window: SlidingWindow): Holder {
    for (const [ageMs, requests, tokens] of request.sent) {
      if (ageMs < GRANT_WINDOW_MS) window.record(now - ageMs, requests, tokens);
    }
    for (const g of request.grants) {
      if (g.open && (g.leftRequests > 0 || g.leftTokens > 0)) window.record(now, g.leftRequests, g.leftTokens);
    }
    const holder: Holder = {
      pod: request.pod,
      role: request.role,
      startId: request.startId,
      seq: 0,
      seenAt: now,
      grants: new Map(),
      issued: [],
      slots: 0,
      wantSlots: 0,
      budget: { tokens: 0, cost: 0 },
      usage: request.usage,
    };
    this.holders.set(holderKey(request), holder);
    return holder;
  }

  /**
   * Closed grants are charged what they let through. A grant this book issued for an earlier ask that the gateway
   * neither holds nor closes never reached it (the answer was lost): nothing went out on it.
   */
  private settle(request: AllowanceRequest, holder: Holder, window: SlidingWindow): void {
    const mentioned = new Set<number>();
    for (const g of request.grants) {
      mentioned.add(g.seq);
      const charge = holder.grants.get(g.seq);
      if (!charge || g.open) continue;
      window.settle(charge, g.usedRequests, g.usedTokens);
      holder.grants.delete(g.seq);
    }
    for (const [seq, charge] of holder.grants) {
      if (seq < request.seq && !mentioned.has(seq)) {
        window.settle(charge, 0, 0);
        holder.grants.delete(seq);
      }
    }
  }

  /**
   * A gateway process this book sees for the first time, in a pod and endpoint it has not heard from this term: the
   * process before it there (a container restart, or the pod of an earlier attempt) may have sent under an earlier
   * leader's grants and died before telling this one. It sent before this process started, and, had it lived a
   * heartbeat into this term, it would have asked. So nothing it sent shares a window with a grant issued a window
   * and T after the earlier of the two; until then, no grant for this endpoint.
   */
  private heardOf(now: number, request: AllowanceRequest): void {
    if (this.checkedIn.has(`${request.pod}/${request.role}`)) return;
    const started = now - (request.uptimeMs ?? 0);
    const until = Math.min(started, this.termStart + SILENT_PREDECESSOR_MS) + GRANT_WINDOW_MS;
    this.unknownSends.set(request.role, Math.max(this.unknownSends.get(request.role) ?? 0, until));
  }

  /** Drops gateways that are gone: their pod ended or went, their process was replaced, or their lease lapsed. */
  private forgetGone(now: number, request: AllowanceRequest, view: JobView): void {
    for (const [key, h] of this.holders) {
      const replaced = h.pod === request.pod && h.role === request.role && h.startId !== request.startId;
      if (replaced || !view.livePods.has(h.pod) || now - h.seenAt > LEASE_MS) this.holders.delete(key);
    }
  }

  private grant(
    now: number,
    request: AllowanceRequest,
    view: JobView,
    holder: Holder,
    window: SlidingWindow,
    limits: Limits,
  ): { grant?: NonNullable<AllowanceAnswer["grant"]>; retryAfterMs?: number } {
    const { requestsPerMinute: rpm, tokensPerMinute: tpm } = limits;
    if ((rpm === 0 && tpm === 0) || request.want.requests === 0) return {};
    const learningLeft = this.termStart + GRANT_VALIDITY_MS - now;
    if (learningLeft > 0) return { retryAfterMs: Math.ceil(learningLeft) };
    // What the endpoint's other gateways sent in the last window, under an earlier leader's grants, is known only
    // once each has checked in (they do at least every IDLE_HEARTBEAT_MS); a gateway that never does sent nothing
    // that shares a window with a grant issued a window and T after this term started.
    if (this.learning(now, view, [request.role], GRANT_WINDOW_MS)) return { retryAfterMs: 1000 };
    const unknownLeft = (this.unknownSends.get(request.role) ?? 0) - now;
    if (unknownLeft > 0) return { retryAfterMs: Math.ceil(unknownLeft) };
    const room = window.room(now);
    const minTokens = tpm > 0 ? Math.max(1, request.want.minTokens) : 0;
    // Paced: over any T, one gateway gets at most what the limit allows in T at its full rate (a burst of calls
    // from one pod reaches the upstream spread out, not as the whole minute's worth at once).
    holder.issued = holder.issued.filter((i) => now - i.at < GRANT_VALIDITY_MS);
    const paced = holder.issued.reduce(
      (sum, i) => ({ requests: sum.requests + i.requests, tokens: sum.tokens + i.tokens }),
      {
        requests: 0,
        tokens: 0,
      },
    );
    const requests = Math.min(request.want.requests, room.requests, grantCap(rpm) - paced.requests);
    const wantTokens = Math.max(request.want.tokens, minTokens);
    const tokens =
      tpm > 0 ? Math.min(wantTokens, room.tokens, Math.max(grantCap(tpm), minTokens) - paced.tokens) : wantTokens;
    if (requests < 1 || tokens < minTokens) {
      const windowWait = window.waitMs(now, 1, minTokens);
      const paceWait = holder.issued.length > 0 ? holder.issued[0]!.at + GRANT_VALIDITY_MS - now : 0;
      const wait = Math.max(windowWait, paceWait);
      return Number.isFinite(wait) ? { retryAfterMs: Math.max(1, Math.ceil(wait)) } : {};
    }
    holder.grants.set(request.seq, window.record(now, requests, tokens));
    holder.issued.push({ at: now, requests, tokens });
    return { grant: { requests, tokens, validMs: GRANT_VALIDITY_MS } };
  }

  /** While a new leader may not know every holding of these endpoints: no new slots or budget. */
  private leaseLearning(now: number, view: JobView, roles: readonly EndpointRole[]): boolean {
    return this.learning(now, view, roles, LEASE_MS);
  }

  /** Within `forMs` of this term's start, some running pod's gateway of these endpoints has not asked yet. */
  private learning(now: number, view: JobView, roles: readonly EndpointRole[], forMs: number): boolean {
    if (now - this.termStart >= forMs) return false;
    for (const pod of view.runningGatewayPods) {
      for (const role of roles) if (!this.checkedIn.has(`${pod}/${role}`)) return true;
    }
    return false;
  }

  private moreSlots(request: AllowanceRequest, holder: Holder, maxConcurrency: number): number {
    if (maxConcurrency === 0) return 0;
    let held = 0;
    for (const h of this.holders.values()) if (h.role === request.role) held += h.slots;
    // Up to its fair share, and never beyond what no gateway holds: a slot another gateway holds moves only once
    // that gateway has said it gave it back.
    const target = this.slotTargets(request.role, maxConcurrency).get(holderKey(request)) ?? 0;
    const give = Math.max(0, Math.min(Math.min(holder.wantSlots, target) - holder.slots, maxConcurrency - held));
    holder.slots += give;
    return give;
  }

  /** Max-min fair shares of the slots by what each gateway could use now. */
  private slotTargets(role: EndpointRole, maxConcurrency: number): Map<string, number> {
    const demands = [...this.holders].filter(([, h]) => h.role === role).map(([k, h]) => [k, h.wantSlots] as const);
    return fairShares(demands, maxConcurrency);
  }

  private moreBudget(
    request: AllowanceRequest,
    holder: Holder,
    view: JobView,
    learning: boolean,
  ): { give: BudgetAmount; exhausted: boolean } {
    const give = { tokens: 0, cost: 0 };
    const max = view.terms.budget;
    if (max.tokens === 0 && max.cost === 0) return { give, exhausted: false };
    const remaining = this.remaining(view);
    const need = request.want.minBudget;
    const short = shortOf(max, remaining, need);
    if (short.tokens || short.cost) {
      this.refusedNeed = need;
      return { give, exhausted: true };
    }
    if (learning) return { give, exhausted: false };
    const held = { tokens: 0, cost: 0 };
    for (const h of this.holders.values()) {
      held.tokens += h.budget.tokens;
      held.cost += h.budget.cost;
    }
    // All or nothing for what the next call lacks: a holding too small for any call would only keep it from others.
    const { budget: holding, reserved } = request.holding;
    for (const dimension of ["tokens", "cost"] as const) {
      if (max[dimension] === 0) continue;
      const free = remaining[dimension] - held[dimension];
      const lacking = Math.max(0, need[dimension] - (holding[dimension] - reserved[dimension]));
      const amount = Math.min(request.want.budget[dimension] - holder.budget[dimension], free);
      if (amount > 0 && amount >= lacking) give[dimension] = dimension === "tokens" ? Math.floor(amount) : amount;
    }
    holder.budget.tokens += give.tokens;
    holder.budget.cost += give.cost;
    return { give, exhausted: false };
  }

  /**
   * The ledger with each gateway's own newer counters where it asked since its last report (asks come every few
   * seconds while it calls, reports every 15 s): the freshest usage the operator knows.
   */
  freshLedger(ledger: ReadonlyMap<string, LedgerEntry>): Map<string, LedgerEntry> {
    const fresh = new Map<string, LedgerEntry>();
    for (const [key, entry] of ledger) {
      const live = this.holders.get(key)?.usage;
      fresh.set(key, live && totalTokens(live) > totalTokens(entry.usage) ? { role: entry.role, usage: live } : entry);
    }
    for (const [key, h] of this.holders) if (!ledger.has(key)) fresh.set(key, { role: h.role, usage: h.usage });
    return fresh;
  }

  /** The budget less what was spent, by the freshest usage and the served roles' GPUs. */
  private remaining(view: JobView): BudgetAmount {
    const spent = { tokens: 0, cost: view.servedCost ?? 0 };
    for (const { role, usage } of this.freshLedger(view.ledger).values()) {
      spent.tokens += totalTokens(usage);
      spent.cost += costOf(usage, view.terms.roles[role].prices);
    }
    return { tokens: view.terms.budget.tokens - spent.tokens, cost: view.terms.budget.cost - spent.cost };
  }
}

/** Which kind of budget the job has cannot cover a call's need: nothing left, or less than it needs. */
function shortOf(max: BudgetAmount, remaining: BudgetAmount, need: BudgetAmount): { tokens: boolean; cost: boolean } {
  const short = (d: keyof BudgetAmount) => max[d] > 0 && (remaining[d] <= 0 || remaining[d] < need[d]);
  return { tokens: short("tokens"), cost: short("cost") };
}

/**
 * Max-min fair integer shares of `capacity`: everyone gets what they ask when it all fits; otherwise the smallest
 * demands are met first and the rest split evenly. 0 capacity means unlimited.
 */
export function fairShares(demands: readonly (readonly [string, number])[], capacity: number): Map<string, number> {
  const total = demands.reduce((sum, [, d]) => sum + d, 0);
  if (capacity === 0 || total <= capacity) return new Map(demands);
  const shares = new Map<string, number>();
  const sorted = [...demands].sort((a, b) => a[1] - b[1]);
  let left = capacity;
  sorted.forEach(([key, demand], i) => {
    const share = Math.min(demand, Math.floor(left / (sorted.length - i)));
    shares.set(key, share);
    left -= share;
  });
  // What the rounding left goes one each to those still short, largest demands first.
  for (let i = sorted.length - 1; i >= 0 && left > 0; i--) {
    const [key, demand] = sorted[i]!;
    if (shares.get(key)! < demand) {
      shares.set(key, shares.get(key)! + 1);
      left--;
    }
  }
  return shares;
}

/** Every job's allowances, while this replica leads; a new term starts with none. */
export class AllowanceBooks {
  /** By job uid, with the job's namespace/name (to tell a job that is gone without scanning every job). */
  private readonly books = new Map<string, { key: string; allowances: JobAllowances }>();
  private termStart: number | undefined;

  /** Tell it whether this replica leads now; losing the lead forgets everything (the next leader starts afresh). */
  leading(now: number, leading: boolean): void {
    if (leading) {
      this.termStart ??= now;
    } else {
      this.books.clear();
      this.termStart = undefined;
    }
  }

  book(uid: string, key: string, now: number): JobAllowances {
    this.leading(now, true);
    let book = this.books.get(uid);
    if (!book) {
      book = { key, allowances: new JobAllowances(this.termStart as number) };
      this.books.set(uid, book);
    }
    return book.allowances;
  }

  find(uid: string): JobAllowances | undefined {
    return this.books.get(uid)?.allowances;
  }

  /** Forgets the books of jobs that are gone: a look per book, whatever the number of jobs. */
  prune(exists: (uid: string, key: string) => boolean): void {
    for (const [uid, { key }] of this.books) if (!exists(uid, key)) this.books.delete(uid);
  }
}
