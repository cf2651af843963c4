import { pino } from "pino";
import { Registry } from "prom-client";
import { describe, expect, it } from "vitest";
import { withDefaults } from "../../../src/runtime/informer.ts";
import { runtimeMetrics } from "../../../src/runtime/metrics.ts";
import { watchIsSilent, watchTimeoutSeconds } from "../../../src/runtime/watchdog.ts";

describe("watchdog", () => {
  it("declares a watch dead only after the full silence", () => {
    expect(watchIsSilent(1000, 1000 + 179_999, 180_000)).toBe(false);
    expect(watchIsSilent(1000, 1000 + 180_000, 180_000)).toBe(true);
  });

  it("spreads server-side watch timeouts over [min, 2*min)", () => {
    expect(watchTimeoutSeconds(300, 0)).toBe(300);
    expect(watchTimeoutSeconds(300, 0.999)).toBe(599);
  });
});

describe("informer options", () => {
  // The controller passes its options through as explicit undefined; a spread of defaults kept them undefined and
  // the NaN timeout aborted every watch the moment it started.
  it("falls back to defaults for options passed as undefined", () => {
    const o = withDefaults({
      kc: { getCurrentCluster: () => null, getCurrentUser: () => null },
      name: "x",
      listPath: "/api/v1/configmaps",
      logger: pino({ level: "silent" }),
      metrics: runtimeMetrics(new Registry()),
      resyncMs: undefined,
      watchdogMs: undefined,
    });
    expect(o.watchdogMs).toBe(180_000);
    expect(o.resyncMs).toBe(300_000);
    expect(o.relistMs).toBe(0);
  });
});
