// The job token as the gateways and the report endpoint check it.
import { describe, expect, it } from "vitest";
import { presentsToken } from "../../../src/contract/job-token.ts";

describe("presentsToken", () => {
  it.each([
    { header: "Bearer tok-123", token: "tok-123", presents: true },
    { header: "bearer tok-123", token: "tok-123", presents: true }, // the scheme is case-insensitive (RFC 9110)
    { header: "BEARER   tok-123 ", token: "tok-123", presents: true },
    { header: "Bearer tok-123", token: Buffer.from("tok-123"), presents: true },
    { header: "Bearer tok-12", token: "tok-123", presents: false },
    { header: "Bearer tok-1234", token: "tok-123", presents: false },
    { header: "Basic tok-123", token: "tok-123", presents: false },
    { header: "tok-123", token: "tok-123", presents: false },
    { header: undefined, token: "tok-123", presents: false },
    { header: "Bearer ", token: "", presents: false }, // no token is never presented
    { header: "Bearer tok-123", token: undefined, presents: false }, // the job's Secret is not there
  ])("$header against $token: $presents", ({ header, token, presents }) => {
    expect(presentsToken(header, token)).toBe(presents);
  });
});
