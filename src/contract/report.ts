// The contract between a gateway and the operator: what a gateway POSTs to its report URL (with
// `Authorization: Bearer <job token>`), and what the operator may answer. Both sides import these schemas.
//
// Usage semantics: counters are cumulative since the gateway process started, identified by `startId` (a fresh
// UUID per process). A restarted sidecar starts again from zero under a new startId, so the job's total for a role is
// the sum, over every (pod, role, startId) ever reported, of the latest report of that triple.
import { z } from "zod";
import { ENDPOINT_ROLES } from "./gateway-settings.ts";
import { UsageCountersSchema } from "./usage.ts";

const count = z.number().int().nonnegative();

/** Parsed from the trainer's console log; only the head pod's gateway sends it. Absent fields were never printed. */
export const ProgressSchema = z.object({
  step: count,
  totalSteps: count.optional(),
  epoch: count.optional(),
  /** critic/score/mean: CollabLLM's conversation-level reward. */
  reward: z.number().optional(),
  rewardMax: z.number().optional(),
  rewardMin: z.number().optional(),
  /** The latest val-core/<data source>/reward/mean@N. */
  validationReward: z.number().optional(),
  /** timing_s/step of the latest step, for the operator's ETA. */
  stepSeconds: z.number().optional(),
  /** perf/throughput (tokens per second per GPU). */
  throughput: z.number().optional(),
  /** When the gateway read the latest step line (RFC 3339). */
  updatedAt: z.iso.datetime(),
});
export type Progress = z.infer<typeof ProgressSchema>;

export const GatewayReportSchema = z.object({
  pod: z.string().min(1),
  role: z.enum(ENDPOINT_ROLES),
  startId: z.uuid(),
  startedAt: z.iso.datetime(),
  sentAt: z.iso.datetime(),
  /** Keyed by role; a gateway reports its own role only. */
  usage: z.partialRecord(z.enum(ENDPOINT_ROLES), UsageCountersSchema),
  /** This pod's share of the job's token budget (0 = no budget). */
  budgetTokens: count,
  budgetExceeded: z.boolean(),
  progress: ProgressSchema.optional(),
});
export type GatewayReport = z.infer<typeof GatewayReportSchema>;

/** The operator's answer. budgetExceeded: the job as a whole is over budget; the gateway then refuses requests. */
export const ReportResponseSchema = z.object({ budgetExceeded: z.boolean().optional() });
export type ReportResponse = z.infer<typeof ReportResponseSchema>;
