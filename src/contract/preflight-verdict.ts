// The endpoint preflight's verdict: `collab-operator preflight` writes it as JSON to its container's termination
// message, and the operator reads only that (never the key) into the EndpointsReady condition, with the reason as the
// condition's reason (docs/operator.md, "Endpoint preflight").
import { z } from "zod";
import { ENDPOINT_ROLES } from "./gateway-settings.ts";

export const READY_REASONS = ["Answered", "RateLimited"] as const;
export const NOT_READY_REASONS = [
  "KeyRefused",
  "AccessDenied",
  "ModelNotFound",
  "QuotaExceeded",
  "RequestRefused",
  "UpstreamError",
  "UnexpectedAnswer",
  "Timeout",
  "ConnectionRefused",
  "HostNotFound",
  "ConnectionFailed",
] as const;

export const PreflightVerdictSchema = z.object({
  endpoint: z.enum(ENDPOINT_ROLES),
  ready: z.boolean(),
  reason: z.enum([...READY_REASONS, ...NOT_READY_REASONS]),
  /** The HTTP status of the answer that decided, if there was one. */
  status: z.int().optional(),
  /** What happened, with the provider's own error message. */
  message: z.string(),
  model: z.string(),
  baseURL: z.string(),
  /** Seconds the deciding request took. */
  seconds: z.number().optional(),
});
export type PreflightVerdict = z.infer<typeof PreflightVerdictSchema>;
export type PreflightReason = PreflightVerdict["reason"];
