// The PromQL of the chart's Grafana dashboard and the metric names each query reads, and the metric names a
// Prometheus text exposition declares: what test/unit/packaging/dashboard.test.ts and
// test/integration/dashboard.test.ts compare.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { CHART } from "../../cluster/tools.ts";

export const DASHBOARD_FILE = join(CHART, "files/dashboard.json");

export interface Query {
  /** Where in the dashboard: a panel's title and refId, or a variable's name. */
  where: string;
  expr: string;
}

interface Panel {
  title?: string;
  targets?: { refId?: string; expr?: string }[];
  panels?: Panel[];
}

/** Every query of a dashboard: its panels' targets (rows' nested panels too) and its variables' label_values(). */
export function dashboardQueries(dashboard: any): Query[] {
  const queries: Query[] = [];
  const visit = (panels: Panel[] = []) => {
    for (const panel of panels) {
      for (const target of panel.targets ?? []) {
        queries.push({ where: `panel "${panel.title}" ${target.refId}`, expr: target.expr ?? "" });
      }
      visit(panel.panels);
    }
  };
  visit(dashboard.panels);
  for (const variable of dashboard.templating?.list ?? []) {
    if (variable.type !== "query") continue;
    const text: string = typeof variable.query === "string" ? variable.query : variable.query?.query;
    const selector = /^label_values\((.+),\s*[a-zA-Z_]\w*\)$/.exec(text)?.[1];
    if (!selector) throw new Error(`variable ${variable.name}: not a label_values(selector, label) query: ${text}`);
    queries.push({ where: `variable ${variable.name}`, expr: selector });
  }
  return queries;
}

export function readDashboard(): any {
  return JSON.parse(readFileSync(DASHBOARD_FILE, "utf8"));
}

const KEYWORDS = new Set(["and", "or", "unless", "bool", "offset", "inf", "nan", "atan2"]);

/**
 * The metric names a PromQL expression selects: identifiers that are not functions or aggregations (followed by a
 * parenthesis), keywords, label names (in matchers and in by/without/on/ignoring/group_* lists), strings, durations
 * or numbers.
 */
export function metricNames(expr: string): string[] {
  const bare = expr
    .replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`/g, '""')
    .replace(/\{[^}]*\}/g, " ")
    .replace(/\[[^\]]*\]/g, " ")
    .replace(/\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, " ");
  const names = new Set<string>();
  for (const match of bare.matchAll(/(?<![\w.:$])([a-zA-Z_:][a-zA-Z0-9_:]*)(\s*\()?/g)) {
    if (match[2] || KEYWORDS.has(match[1]!.toLowerCase())) continue;
    names.add(match[1]!);
  }
  return [...names];
}

/** The series names a scrape declares: every `# TYPE` family, with _bucket, _sum and _count for histograms. */
export function exportedNames(exposition: string): Set<string> {
  const names = new Set<string>();
  for (const [, name, type] of exposition.matchAll(/^# TYPE (\S+) (\S+)$/gm)) {
    names.add(name!);
    if (type === "histogram") for (const suffix of ["_bucket", "_sum", "_count"]) names.add(`${name}${suffix}`);
    if (type === "summary") for (const suffix of ["_sum", "_count"]) names.add(`${name}${suffix}`);
  }
  return names;
}
