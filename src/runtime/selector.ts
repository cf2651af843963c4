// Label selectors in the apiserver's string syntax, so cache reads filter exactly as a LIST with ?labelSelector would:
// `a=b`, `a==b`, `a!=b`, `a in (x,y)`, `a notin (x,y)`, `a` (exists) and `!a` (does not exist), joined by commas.

type Requirement = { key: string; op: "in" | "notin"; values: Set<string> } | { key: string; op: "exists" | "!exists" };

export type Selector = (labels: Record<string, string> | undefined) => boolean;

const SET = /^([^\s!=,()]+)\s+(in|notin)\s+\(([^)]*)\)$/;
const EQ = /^([^\s!=,()]+)\s*(==|=|!=)\s*([^\s!=,()]*)$/;
const EXISTS = /^(!?)\s*([^\s!=,()]+)$/;

/** Splits on commas that are not inside parentheses. */
function terms(selector: string): string[] {
  const out: string[] = [];
  let depth = 0;
  let start = 0;
  for (let i = 0; i < selector.length; i++) {
    const c = selector[i];
    if (c === "(") depth++;
    else if (c === ")") depth--;
    else if (c === "," && depth === 0) {
      out.push(selector.slice(start, i));
      start = i + 1;
    }
  }
  out.push(selector.slice(start));
  return out.map((t) => t.trim()).filter((t) => t !== "");
}

function requirement(term: string): Requirement {
  const set = SET.exec(term);
  if (set) {
    const values = new Set(set[3]!.split(",").map((v) => v.trim()));
    return { key: set[1]!, op: set[2] as "in" | "notin", values };
  }
  const eq = EQ.exec(term);
  if (eq) return { key: eq[1]!, op: eq[2] === "!=" ? "notin" : "in", values: new Set([eq[3]!]) };
  const exists = EXISTS.exec(term);
  if (exists) return { key: exists[2]!, op: exists[1] ? "!exists" : "exists" };
  throw new Error(`invalid label selector term: ${JSON.stringify(term)}`);
}

function matches(r: Requirement, labels: Record<string, string>): boolean {
  const has = Object.hasOwn(labels, r.key);
  switch (r.op) {
    case "exists":
      return has;
    case "!exists":
      return !has;
    case "in":
      return has && r.values.has(labels[r.key]!);
    case "notin":
      return !has || !r.values.has(labels[r.key]!);
  }
}

/** Parses a selector; throws on syntax the apiserver would reject. The empty selector matches everything. */
export function parseSelector(selector: string): Selector {
  const requirements = terms(selector).map(requirement);
  return (labels) => requirements.every((r) => matches(r, labels ?? {}));
}

/** The terms of a selector that pin a label to one value (`a=b`, `a==b`, `a in (b)`): what an index can answer. */
export function equalityTerms(selector: string): { key: string; value: string }[] {
  return terms(selector)
    .map(requirement)
    .flatMap((r) => (r.op === "in" && r.values.size === 1 ? [{ key: r.key, value: [...r.values][0] as string }] : []));
}
