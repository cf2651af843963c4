// The manager on the real cluster: health, readiness and metrics endpoints, controllers running only on the
// leader, and a graceful stop that drains the controllers and releases the lease.

import { CoordinationV1Api } from "@kubernetes/client-node";
import { describe, expect, it } from "vitest";
import { Controller, Manager } from "../../../src/runtime/index.ts";
import { core, kc, testNamespace } from "../kube.ts";
import { logger, registry, waitFor } from "./helpers.ts";

const get = async (port: number, path: string) => {
  const res = await fetch(`http://127.0.0.1:${port}${path}`);
  return { status: res.status, body: await res.text() };
};

describe("Manager", () => {
  it("serves health, readiness and metrics, runs controllers only while leading, and releases on stop", async () => {
    const ns = await testNamespace("mgr");
    const reconciled: string[][] = [[], []];
    const managers = [0, 1].map((i) => {
      const metrics = registry();
      const controller = new Controller({
        kc,
        name: "cm",
        watches: [
          {
            name: "configmaps",
            listPath: `/api/v1/namespaces/${ns}/configmaps`,
            toKeys: (o) => [{ namespace: ns, name: o.metadata?.name ?? "" }],
          },
        ],
        reconciler: {
          async reconcile(key) {
            reconciled[i]!.push(key.name);
            return undefined;
          },
        },
        logger,
        metrics,
      });
      return new Manager({
        kc,
        logger,
        registry: metrics,
        controllers: [controller],
        port: 0,
        host: "127.0.0.1",
        leaderElection: {
          namespace: ns,
          name: "mgr",
          leaseDurationMs: 60_000,
          renewDeadlineMs: 40_000,
          retryPeriodMs: 200,
        },
      });
    });
    for (const m of managers) await m.start();
    try {
      await core.createNamespacedConfigMap({ namespace: ns, body: { metadata: { name: "work" } } });
      const leader = await waitFor("one manager reconciled", () => {
        const i = reconciled.findIndex((r) => r.includes("work"));
        return i >= 0 ? i : undefined;
      });
      const standby = 1 - leader;
      expect(reconciled[standby]).toEqual([]); // the standby never runs its controllers

      for (const m of managers) {
        expect(await get(m.port, "/healthz")).toEqual({ status: 200, body: "ok" });
        expect((await get(m.port, "/readyz")).status).toBe(200); // leader synced, standby ready to take over
      }
      const metrics = (await get(managers[leader]!.port, "/metrics")).body;
      expect(metrics).toMatch(/reconcile_total\{controller="cm",result="success"\} [1-9]/);
      expect(metrics).toMatch(/workqueue_depth\{name="cm"\} 0/);
      expect(metrics).toMatch(/leader_election_is_leader 1/);
      expect((await get(managers[standby]!.port, "/metrics")).body).toMatch(/leader_election_is_leader 0/);
      // ?name= narrows a scrape to the metrics named (unknown names are skipped).
      const narrowed = (await get(managers[leader]!.port, "/metrics?name=workqueue_depth&name=no_such_metric")).body;
      expect(narrowed).toMatch(/^# HELP workqueue_depth /);
      expect(narrowed).toMatch(/workqueue_depth\{name="cm"\} 0/);
      expect(narrowed).not.toMatch(/reconcile_total|leader_election_is_leader/);

      // Graceful stop of the leader: the lease is released and the standby takes over long before it could expire.
      await managers[leader]!.stop();
      const lease = await kc.makeApiClient(CoordinationV1Api).readNamespacedLease({ namespace: ns, name: "mgr" });
      expect(lease.spec?.holderIdentity).not.toBe(`m${leader}`); // released, or already taken by the standby
      await core.createNamespacedConfigMap({ namespace: ns, body: { metadata: { name: "more" } } });
      await waitFor("the standby reconciles after the handover", () => reconciled[standby]!.includes("more"), 20_000);
    } finally {
      for (const m of managers) await m.stop();
    }
  });

  it("drains on stop: a reconcile in flight finishes with its writes, unaborted, and nothing is logged as failed", async () => {
    const ns = await testNamespace("drain");
    let started: () => void = () => undefined;
    const inFlight = new Promise<void>((resolve) => {
      started = resolve;
    });
    const outcome: string[] = [];
    const errors: unknown[] = [];
    const log = Object.assign(Object.create(logger), {
      error: (...args: unknown[]) => errors.push(args),
      child: () => log,
    });
    const controller = new Controller({
      kc,
      name: "slow",
      watches: [
        {
          name: "configmaps",
          listPath: `/api/v1/namespaces/${ns}/configmaps`,
          toKeys: (o) => (o.metadata?.name === "work" ? [{ namespace: ns, name: "work" }] : []),
        },
      ],
      reconciler: {
        async reconcile(key, signal) {
          started();
          await new Promise((r) => setTimeout(r, 1500));
          // A write after the wait: the drain lets it reach the apiserver.
          await core.createNamespacedConfigMap({ namespace: ns, body: { metadata: { name: `${key.name}-done` } } }, {
            signal,
          } as never);
          outcome.push(signal.aborted ? "aborted" : "finished");
          return undefined;
        },
      },
      logger: log,
      metrics: registry(),
    });
    const manager = new Manager({
      kc,
      logger: log,
      registry: registry(),
      controllers: [controller],
      port: 0,
      host: "127.0.0.1",
    });
    await manager.start();
    await core.createNamespacedConfigMap({ namespace: ns, body: { metadata: { name: "work" } } });
    await inFlight;
    await manager.stop();
    expect(outcome).toEqual(["finished"]);
    expect((await core.readNamespacedConfigMap({ namespace: ns, name: "work-done" })).metadata?.name).toBe("work-done");
    expect(errors).toEqual([]);
  });
});
