// `collab-operator run`: the operator process. Flags (each with a COLLAB_ environment variable) configure what to
// watch, how many workers reconcile, leader election, ports and images; the rest is the generic runtime.
import { randomBytes } from "node:crypto";
import type { Server } from "node:http";
import type { AddressInfo } from "node:net";
import { pino } from "pino";
import { Registry } from "prom-client";
import { DEFAULT_OPERATOR_CONTEXT, type OperatorContext } from "../children/pods.ts";
import { registerJobMetrics } from "../operator/job-metrics.ts";
import { controllerCaches, servedApis, watches } from "../operator/observe.ts";
import { JobReconciler } from "../operator/reconciler.ts";
import { createReportServer } from "../operator/report/server.ts";
import { Controller, EventRecorder, loadKubeConfig, Manager } from "../runtime/index.ts";
import { Options } from "./options.ts";
import { command } from "./prologue.ts";

const options = new Options("COLLAB", {
  kubeconfig: { flag: "kubeconfig", kind: "string", help: "kubeconfig file (default: $KUBECONFIG, else in-cluster)" },
  namespaces: { flag: "namespaces", kind: "string", help: "comma-separated namespaces to watch (default: all)" },
  workers: { flag: "workers", kind: "number", help: "jobs reconciled concurrently (default 4)" },
  leaderElect: { flag: "leader-elect", kind: "bool", help: "run only while holding the Lease (default true)" },
  leaderElectionNamespace: {
    flag: "leader-election-namespace",
    kind: "string",
    help: "namespace of the Lease (default: $POD_NAMESPACE, else default)",
  },
  leaderElectionId: { flag: "leader-election-id", kind: "string", help: "Lease name (default collab-operator)" },
  port: { flag: "port", kind: "number", help: "port of /healthz, /readyz and /metrics (default 8080)" },
  reportPort: {
    flag: "report-port",
    kind: "number",
    help: "port the gateway sidecars report usage and progress to (default 8081)",
  },
  operatorImage: {
    flag: "operator-image",
    kind: "string",
    help: `image of the gateway sidecars, this operator's own (default ${DEFAULT_OPERATOR_CONTEXT.operatorImage})`,
  },
  trainerImage: {
    flag: "trainer-image",
    kind: "string",
    help: `trainer image when a job names none (default ${DEFAULT_OPERATOR_CONTEXT.trainerImage})`,
  },
  trainerImageBigcodebench: {
    flag: "trainer-image-bigcodebench",
    kind: "string",
    help: `trainer image with bigcodebench, for jobs with the pass_rate metric that name none (default ${DEFAULT_OPERATOR_CONTEXT.bigcodebenchTrainerImage})`,
  },
  reportBaseUrl: {
    flag: "report-base-url",
    kind: "string",
    help: `URL the gateways reach the operator's report endpoint at (default ${DEFAULT_OPERATOR_CONTEXT.reportBaseURL})`,
  },
  resyncSeconds: {
    flag: "resync-seconds",
    kind: "number",
    help: "reconcile every job from the cache this often (default 300)",
  },
  logLevel: { flag: "log-level", kind: "string", help: "fatal|error|warn|info|debug (default info)" },
});

interface RunConfig {
  kubeconfig: string | undefined;
  /** Empty: every namespace. */
  namespaces: string[];
  workers: number;
  resyncMs: number;
  leaderElect: boolean;
  leaderElectionNamespace: string;
  leaderElectionId: string;
  port: number;
  reportPort: number;
  ctx: OperatorContext;
  logLevel: string;
}

export const main = command<RunConfig>({
  name: "run",
  help: () =>
    [
      "usage: collab-operator run [flags]",
      "",
      "Runs the CollabTrainingJob operator against the cluster of the kubeconfig (or in-cluster).",
      "",
      ...options.helpRows(),
    ].join("\n"),
  parse: (argv, env) => {
    const raw = options.read(argv, env);
    return {
      kubeconfig: raw.kubeconfig,
      namespaces: (raw.namespaces ?? "")
        .split(",")
        .map((s) => s.trim())
        .filter(Boolean),
      workers: options.number(raw, "workers", 4, 1),
      resyncMs: options.number(raw, "resyncSeconds", 300, 0) * 1000,
      leaderElect: options.bool(raw, "leaderElect", true),
      leaderElectionNamespace: raw.leaderElectionNamespace ?? env.POD_NAMESPACE ?? "default",
      leaderElectionId: raw.leaderElectionId ?? "collab-operator",
      port: options.number(raw, "port", 8080, 0),
      reportPort: options.number(raw, "reportPort", 8081, 0),
      ctx: {
        operatorImage: raw.operatorImage ?? DEFAULT_OPERATOR_CONTEXT.operatorImage,
        trainerImage: raw.trainerImage ?? DEFAULT_OPERATOR_CONTEXT.trainerImage,
        bigcodebenchTrainerImage: raw.trainerImageBigcodebench ?? DEFAULT_OPERATOR_CONTEXT.bigcodebenchTrainerImage,
        reportBaseURL: raw.reportBaseUrl ?? DEFAULT_OPERATOR_CONTEXT.reportBaseURL,
      },
      logLevel: raw.logLevel ?? "info",
    };
  },
  run,
});

async function run(config: RunConfig): Promise<number> {
  const { namespaces, leaderElect } = config;
  const logger = pino({ level: config.logLevel, base: { component: "collab-operator" } });
  const kc = loadKubeConfig(config.kubeconfig);
  const registry = new Registry();
  const events = new EventRecorder({ kc, component: "collab-operator", instance: process.env.POD_NAME, logger });

  let controller: Controller | undefined;
  const caches = controllerCaches(() => controller as Controller, namespaces);
  const reconciler = new JobReconciler({
    kc,
    caches,
    events,
    served: () => servedApis(controller as Controller, namespaces),
    ctx: config.ctx,
  });
  controller = new Controller({
    kc,
    name: "collabtrainingjob",
    watches: watches(namespaces, caches),
    reconciler,
    workers: config.workers,
    logger,
    metrics: registry,
    resyncMs: config.resyncMs,
  });
  registerJobMetrics(registry, () => caches().jobs);
  let manager: Manager | undefined;
  // With two replicas behind one Service, a report may reach the standby: it passes it on to the leader, whose
  // report endpoint the leader writes on the Lease (docs/install.md, "The report endpoint").
  const reports = createReportServer({
    kc,
    caches,
    logger,
    registry,
    events,
    ...(leaderElect
      ? {
          routing: () => ({
            leading: manager?.isLeader() ?? false,
            leaderUrl: manager?.leaseHolder()?.annotations[REPORT_ENDPOINT_ANNOTATION],
          }),
        }
      : {}),
  });
  await new Promise<void>((resolve) => reports.listen(config.reportPort, resolve));
  logger.info({ address: reports.address() }, "report endpoint listening");
  manager = new Manager({
    kc,
    logger,
    registry,
    controllers: [controller],
    port: config.port,
    ...(leaderElect
      ? {
          leaderElection: {
            namespace: config.leaderElectionNamespace,
            name: config.leaderElectionId,
            // The pod's name (as Events' reportingInstance) plus a suffix unique to this process, so the Lease
            // holder says which replica leads and a restarted pod of the same name is a new candidate.
            ...(process.env.POD_NAME ? { identity: `${process.env.POD_NAME}_${randomBytes(4).toString("hex")}` } : {}),
            holderAnnotations: () => ({ [REPORT_ENDPOINT_ANNOTATION]: advertisedUrl(reports) }),
          },
        }
      : {}),
  });
  manager.handleSignals();
  await manager.start();
  // Resolves only on failure: a clean shutdown exits the process from handleSignals.
  return manager.failed.then(
    () => 1,
    (err: unknown) => {
      logger.error({ err }, "controllers failed");
      return 1;
    },
  );
}

/** The Lease annotation where the leader says where its report endpoint is. */
export const REPORT_ENDPOINT_ANNOTATION = "collabllm.io/report-endpoint";

/** This replica's report endpoint as other replicas reach it: $POD_IP in a pod, loopback out of cluster. */
function advertisedUrl(server: Server): string {
  const ip = process.env.POD_IP || "127.0.0.1";
  const port = (server.address() as AddressInfo).port;
  return `http://${ip.includes(":") ? `[${ip}]` : ip}:${port}`;
}
