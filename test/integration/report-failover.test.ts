// No gateway report is lost while the operator fails over or rolls. Replicas of the real operator sit behind a
// round-robin TCP proxy standing for the chart's Service (KWOK runs no kube-proxy); four gateways' reporters (the
// real Reporter class) push cumulative counters through it every 250 ms while the leader is SIGKILLed and replaced,
// then while a rolling update replaces both replicas one at a time with SIGTERM. Counted at both ends: every report
// a gateway saw acknowledged must appear in the usage ledger the leader wrote (watched from the apiserver), no push
// may give up, and the ledger and status.usage must end at each gateway's final counters.
import { randomUUID } from "node:crypto";
import { connect, createServer, type Server, type Socket } from "node:net";
import { Watch } from "@kubernetes/client-node";
import { pino } from "pino";
import { afterEach, describe, expect, it } from "vitest";
import { childName } from "../../src/children/meta.ts";
import { TOKEN_KEY } from "../../src/children/support.ts";
import type { GatewayReport } from "../../src/contract/report.ts";
import { Reporter } from "../../src/gateway/reporter.ts";
import { request } from "../../src/runtime/index.ts";
import { core, kc, testNamespace } from "./kube.ts";
import {
  createJob,
  eventually,
  finishPod,
  getJob,
  type OperatorProcess,
  startOperator,
  waitForPhase,
  waitRunning,
} from "./operator.ts";

/** Spreads each new connection over the current backends in turn, as kube-proxy does over a Service's endpoints. */
function serviceProxy() {
  let backends: number[] = [];
  let next = 0;
  const sockets = new Set<Socket>();
  const server: Server = createServer((client) => {
    sockets.add(client);
    client.on("close", () => sockets.delete(client));
    const port = backends[next++ % Math.max(1, backends.length)];
    if (port === undefined) return client.destroy();
    const upstream = connect(port, "127.0.0.1");
    sockets.add(upstream);
    upstream.on("close", () => sockets.delete(upstream));
    client.pipe(upstream).pipe(client);
    upstream.on("error", () => client.destroy());
    client.on("error", () => upstream.destroy());
  });
  return {
    listen: () => new Promise<number>((r) => server.listen(0, "127.0.0.1", () => r((server.address() as any).port))),
    set: (ports: number[]) => {
      backends = ports;
    },
    close: () => {
      for (const s of sockets) s.destroy();
      return new Promise((r) => server.close(r));
    },
  };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const cleanup: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c();
});

describe("gateway reports during a leader failover and a rolling update", () => {
  it("are all applied by the leader, counted at both ends", async () => {
    const ns = await testNamespace("failover");
    const job = "job";
    await createJob(ns, job, { spec: { resources: { nodes: 2, gpusPerNode: 1 } } });
    const replica = (name: string) => startOperator(ns, { leaderElect: true, identity: name });
    const holder = async () => {
      const lease = await request<{ spec?: { holderIdentity?: string } }>(kc, {
        method: "GET",
        path: `/apis/coordination.k8s.io/v1/namespaces/${ns}/leases/collab-operator`,
      }).catch(() => undefined);
      return lease?.spec?.holderIdentity?.split("_")[0];
    };
    const replicas = new Map<string, OperatorProcess>([["op-a", replica("op-a")]]);
    await eventually("op-a leads", async () => (await holder()) === "op-a");
    replicas.set("op-b", replica("op-b"));

    await finishPod(ns, childName.pod(job, "prepare", 0), "Succeeded");
    const pods = [childName.pod(job, "head", 0), childName.pod(job, "worker", 0, 1)];
    for (const pod of pods) await waitRunning(ns, pod);
    await waitForPhase(ns, job, "Training");
    const secret = await core.readNamespacedSecret({ namespace: ns, name: childName.token(job) });
    const token = Buffer.from(secret.data?.[TOKEN_KEY] ?? "", "base64").toString();

    const proxy = serviceProxy();
    const proxyPort = await proxy.listen();
    cleanup.push(proxy.close);
    const route = async () => proxy.set(await Promise.all([...replicas.values()].map((r) => r.reportPort())));
    await route();

    // What the leader wrote, every version of it: the usage ledger's entries as the apiserver saw them change.
    const applied = new Map<string, Set<number>>();
    const watch = await new Watch(kc).watch(
      `/api/v1/namespaces/${ns}/configmaps`,
      { fieldSelector: `metadata.name=${childName.usage(job)}` },
      (_type, cm: { data?: Record<string, string> }) => {
        for (const [key, value] of Object.entries(cm.data ?? {})) {
          const seen = applied.get(key) ?? new Set<number>();
          seen.add(JSON.parse(value).requests);
          applied.set(key, seen);
        }
      },
      () => {},
    );
    cleanup.push(async () => watch.abort());

    const warnings: string[] = [];
    // Four gateways (two pods × two roles). Each report's `requests` counts the reports built so far, so every
    // report is told apart; the one a 200 acknowledged is remembered (one report in flight per gateway).
    const gateways = pods.flatMap((pod) =>
      (["judge", "user-simulator"] as const).map((role) => {
        const startId = randomUUID();
        const g = {
          key: `${pod}.${role}.${startId}`,
          built: 0,
          acknowledged: [] as number[],
          reporter: undefined as unknown as Reporter,
        };
        const build = (): GatewayReport => {
          g.built++;
          const counters = {
            requests: g.built,
            promptTokens: g.built,
            completionTokens: 0,
            rateLimited: 0,
            retries: 0,
            errors: 0,
            cacheHits: 0,
          };
          return {
            pod,
            role,
            startId,
            usage: { [role]: counters },
          };
        };
        g.reporter = new Reporter({
          url: `http://127.0.0.1:${proxyPort}/v1/namespaces/${ns}/collabtrainingjobs/${job}/report`,
          token,
          intervalMs: 250,
          build,
          onBudgetVerdict: () => g.acknowledged.push(g.built),
          log: pino({ level: "warn" }, { write: (line: string) => warnings.push(`${pod}.${role}: ${line}`) }),
        });
        return g;
      }),
    );
    for (const g of gateways) g.reporter.start();
    cleanup.push(() => Promise.all(gateways.map((g) => g.reporter.stop())));
    await sleep(3000);

    // Failover: the leader is killed; its endpoint stays in the Service for a second, as endpoints lag; the
    // Deployment replaces it with a new pod.
    const leader = (await holder()) as string;
    await replicas.get(leader)?.stop("SIGKILL");
    replicas.delete(leader);
    await sleep(1000);
    await route();
    replicas.set("op-c", replica("op-c"));
    await route();
    await eventually("a new leader", async () => [...replicas.keys()].includes((await holder()) ?? ""), 60_000);
    await sleep(3000);

    // Rolling update (maxSurge 1, maxUnavailable 0): a new pod, then an old one goes (the leader first), twice.
    const leading = (await holder()) as string;
    const olds = [leading, [...replicas.keys()].find((n) => n !== leading) as string];
    for (const [i, fresh] of ["op-d", "op-e"].entries()) {
      const old = olds[i] as string;
      replicas.set(fresh, replica(fresh));
      await replicas.get(fresh)?.metricsPort();
      await route();
      const leaving = replicas.get(old) as OperatorProcess;
      replicas.delete(old);
      await Promise.all([route(), leaving.stop("SIGTERM")]);
      expect(leaving.child.exitCode).toBe(0);
      await sleep(3000);
    }

    cleanup.pop(); // the reporters stop here, each sending a last report
    await Promise.all(gateways.map((g) => g.reporter.stop()));
    for (const g of gateways) {
      const last = g.acknowledged.at(-1);
      await eventually(`${g.key}: the last acknowledged report in the ledger`, async () =>
        applied.get(g.key)?.has(last as number),
      );
    }

    const summary = gateways.map((g) => ({
      gateway: g.key.split(".").slice(0, 2).join("."),
      ...g.reporter.stats,
      acknowledged: g.acknowledged.length,
      lost: g.acknowledged.filter((n) => !applied.get(g.key)?.has(n)).length,
    }));
    console.log(`report failover: ${JSON.stringify(summary)}`);
    for (const s of summary) {
      expect(s.failed, warnings.join("")).toBe(0);
      expect(s.lost).toBe(0);
      expect(s.acknowledged).toBe(s.delivered);
    }
    const finals = gateways.map((g) => g.acknowledged.at(-1) as number);
    const usage = await eventually("status.usage at the final counters", async () => {
      const u = (await getJob(ns, job)).status?.usage;
      const total = (u?.judge?.requests ?? 0) + (u?.userSimulator?.requests ?? 0);
      return total === finals.reduce((a, b) => a + b, 0) ? u : undefined;
    });
    expect(usage?.totalTokens).toBe(finals.reduce((a, b) => a + b, 0));
  }, 240_000);
});
