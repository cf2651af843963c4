// The usage ledger in its ConfigMap (<job>-usage): one key per gateway process, each holding that process's latest
// cumulative counters (ledger.ts), so a restarted sidecar or operator loses nothing, and one key holding the recent
// step marks (pace.ts). Written a key or two at a time; read parsed once per version of the ConfigMap.
import type { V1ConfigMap } from "@kubernetes/client-node";
import type { CollabTrainingJob } from "../../api/schema.ts";
import { childMeta, childName } from "../../children/meta.ts";
import { type KubeConfig, request, statusCode } from "../../runtime/index.ts";
import { HttpError } from "./http.ts";
import { type LedgerEntry, parseLedger } from "./ledger.ts";
import type { Mark } from "./pace.ts";

/** Gateway processes (pod × role × restart) one job's ledger keeps; far above any real job, well below 1 MiB. */
const MAX_LEDGER_ENTRIES = 2000;

/** The ledger's key holding the recent step marks (pace.ts); no gateway process's key looks like it. */
export const MARKS_KEY = "step-marks";

/** The step marks the ledger holds; none when absent or damaged (the pace then starts again). */
export function parseMarks(data: Record<string, string> | undefined): Mark[] {
  try {
    const marks = JSON.parse(data?.[MARKS_KEY] ?? "[]") as Mark[];
    return Array.isArray(marks) ? marks.filter(isMark) : [];
  } catch {
    return [];
  }
}

function isMark(m: Mark): boolean {
  const amounts = (a: { tokens?: unknown; cost?: unknown } | undefined) =>
    typeof a?.tokens === "number" && typeof a.cost === "number";
  return (
    typeof m?.step === "number" &&
    typeof m.time === "string" &&
    amounts(m.usage?.["user-simulator"]) &&
    amounts(m.usage?.judge)
  );
}

/**
 * Writes these keys into the job's usage ConfigMap (a gateway process's counters, the step marks); returns the whole
 * ledger as it now stands.
 */
export async function recordLedger(
  kc: KubeConfig,
  job: CollabTrainingJob,
  existing: V1ConfigMap | undefined,
  entries: Record<string, string>,
  signal: AbortSignal,
): Promise<Record<string, string>> {
  const name = childName.usage(job.metadata.name as string);
  const namespace = job.metadata.namespace as string;
  const known = existing?.data ?? {};
  if (existing && Object.entries(entries).every(([k, v]) => known[k] === v)) return known; // nothing new: no write
  const added = Object.keys(entries).filter((k) => !(k in known)).length;
  if (existing && added > 0 && Object.keys(known).length + added > MAX_LEDGER_ENTRIES) {
    throw new HttpError(429, `the usage ledger holds ${MAX_LEDGER_ENTRIES} gateway processes already`);
  }
  if (!existing) {
    // Created once with POST (never applied): an apply that found the ConfigMap could drop keys it set before.
    const body = { apiVersion: "v1", kind: "ConfigMap", metadata: childMeta(job, name), data: entries };
    try {
      const created = await request<V1ConfigMap>(kc, {
        method: "POST",
        path: `/api/v1/namespaces/${namespace}/configmaps`,
        body,
        signal,
      });
      return created.data ?? {};
    } catch (err) {
      if (statusCode(err) !== 409) throw err; // it exists after all (our cache was behind): patch it below
    }
  }
  // A merge patch adds or replaces these keys and leaves the other processes' keys alone.
  const patched = await request<V1ConfigMap>(kc, {
    method: "PATCH",
    path: `/api/v1/namespaces/${namespace}/configmaps/${name}`,
    body: { data: entries },
    contentType: "application/merge-patch+json",
    signal,
  });
  return patched.data ?? {};
}

/** The usage ledger of each job, parsed once per version of its ConfigMap (asks come many times a second). */
export class ParsedLedgers {
  readonly #parsed = new Map<string, { version: string | undefined; entries: Map<string, LedgerEntry> }>();

  get(configMap: V1ConfigMap | undefined, key: string): Map<string, LedgerEntry> {
    const version = configMap?.metadata?.resourceVersion;
    const known = this.#parsed.get(key);
    if (known && known.version === version) return known.entries;
    const entries = parseLedger(configMap?.data ?? {});
    this.#parsed.set(key, { version, entries });
    return entries;
  }

  forget(exists: (key: string) => boolean): void {
    for (const key of this.#parsed.keys()) if (!exists(key)) this.#parsed.delete(key);
  }
}
