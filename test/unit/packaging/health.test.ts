// How Argo CD (the chart's Lua health script, run by the gopher-lua Argo CD embeds, with and without the standard
// libraries) and kstatus (cli-utils, what Flux and kpt use) judge a CollabTrainingJob in every phase and failure
// reason, on fixtures recorded from the real operator (test/integration/health-fixtures.ts; `npm run
// fixtures:health` records them again). A fixture without a row here fails: decide its verdicts when you add it.
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { ROOT } from "../../cluster/cluster.ts";
import { healthVerdicts } from "../../cluster/tools.ts";

const FIXTURES = join(ROOT, "test/fixtures/health");
const names = readdirSync(FIXTURES)
  .filter((f) => f.endsWith(".json"))
  .map((f) => f.replace(/\.json$/, ""))
  .sort();

type Row = { argo: [string, RegExp]; kstatus: string; flux: string };
/**
 * Argo CD: Healthy only on Succeeded; Degraded when a human must act (Failed, Stalled, BudgetExceeded); Suspended;
 * otherwise Progressing, with the operator's own message. kstatus reads only observedGeneration, Reconciling,
 * Stalled and Ready: it cannot tell a job with no status yet from a finished one (Current), nor see BudgetExceeded;
 * a job that waits for a human (a missing Secret or claim, a refused child) is Failed until fixed (docs/gitops.md). Flux,
 * with the example Kustomization's healthCheckExprs: Current once the job runs well (health means "started well"),
 * Failed when it failed or needs a human, InProgress while it waits; a job without any status cannot be evaluated
 * in Flux's CEL environment ("error": Flux polls again; the operator writes a status within seconds).
 */
const EXPECTED: Record<string, Row> = {
  "no-status": { argo: ["Progressing", /operator to observe the job/], kstatus: "Current", flux: "error" },
  "secret-not-found": { argo: ["Degraded", /^SecretNotFound: .*missing-keys/], kstatus: "Failed", flux: "Failed" },
  "invalid-spec": { argo: ["Degraded", /^InvalidSpec: spec\.model/], kstatus: "Failed", flux: "Failed" },
  preparing: { argo: ["Progressing", /Preparing/], kstatus: "InProgress", flux: "Current" },
  "fine-tuning": { argo: ["Progressing", /FineTuning/], kstatus: "InProgress", flux: "Current" },
  training: { argo: ["Progressing", /Training/], kstatus: "InProgress", flux: "Current" },
  unschedulable: {
    argo: ["Progressing", /^Unschedulable: pod unschedulable-a0-head/],
    kstatus: "InProgress",
    flux: "InProgress",
  },
  succeeded: { argo: ["Healthy", /finished training/], kstatus: "Current", flux: "Current" },
  "max-restarts-exceeded": {
    argo: ["Degraded", /^MaxRestartsExceeded: .*exited with code 1.*maxRestarts \(0\) is spent/],
    kstatus: "Failed",
    flux: "Failed",
  },
  "pod-failure-policy": {
    argo: ["Degraded", /^PodFailurePolicy: .*code 42.*FailJob/],
    kstatus: "Failed",
    flux: "Failed",
  },
  restarting: {
    argo: ["Progressing", /waits for the pods of earlier attempts/],
    kstatus: "InProgress",
    flux: "InProgress",
  },
  "pod-lost": { argo: ["Degraded", /^MaxDisruptionsExceeded: .*disappeared/], kstatus: "Failed", flux: "Failed" },
  "deadline-exceeded": { argo: ["Degraded", /^DeadlineExceeded: /], kstatus: "Failed", flux: "Failed" },
  "child-rejected": {
    argo: ["Degraded", /^ChildRejected: .*PriorityClass.*priorityClassName/],
    kstatus: "Failed",
    flux: "Failed",
  },
  "claim-not-found": { argo: ["Degraded", /^ClaimNotFound: .*no-such-claim/], kstatus: "Failed", flux: "Failed" },
  queued: {
    argo: ["Progressing", /^Pending: Kueue workload .*insufficient quota/],
    kstatus: "InProgress",
    flux: "InProgress",
  },
  "queue-inadmissible": {
    argo: ["Degraded", /^Inadmissible: Kueue workload .*LocalQueue no-such-queue doesn't exist/],
    kstatus: "Failed",
    flux: "Failed",
  },
  suspended: { argo: ["Suspended", /suspend/], kstatus: "Current", flux: "Current" },
  "budget-exceeded": { argo: ["Degraded", /^TokenBudgetSpent: /], kstatus: "InProgress", flux: "Failed" },
  "generation-not-observed": {
    argo: ["Progressing", /latest spec \(generation 2\)/],
    kstatus: "InProgress",
    flux: "InProgress",
  },
  deleting: { argo: ["Progressing", /Pending deletion/], kstatus: "Terminating", flux: "InProgress" },
};

describe("health of recorded CollabTrainingJobs", () => {
  const verdicts = healthVerdicts(names.map((n) => join(FIXTURES, `${n}.json`)));

  it("has an expected verdict for every recorded fixture, and a fixture for every verdict", () => {
    expect(names).toEqual(Object.keys(EXPECTED).sort());
  });

  it.each(names.map((name, i) => ({ name, got: verdicts[i] })))("$name", ({ name, got }) => {
    const row = EXPECTED[name] as Row;
    expect(got?.argo.status).toBe(row.argo[0]);
    expect(got?.argo.message).toMatch(row.argo[1]);
    // argocd-cm's default (no string, math or os library) and useOpenLibs: true give the same answer.
    expect(got?.argoOpenLibs).toEqual(got?.argo);
    expect(got?.kstatus.status).toBe(row.kstatus);
    expect(got?.flux.status ?? (got?.flux.error ? "error" : undefined)).toBe(row.flux);
  });

  it("never errors or answers an unknown status on what a status may lack (messages, reasons, conditions)", () => {
    const dir = mkdtempSync(join(tmpdir(), "health-"));
    const files = names.flatMap((name) => {
      const job = JSON.parse(readFileSync(join(FIXTURES, `${name}.json`), "utf8"));
      const bare = structuredClone(job);
      for (const c of bare.status?.conditions ?? []) {
        delete c.message;
        delete c.reason;
      }
      const noConditions = structuredClone(job);
      if (noConditions.status) delete noConditions.status.conditions;
      const noGeneration = structuredClone(job);
      delete noGeneration.metadata.generation;
      return [bare, noConditions, noGeneration].map((variant, i) => {
        const file = join(dir, `${name}-${i}.json`);
        writeFileSync(file, JSON.stringify(variant));
        return file;
      });
    });
    for (const got of healthVerdicts(files)) {
      expect(["Healthy", "Progressing", "Degraded", "Suspended"]).toContain(got.argo.status);
      expect(got.argo.message).toBeTruthy();
    }
  });
});
