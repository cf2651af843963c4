// Metrics shared by every controller in a process. prom-client refuses to register a name twice, so the first
// controller creates each metric and later ones reuse it.
import { Counter, Gauge, Histogram, type Registry } from "prom-client";

function getOrCreate<M>(registry: Registry, name: string, create: () => M): M {
  return (registry.getSingleMetric(name) as M | undefined) ?? create();
}

export interface RuntimeMetrics {
  watchRestarts: Counter<"kind" | "reason">;
  resyncs: Counter<"kind">;
  reconciles: Counter<"controller" | "result">;
  reconcileDuration: Histogram<"controller">;
  depth: Gauge<"name">;
}

export function runtimeMetrics(registry: Registry): RuntimeMetrics {
  const registers = [registry];
  return {
    watchRestarts: getOrCreate(
      registry,
      "watch_restarts_total",
      () =>
        new Counter({
          name: "watch_restarts_total",
          help: "Watches restarted, by watched kind and reason (closed, gone, watchdog, relist, error)",
          labelNames: ["kind", "reason"],
          registers,
        }),
    ),
    resyncs: getOrCreate(
      registry,
      "informer_resyncs_total",
      () =>
        new Counter({
          name: "informer_resyncs_total",
          help: "Periodic resyncs completed (every cached object reported to the handlers), by watched kind",
          labelNames: ["kind"],
          registers,
        }),
    ),
    reconciles: getOrCreate(
      registry,
      "reconcile_total",
      () =>
        new Counter({
          name: "reconcile_total",
          help: "Reconciles by controller and result (success, error, requeue)",
          labelNames: ["controller", "result"],
          registers,
        }),
    ),
    reconcileDuration: getOrCreate(
      registry,
      "reconcile_duration_seconds",
      () =>
        new Histogram({
          name: "reconcile_duration_seconds",
          help: "Time spent in one reconcile",
          labelNames: ["controller"],
          buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
          registers,
        }),
    ),
    depth: getOrCreate(
      registry,
      "workqueue_depth",
      () =>
        new Gauge({ name: "workqueue_depth", help: "Keys waiting in a work queue", labelNames: ["name"], registers }),
    ),
  };
}

/**
 * A metric that writes its own exposition text, a piece at a time, HELP and TYPE lines first: for one with hundreds
 * of thousands of series (every job's), which prom-client would join into one string per metric and the registry
 * into one per scrape. The registry's get() must still work for it (prom-client's own readers use that).
 */
export interface StreamedMetric {
  name: string;
  /** `scrape`: the same object for every metric of one scrape (to compute what several metrics share once). */
  exposition(scrape: object): AsyncIterable<string>;
}

const isStreamed = (metric: object): metric is StreamedMetric =>
  typeof (metric as Partial<StreamedMetric>).exposition === "function";

/**
 * The registry's text as registry.metrics() writes it, one metric at a time and streamed metrics a piece at a time,
 * so a scrape never holds the whole text (docs/operator.md, "Scale and memory", has what the whole text cost).
 * `names`: only those metrics, in the registry's order.
 */
export async function* exposition(registry: Registry, names?: ReadonlySet<string>): AsyncGenerator<string> {
  let first = true;
  const scrape = {};
  for (const metric of registry.getMetricsAsArray()) {
    if (names && !names.has(metric.name)) continue;
    if (!first) yield "\n\n";
    first = false;
    if (isStreamed(metric)) yield* metric.exposition(scrape);
    else yield await registry.getSingleMetricAsString(metric.name);
  }
  yield "\n";
}
