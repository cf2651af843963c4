// Integration tests run against the real local control plane: an already running one is reused (and left running);
// otherwise one is started here and stopped when the run ends.
import { down, running, up } from "../cluster/cluster.ts";
import { tool } from "../cluster/tools.ts";

export default async function setup(): Promise<() => Promise<void>> {
  const wasRunning = running().length > 0;
  await up(); // idempotent: also heals a partly running cluster
  tool("helm"); // builds the packaging and GitOps tools once (minutes when cold), before any test's timeout runs
  return async () => {
    if (!wasRunning) await down();
  };
}
