// The usage ledger in its ConfigMap (<job>-usage): one key per gateway process, each holding that process's latest
// cumulative counters (ledger.ts), so a restarted sidecar or operator loses nothing. Written one key at a time;
// read parsed once per version of the ConfigMap.
import type { V1ConfigMap } from "@kubernetes/client-node";
import type { CollabTrainingJob } from "../../api/schema.ts";
import { childMeta, childName } from "../../children/meta.ts";
import type { GatewayReport } from "../../contract/report.ts";
import { type KubeConfig, request, statusCode } from "../../runtime/index.ts";
import { HttpError } from "./http.ts";
import { type LedgerEntry, ledgerEntry, ledgerKey, parseLedger } from "./ledger.ts";

/** Gateway processes (pod × role × restart) one job's ledger keeps; far above any real job, well below 1 MiB. */
const MAX_LEDGER_ENTRIES = 2000;

/** Writes this process's counters into the job's usage ConfigMap; returns the whole ledger as it now stands. */
export async function recordUsage(
  kc: KubeConfig,
  job: CollabTrainingJob,
  existing: V1ConfigMap | undefined,
  report: GatewayReport,
  signal: AbortSignal,
): Promise<Record<string, string>> {
  const name = childName.usage(job.metadata.name as string);
  const namespace = job.metadata.namespace as string;
  const key = ledgerKey(report);
  const entry = { [key]: ledgerEntry(report) };
  if (existing?.data && existing.data[key] === entry[key]) return existing.data; // nothing new: no write
  if (existing && !(key in (existing.data ?? {})) && Object.keys(existing.data ?? {}).length >= MAX_LEDGER_ENTRIES) {
    throw new HttpError(429, `the usage ledger holds ${MAX_LEDGER_ENTRIES} gateway processes already`);
  }
  if (!existing) {
    // Created once with POST (never applied): an apply that found the ConfigMap could drop keys it set before.
    const body = { apiVersion: "v1", kind: "ConfigMap", metadata: childMeta(job, name), data: entry };
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
  // A merge patch adds or replaces one key and leaves the other processes' keys alone.
  const patched = await request<V1ConfigMap>(kc, {
    method: "PATCH",
    path: `/api/v1/namespaces/${namespace}/configmaps/${name}`,
    body: { data: entry },
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
