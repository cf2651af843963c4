// metav1.Time as the operator handles it: RFC 3339 text with second precision. The apiserver's times arrive as
// strings in raw JSON, and a typed client would make Dates: either reads as text.

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
