// The README's start command, run as a new user would (non-interactively): the quickstart job goes through its
// stages under the real operator and succeeds.
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { expect, it } from "vitest";
import { ROOT } from "../cluster/cluster.ts";
import { core } from "./kube.ts";
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
}, 320_000);
