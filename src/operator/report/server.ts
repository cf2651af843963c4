// The endpoint the gateway sidecars push usage and progress to: POST
// /v1/namespaces/{ns}/collabtrainingjobs/{name}/report with `Authorization: Bearer <the job's internal token>`.
// Training pods hold no Kubernetes credentials; this is their only way to the job's status (like Kubeflow Trainer's
// status server). It owns status.progress, status.usage and the BudgetExceeded condition under its own field manager.
// Beside it, POST .../allowance hands out the job's limits and budget to the gateways (allowance.ts): from memory and
// the caches, with no write, so it answers at once.
import {
  createServer,
  request as httpRequest,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from "node:http";
import type { V1ConfigMap, V1Pod, V1Secret } from "@kubernetes/client-node";
import type { Logger } from "pino";
import { Counter, type Registry } from "prom-client";
import type { ZodSafeParseResult } from "zod";
import { CONDITION } from "../../api/conditions.ts";
import type { CollabTrainingJob, Condition, Status } from "../../api/schema.ts";
import { fieldName } from "../../api/validate.ts";
import { childMeta, childName, LABEL } from "../../children/meta.ts";
import { TOKEN_KEY } from "../../children/support.ts";
import { type AllowanceAnswer, AllowanceRequestSchema } from "../../contract/allowance.ts";
import { presentsToken } from "../../contract/job-token.ts";
import { type GatewayReport, GatewayReportSchema, type ReportResponse } from "../../contract/report.ts";
import { sameData } from "../../kube/json.ts";
import { controllerUid } from "../../kube/pods.ts";
import { rfc3339 } from "../../kube/time.ts";
import { type KubeConfig, request, statusCode } from "../../runtime/index.ts";
import { PROGRESS_MANAGER, writeJobStatus } from "../job-status.ts";
import type { Caches } from "../observe.ts";
import { storedJob } from "../stored-job.ts";
import { AllowanceBooks, endpointPrices, gatewayPods, type JobView, jobTerms } from "./allowance.ts";
import {
  budgetConditions,
  jobBudget,
  type LedgerEntry,
  ledgerEntry,
  ledgerKey,
  parseLedger,
  progressStatus,
  usageTotals,
} from "./ledger.ts";

const MAX_BODY = 64 * 1024;
/** A report is a few hundred bytes from a gateway on the pod network: a body that takes longer than this never ends. */
const BODY_TIMEOUT_MS = 10_000;
/** A report not applied within this long from its arrival (waiting for the ones before it included) is given up. */
const REPORT_TIMEOUT_MS = 30_000;
/** Reports of one job that may wait at once; the gateways send one per process every few seconds. */
const MAX_WAITING = 64;
/** Gateway processes (pod × role × restart) one job's ledger keeps; far above any real job, well below 1 MiB. */
const MAX_LEDGER_ENTRIES = 2000;
const ROUTE = /^\/v1\/namespaces\/([a-z0-9-]+)\/collabtrainingjobs\/([a-z0-9-]+)\/(report|allowance)$/;
/** Set on a request a standby passed on: the receiver serves it or says 503, never passes it on again. */
const FORWARDED = "x-collab-forwarded";
const FORWARD_TIMEOUT_MS = 10_000;

class HttpError extends Error {
  readonly status: number;
  readonly headers: Record<string, string>;
  constructor(status: number, message: string, headers: Record<string, string> = {}) {
    super(message);
    this.status = status;
    this.headers = headers;
  }
}

/** Where requests are served: here while leading, else at the leader's report endpoint (from the Lease). */
export interface ReportRouting {
  leading: boolean;
  /** The leader's report endpoint (http://host:port), when the Lease names one. */
  leaderUrl?: string;
}

export interface ReportServerOptions {
  kc: KubeConfig;
  caches: () => Caches;
  logger: Logger;
  now?: () => Date;
  /** Omit to serve every request here (a single replica without leader election). */
  routing?: () => ReportRouting;
  registry?: Registry;
  /** For tests: shorter limits than production's. */
  timeouts?: { bodyMs?: number; reportMs?: number };
}

/**
 * Reports of one job are applied one at a time (each reads the ledger the previous one wrote), but only once their
 * body has arrived whole: reading a body happens outside the queue, so a slow, endless or oversized body delays
 * nobody else's report. Every queued report has a deadline; one that misses it gives way to the next.
 */
export class JobQueues {
  readonly #tails = new Map<string, { tail: Promise<unknown>; waiting: number }>();

  run<T>(key: string, deadline: number, work: (signal: AbortSignal) => Promise<T>): Promise<T> {
    const queue = this.#tails.get(key) ?? { tail: Promise.resolve(), waiting: 0 };
    if (queue.waiting >= MAX_WAITING) {
      return Promise.reject(
        new HttpError(429, `${MAX_WAITING} reports of this job are waiting already`, { "retry-after": "5" }),
      );
    }
    queue.waiting++;
    const result = queue.tail.then(() => withDeadline(deadline, work));
    queue.tail = result.catch(() => undefined);
    this.#tails.set(key, queue);
    const done = () => {
      queue.waiting--;
      if (queue.waiting === 0 && this.#tails.get(key) === queue) this.#tails.delete(key);
    };
    result.then(done, done);
    return result;
  }
}

/** Runs `work` with a signal that aborts at the deadline, and settles by then whatever `work` does. */
function withDeadline<T>(deadline: number, work: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const remaining = deadline - Date.now();
  if (remaining <= 0) return Promise.reject(new HttpError(503, "the report waited too long behind others of its job"));
  const controller = new AbortController();
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => {
      controller.abort();
      reject(new HttpError(503, "the report could not be applied in time; the next one will carry the same counters"));
    }, remaining);
    work(controller.signal).then(
      (value) => {
        clearTimeout(timer);
        resolve(value);
      },
      (error: unknown) => {
        clearTimeout(timer);
        reject(error);
      },
    );
  });
}

/** The usage ledger of each job, parsed once per version of its ConfigMap (asks come many times a second). */
class ParsedLedgers {
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

/** What the allowance books need to know of one job, from the caches. */
function jobView(caches: Caches, job: CollabTrainingJob, ledger: Map<string, LedgerEntry>): JobView {
  const { namespace, name, uid } = job.metadata as { namespace: string; name: string; uid: string };
  const pods = caches.pods.list(namespace, `${LABEL.job}=${name}`) as V1Pod[];
  return { terms: jobTerms(job.spec), ...gatewayPods(pods, uid), ledger };
}

export function createReportServer(opts: ReportServerOptions): Server {
  const queues = new JobQueues();
  const books = new AllowanceBooks();
  const ledgers = new ParsedLedgers();
  // Books belong to one term of leadership: another replica may have handed out allowances in between. Checked on
  // every ask and every second, so no term passes unseen (a term lasts at least a lease, 15 s).
  const watchLeadership = () => {
    books.leading(performance.now(), opts.routing?.().leading ?? true);
    const caches = opts.caches();
    if (caches.jobs.hasSynced()) {
      const uids = new Set(caches.jobs.list().map((j) => j.metadata?.uid));
      books.prune((uid) => uids.has(uid));
      ledgers.forget((key) => caches.jobs.get(...(key.split("/") as [string, string])) !== undefined);
    }
  };
  const leadership = setInterval(watchLeadership, 1000);
  leadership.unref();
  const bodyMs = opts.timeouts?.bodyMs ?? BODY_TIMEOUT_MS;
  const reportMs = opts.timeouts?.reportMs ?? REPORT_TIMEOUT_MS;
  const requests = new Counter({
    name: "collab_report_requests_total",
    help: "Requests to the report endpoint by HTTP status, served here or forwarded to the leader",
    labelNames: ["code", "forwarded"],
    registers: opts.registry ? [opts.registry] : [],
  });
  const server = createServer((req, res) => {
    const reply = (status: number, body: unknown, headers: Record<string, string> = {}) => {
      requests.inc({ code: status, forwarded: "false" });
      res.writeHead(status, { "content-type": "application/json", ...headers });
      res.end(JSON.stringify(body));
      // An answer given before the body was read (a wrong token, a body too large) still drains it for a moment:
      // closing a socket with unread data makes the kernel send a reset, and the client would see that instead of
      // the status. A sender that keeps going past that loses the connection.
      if (!req.complete) {
        req.resume();
        setTimeout(() => req.complete || req.destroy(), 2000).unref();
      }
    };
    const route = opts.routing?.();
    if (route && !route.leading) {
      if (req.headers[FORWARDED] || !route.leaderUrl) {
        return reply(503, { error: "not the leader, and no leader to pass this to yet; retry" });
      }
      return forward(req, res, route.leaderUrl, (code) => requests.inc({ code, forwarded: "true" }), reply);
    }
    const match = req.method === "POST" ? ROUTE.exec(req.url ?? "") : null;
    if (!match) return reply(404, { error: "not found" });
    const [, namespace, name, kind] = match as unknown as [string, string, string, "report" | "allowance"];
    if (kind === "allowance") {
      void allowance(opts, books, ledgers, req, namespace, name, bodyMs).then(
        (answer) => reply(200, answer),
        (err: unknown) => {
          if (err instanceof HttpError) return reply(err.status, { error: err.message }, err.headers);
          opts.logger.error({ err, namespace, name }, "allowance failed");
          reply(500, { error: "internal error" });
        },
      );
      return;
    }
    const arrived = Date.now();
    void receive(opts, req, namespace, name, bodyMs)
      .then((report) =>
        queues.run(`${namespace}/${name}`, arrived + reportMs, (signal) =>
          apply(opts, books, namespace, name, report, signal),
        ),
      )
      .then(
        (body) => reply(200, body),
        (err: unknown) => {
          if (err instanceof HttpError) return reply(err.status, { error: err.message }, err.headers);
          opts.logger.error({ err, namespace, name }, "report failed");
          reply(500, { error: "internal error" });
        },
      );
  });
  // Node's own limits as a backstop: headers and a whole request must arrive in time.
  server.headersTimeout = bodyMs;
  server.requestTimeout = bodyMs + 1000;
  server.on("close", () => clearInterval(leadership));
  return server;
}

/**
 * A standby passes any request on to the leader unchanged (any route: the leader answers for what it serves), so
 * job pods may reach either replica through one Service. A failure to reach the leader is a 502 the gateway retries.
 */
function forward(
  req: IncomingMessage,
  res: ServerResponse,
  leaderUrl: string,
  count: (code: number) => void,
  reply: (status: number, body: unknown) => void,
): void {
  const headers: Record<string, string> = { [FORWARDED]: "1" };
  for (const name of ["authorization", "content-type", "content-length"]) {
    const value = req.headers[name];
    if (typeof value === "string") headers[name] = value;
  }
  const out = httpRequest(
    new URL(req.url ?? "/", leaderUrl),
    { method: req.method, headers, timeout: FORWARD_TIMEOUT_MS },
    (answer) => {
      const code = answer.statusCode ?? 502;
      count(code);
      res.writeHead(code, { "content-type": answer.headers["content-type"] ?? "application/json" });
      answer.pipe(res);
    },
  );
  out.on("timeout", () => out.destroy(new Error("the leader did not answer in time")));
  out.on("error", () => {
    if (!res.headersSent) reply(502, { error: "could not reach the leader; retry" });
    else res.destroy();
  });
  req.pipe(out);
}

/**
 * The caches, when every one this endpoint reads has synced. A replica that has not (a standby, a leader just elected
 * or one that just stepped down) answers nothing for sure: with the pods cache still empty it would refuse a job's own
 * pod for good. 503: the gateway retries.
 */
function servingCaches(opts: ReportServerOptions): Caches {
  const caches = opts.caches();
  if (![caches.jobs, caches.secrets, caches.pods, caches.configMaps].every((c) => c.hasSynced())) {
    throw new HttpError(503, "not serving: caches not synced (or not the leader)");
  }
  return caches;
}

/** Checks who is asking and reads the report; nothing here waits for another request. */
async function receive(
  opts: ReportServerOptions,
  req: IncomingMessage,
  namespace: string,
  name: string,
  bodyMs: number,
): Promise<GatewayReport> {
  const caches = servingCaches(opts);
  // The token first: an unauthenticated caller learns nothing, not even whether the job exists.
  authenticate(req, caches.secrets.get(namespace, childName.token(name)) as V1Secret | undefined);
  if (!caches.jobs.get(namespace, name)) throw new HttpError(404, `no CollabTrainingJob ${namespace}/${name}`);
  return parseBody(await readBody(req, bodyMs), GatewayReportSchema);
}

/** Applies one report: the usage ledger, then status.usage, status.progress and BudgetExceeded. */
async function apply(
  opts: ReportServerOptions,
  books: AllowanceBooks,
  namespace: string,
  name: string,
  report: GatewayReport,
  signal: AbortSignal,
): Promise<ReportResponse> {
  // Asked again: while the report waited its turn this replica may have stopped leading (a rolling update), and its
  // caches are gone with it. 503, not 404: the gateway retries, and reaches the new leader.
  const caches = servingCaches(opts);
  const raw = caches.jobs.get(namespace, name);
  if (!raw) throw new HttpError(404, `no CollabTrainingJob ${namespace}/${name}`);
  const parsed = storedJob(raw);
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
    signal,
  );
  const entries = parseLedger(ledger);
  const usage = usageTotals(entries, endpointPrices(job.spec));
  const previous: Status = job.status ?? {};
  const now = rfc3339(opts.now?.() ?? new Date());
  const refused = books.find(job.metadata.uid as string)?.refusedCall(jobView(caches, job, entries));
  const conditions: Condition[] = budgetConditions(
    previous.conditions ?? [],
    usage,
    jobBudget(job.spec.budget),
    refused,
    now,
    job.metadata.generation as number | undefined,
  );
  const progress = report.progress ? progressStatus(report.progress) : previous.progress;
  // Everything this writer owns, as it should be and as it is: SSA removes what the writer stops sending (so a
  // BudgetExceeded goes with the budget), and an unchanged status is not written at all.
  const status = { usage, ...(progress ? { progress } : {}), ...(conditions.length > 0 ? { conditions } : {}) };
  const owned = (previous.conditions ?? []).filter((c) => c.type === CONDITION.budgetExceeded);
  const current = {
    usage: previous.usage,
    ...(previous.progress ? { progress: previous.progress } : {}),
    ...(owned.length > 0 ? { conditions: owned } : {}),
  };
  if (!sameData(current, status)) {
    await writeJobStatus(opts.kc, { namespace, name }, status, PROGRESS_MANAGER, signal);
  }
  return { budgetExceeded: conditions.some((c) => c.status === "True") };
}

/**
 * One ask for allowances: the same checks as a report (the job's token, one of its own pods), then the job's book
 * answers from memory. No queue: nothing is written.
 */
async function allowance(
  opts: ReportServerOptions,
  books: AllowanceBooks,
  ledgers: ParsedLedgers,
  req: IncomingMessage,
  namespace: string,
  name: string,
  bodyMs: number,
): Promise<AllowanceAnswer> {
  authenticate(req, servingCaches(opts).secrets.get(namespace, childName.token(name)) as V1Secret | undefined);
  const body = await readBody(req, bodyMs);
  // Asked again once the body is in: this replica may have stopped leading meanwhile (503: the gateway asks again).
  const caches = servingCaches(opts);
  const raw = caches.jobs.get(namespace, name);
  if (!raw) throw new HttpError(404, `no CollabTrainingJob ${namespace}/${name}`);
  const request = parseBody(body, AllowanceRequestSchema);
  const parsed = storedJob(raw);
  if (!parsed.ok) throw new HttpError(422, "the job's spec is invalid; see its Failed condition");
  const job = parsed.job;
  const pod = caches.pods.get(namespace, request.pod);
  if (!pod || controllerUid(pod) !== job.metadata.uid)
    throw new HttpError(403, `${request.pod} is not a pod of this job`);
  const ledger = ledgers.get(
    caches.configMaps.get(namespace, childName.usage(name)) as V1ConfigMap | undefined,
    `${namespace}/${name}`,
  );
  const now = performance.now();
  books.leading(now, opts.routing?.().leading ?? true);
  const outcome = books.book(job.metadata.uid as string, now).ask(now, request, jobView(caches, job, ledger));
  if ("stale" in outcome) throw new HttpError(409, "an ask of this gateway newer than this one was answered already");
  return outcome.answer;
}

function authenticate(req: IncomingMessage, secret: V1Secret | undefined): void {
  const expected = secret?.data?.[TOKEN_KEY] ? Buffer.from(secret.data[TOKEN_KEY], "base64") : undefined;
  if (!presentsToken(req.headers.authorization, expected)) {
    throw new HttpError(401, "missing or wrong bearer token");
  }
}

/** Reads at most MAX_BODY bytes within `timeoutMs`; a larger, endless or broken body is refused at once. */
function readBody(req: IncomingMessage, timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    let size = 0;
    const chunks: Buffer[] = [];
    const fail = (error: HttpError) => {
      clearTimeout(timer);
      req.removeAllListeners("data");
      reject(error);
    };
    const timer = setTimeout(
      () => fail(new HttpError(408, `the report's body did not arrive within ${timeoutMs} ms`)),
      timeoutMs,
    );
    const declared = Number(req.headers["content-length"]);
    if (declared > MAX_BODY) return fail(new HttpError(413, `report larger than ${MAX_BODY} bytes`));
    req.on("data", (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_BODY) fail(new HttpError(413, `report larger than ${MAX_BODY} bytes`));
      else chunks.push(chunk);
    });
    req.on("end", () => {
      clearTimeout(timer);
      resolve(Buffer.concat(chunks).toString("utf8"));
    });
    req.on("error", () => fail(new HttpError(400, "the connection broke before the report's body ended")));
    req.on("close", () => {
      if (!req.complete) fail(new HttpError(400, "the connection closed before the report's body ended"));
    });
  });
}

function parseBody<T>(body: string, schema: { safeParse: (json: unknown) => ZodSafeParseResult<T> }): T {
  let json: unknown;
  try {
    json = JSON.parse(body);
  } catch {
    throw new HttpError(400, "body is not JSON");
  }
  const parsed = schema.safeParse(json);
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
