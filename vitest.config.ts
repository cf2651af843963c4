import { defineConfig } from "vitest/config";

/**
 * How many local clusters the integration tests spread over (test/cluster/cluster.ts, INSTANCE): one file per
 * cluster at a time, so a file's restarts, compactions and cluster-wide counters never meet another file's. Two fit a
 * 2-core machine: the files mostly wait (on schedulers, leases, timers), and two halve the wall time.
 */
const CLUSTERS = Number(process.env.COLLAB_TEST_CLUSTERS ?? 2);

export default defineConfig({
  test: {
    // A worker's VITEST_POOL_ID (1..maxWorkers) is the cluster its integration files use.
    maxWorkers: CLUSTERS,
    projects: [
      {
        test: {
          name: "unit",
          include: ["test/unit/**/*.test.ts"],
        },
      },
      {
        test: {
          name: "integration",
          include: ["test/integration/**/*.test.ts"],
          globalSetup: ["test/integration/global-setup.ts"],
          testTimeout: 120_000,
          hookTimeout: 600_000,
        },
      },
    ],
  },
});
