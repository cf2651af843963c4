// What a gateway POSTs to its report URL (with `Authorization: Bearer <job token>`), and what the operator may answer.
// Both sides import these schemas. The progress is status.progress itself (api/schema.ts): the head pod's gateway
// builds it from veRL's log in that shape, and the operator writes it as it came.
//
// Usage semantics: counters are cumulative since the gateway process started, identified by `startId` (a fresh
// UUID per process). A restarted sidecar starts again from zero under a new startId, so the job's total for a role is
// the sum, over every (pod, role, startId) ever reported, of the latest report of that triple.
import { z } from "zod";
import { Progress } from "../api/schema.ts";
import { ENDPOINT_ROLES } from "./gateway-settings.ts";
import { UsageCountersSchema } from "./usage.ts";

export const GatewayReportSchema = z.object({
  pod: z.string().min(1),
  role: z.enum(ENDPOINT_ROLES),
  startId: z.uuid(),
  /** Keyed by role; a gateway reports its own role only. */
  usage: z.partialRecord(z.enum(ENDPOINT_ROLES), UsageCountersSchema),
  /**
   * Only from the gateway that follows the trainer's log, once it read a step line. Fields this operator does not know
   * are dropped rather than refused, so the gateways of pods made by an earlier operator still report their usage.
   */
  progress: Progress.strip().optional(),
});
export type GatewayReport = z.infer<typeof GatewayReportSchema>;

/** The operator's answer. budgetExceeded: the job as a whole is over budget; the gateway then refuses requests. */
export const ReportResponseSchema = z.object({ budgetExceeded: z.boolean().optional() });
export type ReportResponse = z.infer<typeof ReportResponseSchema>;
