// The health fixtures are what the real operator writes today: every scenario is recorded again from the live
// operator, and the Argo CD script and kstatus must judge each fresh recording exactly as they judge the committed
// fixture (test/unit/packaging/health.test.ts holds those verdicts). With COLLAB_RECORD_HEALTH_FIXTURES=1 (what
// `npm run fixtures:health` sets) the recording replaces the committed fixtures instead.
import { mkdtempSync, readdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { up } from "../cluster/cluster.ts";
import { healthVerdicts } from "../cluster/tools.ts";
import { FIXTURES, recordHealthFixtures } from "./health-fixtures.ts";

const RECORD = process.env.COLLAB_RECORD_HEALTH_FIXTURES === "1";

// Kueue, for the jobs that wait in its queues.
beforeAll(async () => {
  await up({ kueue: true });
}, 900_000);

describe("health fixtures recorded from the real operator", () => {
  it("are what the operator writes now, as Argo CD and kstatus judge them", async () => {
    const dir = RECORD ? FIXTURES : mkdtempSync(join(tmpdir(), "health-"));
    const recorded = await recordHealthFixtures(dir);
    const committed = readdirSync(FIXTURES)
      .filter((f) => f.endsWith(".json"))
      .map((f) => f.replace(/\.json$/, ""))
      .sort();
    expect(recorded, "run `npm run fixtures:health` to record new scenarios").toEqual(committed);
    const fresh = healthVerdicts(recorded.map((n) => join(dir, `${n}.json`)));
    const stored = healthVerdicts(recorded.map((n) => join(FIXTURES, `${n}.json`)));
    const byName = (v: typeof fresh) => Object.fromEntries(recorded.map((n, i) => [n, v[i]]));
    expect(byName(fresh)).toEqual(byName(stored));
  }, 300_000);
});
