// The contract by which the operator hands out the job's limits and budget to its gateways (docs/gateway.md, "Job-wide
// limits and budget"): a gateway POSTs what it holds, what it used and what it wants to
// `.../collabtrainingjobs/{name}/allowance` (beside `/report`, with the same job token) and spends what it is given
// locally, so no request waits for the operator. Both sides import these schemas.
//
// Three kinds of allowance:
// - a **grant** of requests and tokens per minute, usable only for GRANT_VALIDITY_MS from the moment the gateway sent
//   the ask that brought it (its own monotonic clock), identified by that ask's `seq`;
// - **slots** (calls in flight) and **budget** (tokens, spend), held until given back, as long as the gateway hears
//   from the leader at least every LEASE_MS (again from the sending of the ask that was answered).
import { z } from "zod";
import { ENDPOINT_ROLES } from "./gateway-settings.ts";
import { money, PricesSchema, UsageCountersSchema } from "./usage.ts";

/** T: how long a grant may be spent. The busy pod's steady share of a limit is about 60 / (60 + T) s = 92%. */
export const GRANT_VALIDITY_MS = 5_000;
/** S: slots and budget a gateway holds lapse when it has not heard from the leader for this long. */
export const LEASE_MS = 60_000;
/** A gateway holding anything, or with calls sent in the last window, asks at least this often. */
export const HEARTBEAT_MS = 2_000;

const count = z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER);

/** One endpoint's job-wide limits, as its spec says (0: none). */
export const LimitsSchema = z.object({
  requestsPerMinute: count,
  tokensPerMinute: count,
  maxConcurrency: count,
});
export type Limits = z.infer<typeof LimitsSchema>;

export const BudgetAmountSchema = z.object({ tokens: count, cost: money });
export type BudgetAmount = z.infer<typeof BudgetAmountSchema>;

export const AllowanceRequestSchema = z.object({
  pod: z.string().min(1).max(253),
  role: z.enum(ENDPOINT_ROLES),
  startId: z.uuid(),
  /**
   * How long this process has been asking (from its first ask, about its start): a new leader that never heard of its
   * predecessor in the pod cannot know what that one sent, only that it was before this one started.
   */
  uptimeMs: count.optional(),
  /** Increases with every ask of this process; an ask older than one already answered is refused (409). */
  seq: count.min(1),
  /** Cumulative, as in the report: what the budget has spent on this process. */
  usage: UsageCountersSchema,
  inFlight: count,
  /**
   * What the gateway holds as it sends this (after giving back what it no longer needs): slots, and budget in all,
   * of which `reserved` is set aside for calls in flight.
   */
  holding: z.object({ slots: count, budget: BudgetAmountSchema, reserved: BudgetAmountSchema }),
  want: z.object({
    /** Requests and tokens it expects to send in the next GRANT_VALIDITY_MS, beyond what its open grants cover. */
    requests: count,
    tokens: count,
    /** The request at the head of its queue: a grant with fewer tokens is of no use. */
    minTokens: count,
    /** Slots it could use now: calls in flight and waiting. */
    slots: count,
    /** Budget it wants to hold in all (reserved by calls in flight included), and what its next call needs. */
    budget: BudgetAmountSchema,
    minBudget: BudgetAmountSchema,
  }),
  /** Every grant it received that the operator has not yet acknowledged closed: used so far, and what is left. */
  grants: z
    .array(
      z.object({
        seq: count,
        usedRequests: count,
        usedTokens: count,
        /** Open: still spendable (or calls on it are in flight); `left*` may still be spent. */
        open: z.boolean(),
        leftRequests: count,
        leftTokens: count,
      }),
    )
    .max(256),
  /** What it sent upstream in the last window and grant validity: [age in ms, requests, tokens] per second. */
  sent: z.array(z.tuple([count, count, count])).max(128),
});
export type AllowanceRequest = z.infer<typeof AllowanceRequestSchema>;

export const AllowanceAnswerSchema = z.object({
  /** Requests and tokens granted for this ask (its `seq`), spendable for `validMs` from when the ask was sent. */
  grant: z.object({ requests: count, tokens: count, validMs: count }).optional(),
  /** Slots added to what the gateway said it holds. */
  slots: count,
  /** Hold at most this many: a gateway above it admits nothing new until its calls in flight fall below. */
  slotTarget: count,
  /** Budget added. */
  budget: BudgetAmountSchema,
  /** The job's budget cannot cover the gateway's next call (`minBudget`): it refuses calls until this turns false. */
  budgetExhausted: z.boolean(),
  /** How long until asking again can bring a grant (the window or a new leader's first moments); absent: unknown. */
  retryAfterMs: count.optional(),
  /** How long slots and budget stay valid without a newer answer, from when the ask was sent. */
  leaseMs: count,
  /** The job's limits and budget as the spec says now (0: none), for the gateway's own checks and messages. */
  limits: LimitsSchema.extend({ budgetTokens: count, budgetCost: money }),
  /** This endpoint's prices, when the spec has them: the gateway reserves spend with them. */
  prices: PricesSchema.optional(),
});
export type AllowanceAnswer = z.infer<typeof AllowanceAnswerSchema>;
