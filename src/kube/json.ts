// Comparing API objects as data: the apiserver and zod may hand back the same object with its keys in another order.

/** JSON with every object's keys sorted, so equal data gives equal text. */
export function canonical(value: unknown): string {
  return JSON.stringify(value, (_key, v) =>
    v && typeof v === "object" && !Array.isArray(v)
      ? Object.fromEntries(Object.entries(v).sort(([a], [b]) => a.localeCompare(b)))
      : v,
  );
}

export function sameData(a: unknown, b: unknown): boolean {
  return canonical(a) === canonical(b);
}
