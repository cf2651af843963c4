// The report endpoint's HTTP shell. Gateway sidecars push usage and progress to POST
// /v1/namespaces/{ns}/collabtrainingjobs/{name}/report with `Authorization: Bearer <the job's internal token>`.
// Training pods hold no Kubernetes credentials; this is their only way to the job's status (like Kubeflow Trainer's
// status server). It owns status.progress, status.usage, status.pace and the conditions BudgetExceeded and
// BudgetSufficient under its own field manager, and records the Events of those conditions' changes: ledger.ts and
// pace.ts decide them, ledger-store.ts keeps the usage ledger and the step marks. Beside it, POST .../allowance hands
// out the job's limits and budget to the gateways (allowance.ts): from memory and the caches, with no write, so it
// answers at once. A standby passes every request on to the leader (http.ts).
import { createServer, type IncomingMessage, type Server } from "node:http";
import type { KubernetesObject, V1ConfigMap, V1Pod, V1Secret } from "@kubernetes/client-node";
import type { Logger } from "pino";
import { Counter, type Registry } from "prom-client";
import type { CollabTrainingJob } from "../../api/schema.ts";
import { rfc3339 } from "../../api/time.ts";
import { childName, LABEL } from "../../children/meta.ts";
import { type AllowanceAnswer, AllowanceRequestSchema } from "../../contract/allowance.ts";
import { type GatewayReport, GatewayReportSchema, type ReportResponse } from "../../contract/report.ts";
import { controllerUid } from "../../kube/pods.ts";
import type { EventRecorder, KubeConfig } from "../../runtime/index.ts";
import { PROGRESS_MANAGER, writeJobStatus } from "../job-status.ts";
import type { Caches } from "../observe.ts";
import { fresher } from "../reconciler.ts";
import { storedJob } from "../stored-job.ts";
import { AllowanceBooks, gatewayPods, type JobView, jobTerms } from "./allowance.ts";
import { authenticate, FORWARDED, forward, HttpError, parseBody, readRequestBody } from "./http.ts";
import {
  endpointPrices,
  type LedgerEntry,
  ledgerEntry,
  ledgerKey,
  parseLedger,
  reportedStatus,
  usageByEndpoint,
} from "./ledger.ts";
import { MARKS_KEY, ParsedLedgers, parseMarks, recordLedger } from "./ledger-store.ts";
import { nextMarks, paceWindow } from "./pace.ts";
import { SerialByJob } from "./serial.ts";
import { servedSpend } from "./served-spend.ts";

/** A report is a few hundred bytes from a gateway on the pod network: a body that takes longer than this never ends. */
const BODY_TIMEOUT_MS = 10_000;
/** A report not applied within this long from its arrival (waiting for the ones before it included) is given up. */
const REPORT_TIMEOUT_MS = 30_000;
const ROUTE = /^\/v1\/namespaces\/([a-z0-9-]+)\/collabtrainingjobs\/([a-z0-9-]+)\/(report|allowance)$/;

/** What the leader keeps between reports: the allowance books, and each job as its last status write left it. */
interface ReportState {
  books: AllowanceBooks;
  written: Map<string, KubernetesObject>;
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
  /** Records the Events of the budget conditions' changes (the operator's recorder). */
  events?: EventRecorder;
}

export function createReportServer(opts: ReportServerOptions): Server {
  const serial = new SerialByJob();
  const books = new AllowanceBooks();
  const state: ReportState = { books, written: new Map() };
  const ledgers = new ParsedLedgers();
  // Books belong to one term of leadership: another replica may have handed out allowances in between. Checked on
  // every ask and every second, so no term passes unseen (a term lasts at least a lease, 15 s).
  const watchLeadership = () => {
    books.leading(performance.now(), opts.routing?.().leading ?? true);
    const caches = opts.caches();
    if (caches.jobs.hasSynced()) {
      const job = (key: string) => caches.jobs.get(...(key.split("/") as [string, string]));
      books.prune((uid, key) => job(key)?.metadata?.uid === uid);
      for (const [key, written] of state.written) {
        if (job(key)?.metadata?.uid !== written.metadata?.uid) state.written.delete(key);
      }
      ledgers.forget((key) => job(key) !== undefined);
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
        serial.run(`${namespace}/${name}`, arrived + reportMs, (signal) =>
          apply(opts, state, namespace, name, report, signal),
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
  return parseBody(await readRequestBody(req, bodyMs), GatewayReportSchema);
}

/** Applies one report: the usage ledger and the step marks, then what the endpoint owns of the status (ledger.ts). */
async function apply(
  opts: ReportServerOptions,
  state: ReportState,
  namespace: string,
  name: string,
  report: GatewayReport,
  signal: AbortSignal,
): Promise<ReportResponse> {
  // Asked again: while the report waited its turn this replica may have stopped leading (a rolling update), and its
  // caches are gone with it. 503, not 404: the gateway retries, and reaches the new leader.
  const caches = servingCaches(opts);
  const cached = caches.jobs.get(namespace, name);
  if (!cached) throw new HttpError(404, `no CollabTrainingJob ${namespace}/${name}`);
  // This endpoint's own last write when the cache has not caught up with it: a condition's change is told once.
  const raw = fresher(cached, state.written.get(`${namespace}/${name}`)) as KubernetesObject;
  const parsed = storedJob(raw);
  if (!parsed.ok) throw new HttpError(409, "the job's spec is invalid; see its Failed condition");
  const job = parsed.job;
  // The token is the job's, and so is every process holding it, the trainer included (which may run model-written
  // code): a report may only speak for one of the job's own pods, so the ledger stays bounded by them.
  const pod = caches.pods.get(namespace, report.pod);
  if (!pod || controllerUid(pod) !== job.metadata.uid) {
    throw new HttpError(403, `${report.pod} is not a pod of this job`);
  }
  const stored = caches.configMaps.get(namespace, childName.usage(name)) as V1ConfigMap | undefined;
  const entry = { [ledgerKey(report)]: ledgerEntry(report) };
  const now = opts.now?.() ?? new Date();
  const served = servedSpend(job.spec, job.status?.serving, now);
  // A step line's mark takes the freshest usage known: the ledger with this report, and what the gateways' asks say.
  const book = state.books.find(job.metadata.uid as string);
  const known = parseLedger({ ...stored?.data, ...entry });
  const marksBefore = parseMarks(stored?.data);
  const marks = nextMarks(
    marksBefore,
    report.progress,
    usageByEndpoint(book ? book.freshLedger(known) : known, endpointPrices(job.spec), served),
    paceWindow(job.spec.rl.validateEvery),
  );
  const data = await recordLedger(
    opts.kc,
    job,
    stored,
    { ...entry, ...(marks !== marksBefore ? { [MARKS_KEY]: JSON.stringify(marks) } : {}) },
    signal,
  );
  const ledger = parseLedger(data);
  const reported = reportedStatus({
    job: { spec: job.spec, status: job.status, generation: job.metadata.generation as number | undefined },
    ledger,
    served,
    refused: book?.refusedCall(jobView(caches, job, ledger, now)),
    progress: report.progress,
    marks: parseMarks(data),
    now: rfc3339(now),
  });
  if (reported.changed) {
    const written = await writeJobStatus(opts.kc, { namespace, name }, reported.status, PROGRESS_MANAGER, signal);
    state.written.set(`${namespace}/${name}`, written);
    for (const e of reported.events) void opts.events?.record(written, e.type, e.reason, e.message);
  }
  return { budgetExceeded: reported.budgetExceeded };
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
  const body = await readRequestBody(req, bodyMs);
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
  const outcome = books
    .book(job.metadata.uid as string, `${namespace}/${name}`, now)
    .ask(now, request, jobView(caches, job, ledger, opts.now?.() ?? new Date()));
  if ("stale" in outcome) throw new HttpError(409, "an ask of this gateway newer than this one was answered already");
  return outcome.answer;
}

/** What the allowance books need to know of one job, from the caches. */
function jobView(caches: Caches, job: CollabTrainingJob, ledger: Map<string, LedgerEntry>, now: Date): JobView {
  const { namespace, name, uid } = job.metadata as { namespace: string; name: string; uid: string };
  const pods = caches.pods.list(namespace, `${LABEL.job}=${name}`) as V1Pod[];
  const served = Object.values(servedSpend(job.spec, job.status?.serving, now));
  return {
    terms: jobTerms(job.spec),
    ...gatewayPods(pods, uid),
    ledger,
    servedCost: served.reduce((sum, s) => sum + (s?.cost ?? 0), 0),
  };
}
