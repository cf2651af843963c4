// metav1.Time as the operator and the gateway write it: RFC 3339 text with second precision. The apiserver's times
// arrive as strings in raw JSON, and a typed client would make Dates: either reads as text.
import { z } from "zod";

const RFC3339 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/;

/** A time the apiserver accepts as format date-time (checked here too, so a bad one is refused before a write). */
export function dateTime() {
  return z
    .string()
    .refine((t) => RFC3339.test(t) && !Number.isNaN(Date.parse(t)), "must be an RFC 3339 date-time")
    .meta({ format: "date-time" });
}

/** RFC 3339 with second precision (the precision of metav1.Time): the fraction is cut. */
export function rfc3339(date: Date): string {
  return date.toISOString().replace(/\.\d{3}Z$/, "Z");
}

/** A time as the apiserver sent it, or as a typed client made it, as text. */
export function timeText(t: Date | string | undefined): string | undefined {
  if (t === undefined) return undefined;
  return typeof t === "string" ? t : t.toISOString();
}

/** Seconds between two RFC 3339 times (b - a). */
export function secondsBetween(a: string, b: string): number {
  return (Date.parse(b) - Date.parse(a)) / 1000;
}

/** `time` plus `seconds`, as RFC 3339 with second precision. */
export function addSeconds(time: string, seconds: number): string {
  return rfc3339(new Date(Date.parse(time) + seconds * 1000));
}
