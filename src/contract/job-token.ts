// The job's internal token, as every caller presents it: litellm in the trainer to the gateways, and the gateways to
// the operator's report and allowance endpoints, in `Authorization: Bearer <token>`.
import { timingSafeEqual } from "node:crypto";

/** The credentials of an `Authorization: Bearer <token>` header; the scheme is case-insensitive (RFC 9110 §11.1). */
function bearerToken(header: string | undefined): string | undefined {
  const match = /^bearer +(.*)$/i.exec(header ?? "");
  return match ? (match[1] as string).trim() : undefined;
}

/**
 * Whether the header presents `token` (none when undefined). Constant-time, so response timing does not leak how much
 * of a guessed token was right.
 */
export function presentsToken(header: string | undefined, token: string | Buffer | undefined): boolean {
  if (token === undefined) return false;
  const given = Buffer.from(bearerToken(header) ?? "");
  const want = Buffer.from(token);
  return want.length > 0 && given.length === want.length && timingSafeEqual(given, want);
}
