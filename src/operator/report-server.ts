// The endpoint the gateway sidecars push usage and progress to: POST
// /v1/namespaces/{ns}/collabtrainingjobs/{name}/report with `Authorization: Bearer <the job's internal token>`.
// Training pods hold no Kubernetes credentials; this is their only way to the job's status (like Kubeflow Trainer's
// status server). It owns status.progress, status.usage and the BudgetExceeded condition under its own field manager.
import { timingSafeEqual } from "node:crypto";
import { createServer, type IncomingMessage, type Server } from "node:http";
import type { KubeConfig, V1ConfigMap, V1Secret } from "@kubernetes/client-node";
import type { Logger } from "pino";
import type { CollabTrainingJob, Condition, Status } from "../api/schema.ts";
import { parseStoredJob } from "../api/stored.ts";
import { fieldName } from "../api/validate.ts";
import { childMeta, childName } from "../children/meta.ts";
import { TOKEN_KEY } from "../children/support.ts";
import { type GatewayReport, GatewayReportSchema, type ReportResponse } from "../gateway/report.ts";
import { patchStatus, request, statusCode } from "../runtime/index.ts";
import { sameData } from "../status/json.ts";
import { controllerUid } from "../status/pods.ts";
import {
  BUDGET_CONDITION,
  budgetConditions,
  ledgerEntry,
  ledgerKey,
  progressStatus,
  usageTotals,
} from "../status/usage.ts";
import { type Caches, jobRef } from "./reconciler.ts";

export const PROGRESS_MANAGER = "collab-operator-progress";
const MAX_BODY = 64 * 1024;
/** Gateway processes (pod × role × restart) one job's ledger keeps; far above any real job, well below 1 MiB. */
const MAX_LEDGER_ENTRIES = 2000;
const ROUTE = /^\/v1\/namespaces\/([a-z0-9-]+)\/collabtrainingjobs\/([a-z0-9-]+)\/report$/;

class HttpError extends Error {
  readonly status: number;
  constructor(status: number, message: string) {
    super(message);
    this.status = status;
  }
}

export interface ReportServerOptions {
  kc: KubeConfig;
  caches: () => Caches;
  logger: Logger;
  now?: () => Date;
}

export function createReportServer(opts: ReportServerOptions): Server {
  // Reports of one job are applied one at a time: each reads the ledger the previous one wrote.
  const queues = new Map<string, Promise<unknown>>();
  return createServer((req, res) => {
    const reply = (status: number, body: unknown) => {
      // An answer given before the body was read (a wrong token) still drains it: closing a socket with unread
      // data makes the kernel send a reset, and the client would see that instead of the status.
      if (!req.complete) req.resume();
      res.writeHead(status, { "content-type": "application/json" });
      res.end(JSON.stringify(body));
    };
    const match = req.method === "POST" ? ROUTE.exec(req.url ?? "") : null;
    if (!match) return reply(404, { error: "not found" });
    const [, namespace, name] = match as unknown as [string, string, string];
    const key = `${namespace}/${name}`;
    const run = (queues.get(key) ?? Promise.resolve())
      .catch(() => undefined)
      .then(() => handle(opts, req, namespace, name));
    queues.set(key, run);
    // One handled chain: a second branch off `run` (say, run.finally) would re-reject unhandled on every error
    // answer, and Node ends the process on an unhandled rejection.
    void run
      .then(
        (body) => reply(200, body),
        (err: unknown) => {
          if (err instanceof HttpError) return reply(err.status, { error: err.message });
          opts.logger.error({ err, namespace, name }, "report failed");
          reply(500, { error: "internal error" });
        },
      )
      .then(() => {
        if (queues.get(key) === run) queues.delete(key);
      });
  });
}

async function handle(
  opts: ReportServerOptions,
  req: IncomingMessage,
  namespace: string,
  name: string,
): Promise<ReportResponse> {
  const caches = opts.caches();
  // A standby replica runs no caches: the gateway retries, and reaches the leader sooner or later.
  if (!caches.jobs.hasSynced() || !caches.secrets.hasSynced()) throw new HttpError(503, "not serving: not the leader");
  // The token first: an unauthenticated caller learns nothing, not even whether the job exists.
  authenticate(req, caches.secrets.get(namespace, childName.token(name)) as V1Secret | undefined);
  const raw = caches.jobs.get(namespace, name);
  if (!raw) throw new HttpError(404, `no CollabTrainingJob ${namespace}/${name}`);
  const report = parseReport(await readBody(req));
  const parsed = parseStoredJob(raw);
  if (!parsed.ok) throw new HttpError(409, "the job's spec is invalid; see its Failed condition");
  const job = parsed.job;
  // The token is the job's, and so is every process holding it, the trainer included (which may run model-written
  // code): a report may only speak for one of the job's own pods, so the ledger stays bounded by them.
  const pod = caches.pods.get(namespace, report.pod);
  if (!pod || controllerUid(pod) !== job.metadata.uid) {
    throw new HttpError(403, `${report.pod} is not a pod of this job`);
  }

  const ledger = await recordUsage(
    opts.kc,
    job,
    caches.configMaps.get(namespace, childName.usage(name)) as V1ConfigMap | undefined,
    report,
  );
  const usage = usageTotals(ledger);
  const previous: Status = job.status ?? {};
  const now = (opts.now?.() ?? new Date()).toISOString().replace(/\.\d{3}Z$/, "Z");
  const conditions: Condition[] = budgetConditions(
    previous.conditions ?? [],
    usage.totalTokens ?? 0,
    job.spec.budget.maxTokens,
    now,
    job.metadata.generation as number | undefined,
  );
  const progress = report.progress ? progressStatus(report.progress) : previous.progress;
  // Everything this writer owns, as it should be and as it is: SSA removes what the writer stops sending (so a
  // BudgetExceeded goes with the budget), and an unchanged status is not written at all.
  const status = { usage, ...(progress ? { progress } : {}), ...(conditions.length > 0 ? { conditions } : {}) };
  const owned = (previous.conditions ?? []).filter((c) => c.type === BUDGET_CONDITION);
  const current = {
    usage: previous.usage,
    ...(previous.progress ? { progress: previous.progress } : {}),
    ...(owned.length > 0 ? { conditions: owned } : {}),
  };
  if (!sameData(current, status)) {
    await patchStatus(opts.kc, jobRef({ namespace, name }), status, PROGRESS_MANAGER);
  }
  return { budgetExceeded: conditions.some((c) => c.status === "True") };
}

function authenticate(req: IncomingMessage, secret: V1Secret | undefined): void {
  const expected = secret?.data?.[TOKEN_KEY] ? Buffer.from(secret.data[TOKEN_KEY], "base64") : undefined;
  const header = req.headers.authorization ?? "";
  const given = Buffer.from(header.startsWith("Bearer ") ? header.slice(7) : "");
  if (!expected || given.length !== expected.length || !timingSafeEqual(given, expected)) {
    throw new HttpError(401, "missing or wrong bearer token");
  }
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    let size = 0;
    const chunks: Buffer[] = [];
    req.on("data", (chunk: Buffer) => {
      size += chunk.length;
      if (size <= MAX_BODY) chunks.push(chunk);
      // Past the limit the rest is read and dropped, so the client hears 413 rather than a reset; only a sender
      // that goes on far beyond it loses the connection.
      else if (size > 16 * MAX_BODY) req.destroy();
    });
    req.on("end", () =>
      size > MAX_BODY
        ? reject(new HttpError(413, `report larger than ${MAX_BODY} bytes`))
        : resolve(Buffer.concat(chunks).toString("utf8")),
    );
    req.on("error", reject);
  });
}

function parseReport(body: string): GatewayReport {
  let json: unknown;
  try {
    json = JSON.parse(body);
  } catch {
    throw new HttpError(400, "body is not JSON");
  }
  const parsed = GatewayReportSchema.safeParse(json);
  if (!parsed.success) {
    throw new HttpError(400, parsed.error.issues.map((i) => `${fieldName(i.path)}: ${i.message}`).join("; "));
  }
  return parsed.data;
}

/** Writes this process's counters into the job's usage ConfigMap; returns the whole ledger as it now stands. */
async function recordUsage(
  kc: KubeConfig,
  job: CollabTrainingJob,
  existing: V1ConfigMap | undefined,
  report: GatewayReport,
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
  });
  return patched.data ?? {};
}
