// The README's start command, run as a new user would (non-interactively): the operator installed by its chart, the
// quickstart job going through its stages on the real node and succeeding, its preflight passed, its STEP and REWARD
// moving, its usage metered, its pods' logs there to read.
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { afterAll, expect, it } from "vitest";
import { GROUP, PLURAL, type Status, VERSION } from "../../src/api/schema.ts";
import { ROOT } from "../cluster/cluster.ts";
import { downRealNode, uninstallOperatorChart } from "../cluster/realnode.ts";
import { core, custom } from "./kube.ts";
import { eventually } from "./operator.ts";

// The cluster's next test file finds it as it was: no operator of the chart, no real node.
afterAll(async () => {
  await core.deleteNamespace({ name: "quickstart" }).catch(() => undefined);
  uninstallOperatorChart();
  await downRealNode();
}, 300_000);

it("npm run start:local brings the quickstart job to Succeeded", async () => {
  await core.deleteNamespace({ name: "quickstart" }).catch(() => undefined);
  await eventually(
    "old quickstart namespace gone",
    async () =>
      core.readNamespace({ name: "quickstart" }).then(
        () => false,
        () => true,
      ),
    90_000,
  );
  const { stdout } = await promisify(execFile)(
    process.execPath,
    [`${ROOT}/test/cluster/cli.ts`, "quickstart", "--exit-when-done"],
    // Generous: a loaded CI machine may still be importing the images, and Ray takes its time to start on a CPU.
    { timeout: 600_000 },
  );
  for (const phase of ["Preparing", "Training", "Succeeded"]) expect(stdout).toContain(`quickstart   ${phase}`);
  expect(stdout).toContain("job Succeeded");
  expect(stdout).toContain("TrainingSucceeded");
  expect(stdout).toContain("installing the operator's chart");
  // The preflight ran before any GPU pod, and the watch showed STEP and REWARD moving to the end of the run.
  expect(stdout).toMatch(/PreflightPassed .*spec\.userSimulator .*answered a completion of max_tokens 1/);
  const watched = stdout
    .split("\n")
    .map((line) => /^quickstart\s+(Training|Succeeded)\s+(\d+)\/(\d+)\s+(-?[\d.]+)\s/.exec(line))
    .filter((m) => m !== null)
    .map((m) => ({ step: Number(m[2]), total: Number(m[3]), reward: Number(m[4]) }));
  expect(new Set(watched.map((w) => w.step)).size).toBeGreaterThanOrEqual(3);
  expect(new Set(watched.map((w) => w.reward)).size).toBeGreaterThanOrEqual(3);
  expect(watched.map((w) => w.step)).toEqual([...watched.map((w) => w.step)].sort((a, b) => a - b));
  const total = watched.at(-1)!.total;
  expect(watched.at(-1)?.step).toBe(total);
  // The usage the gateways metered, as `kubectl describe` shows it.
  const job = (await custom.getNamespacedCustomObject({
    group: GROUP,
    version: VERSION,
    plural: PLURAL,
    namespace: "quickstart",
    name: "quickstart",
  })) as { status: Status };
  expect(job.status.progress).toMatchObject({ step: total, totalSteps: total, stepOfTotal: `${total}/${total}` });
  // The pods ran for real: the head's trainer log is there to read, with veRL's step lines.
  const log = await core.readNamespacedPodLog({
    namespace: "quickstart",
    name: "quickstart-a0-head",
    container: "trainer",
  });
  expect(String(log)).toMatch(new RegExp(`step:${total} - `));
  expect(job.status.usage?.userSimulator?.requests).toBeGreaterThan(0);
  expect(job.status.usage?.judge?.requests).toBeGreaterThan(0);
  expect(stdout).toContain(`usage: ${job.status.usage?.totalTokens} tokens`);
}, 720_000);
