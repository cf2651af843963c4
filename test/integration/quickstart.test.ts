// The README's start command, run as a new user would (non-interactively): the quickstart job goes through its
// stages under the real operator and succeeds, its preflight passed, its STEP and REWARD moving, its usage metered.
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { expect, it } from "vitest";
import { GROUP, PLURAL, type Status, VERSION } from "../../src/api/schema.ts";
import { ROOT } from "../cluster/cluster.ts";
import { core, custom } from "./kube.ts";
import { eventually } from "./operator.ts";

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
    // Generous: on a loaded CI machine the stages alone take ~15 s, but a test before may have left the fleet slow.
    { timeout: 200_000 },
  );
  for (const phase of ["Preparing", "Training", "Succeeded"]) expect(stdout).toContain(`quickstart   ${phase}`);
  expect(stdout).toContain("job Succeeded");
  expect(stdout).toContain("TrainingSucceeded");
  // The preflight ran before any GPU pod, and the watch showed STEP and REWARD moving to the end of the recorded run.
  expect(stdout).toMatch(/PreflightPassed .*spec\.userSimulator .*answered a completion of max_tokens 1/);
  const watched = stdout
    .split("\n")
    .map((line) => /^quickstart\s+(Training|Succeeded)\s+(\d+)\/60\s+(-?[\d.]+)\s/.exec(line))
    .filter((m) => m !== null)
    .map((m) => ({ step: Number(m[2]), reward: Number(m[3]) }));
  expect(new Set(watched.map((w) => w.step)).size).toBeGreaterThanOrEqual(3);
  expect(new Set(watched.map((w) => w.reward)).size).toBeGreaterThanOrEqual(3);
  expect(watched.map((w) => w.step)).toEqual([...watched.map((w) => w.step)].sort((a, b) => a - b));
  expect(watched.at(-1)?.step).toBe(60);
  // The usage the gateways metered, as `kubectl describe` shows it.
  const job = (await custom.getNamespacedCustomObject({
    group: GROUP,
    version: VERSION,
    plural: PLURAL,
    namespace: "quickstart",
    name: "quickstart",
  })) as { status: Status };
  expect(job.status.progress).toMatchObject({ step: 60, totalSteps: 60, stepOfTotal: "60/60" });
  expect(job.status.usage?.userSimulator?.requests).toBeGreaterThan(0);
  expect(job.status.usage?.judge?.requests).toBeGreaterThan(0);
  expect(stdout).toContain(`usage: ${job.status.usage?.totalTokens} tokens`);
}, 320_000);
