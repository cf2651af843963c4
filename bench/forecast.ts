// The cost-and-pace forecast (src/operator/report/pace.ts), replayed: a run whose step times and costs drift, with a
// validation every 10 steps (longer, and more judge calls) and a restart that resumes from an older checkpoint, fed
// step by step through the report endpoint's own functions (nextMarks, paceOf). At several points of the run it prints
// what status.pace projected against what the run then really spent and when it really ended, as the error of each,
// medians and worst cases over seeded runs. Usage reaches each mark a few seconds late, as the gateways report it.
// Figures, not assertions: run it, read it.
//   npx node bench/forecast.ts [--runs 50] [--steps 400]
import { parseArgs } from "node:util";
import type { Progress } from "../src/api/schema.ts";
import { type ByEndpoint, type Mark, nextMarks, paceOf, paceWindow } from "../src/operator/report/pace.ts";

const { values } = parseArgs({
  options: { runs: { type: "string", default: "50" }, steps: { type: "string", default: "400" } },
});
const RUNS = Number(values.runs);
const STEPS = Number(values.steps);
const VALIDATE_EVERY = 10;
const SAVE_EVERY = 50;
/** The restart: after this step the trainer dies, and resumes from the checkpoint before it. */
const CRASH_AFTER = Math.round(STEPS * 0.6) + 7;
const POINTS = [0.1, 0.25, 0.5, 0.75, 0.9];

/** Park-Miller: the same runs every time. */
function rng(seed: number) {
  let s = seed;
  return () => {
    s = (s * 48271) % 2147483647;
    return s / 2147483647;
  };
}

interface Sample {
  point: number;
  costError: number;
  timeError: number;
  steps: number;
}

function replay(seed: number, drifting: boolean): Sample[] {
  const random = rng(seed);
  const noise = () => 0.9 + 0.2 * random();
  const T0 = Date.parse("2026-12-01T00:00:00Z");
  let clock = 0;
  const spent = { sim: 0, judge: 0 };
  // What each step costs and takes: conversations grow as the model learns (+60% cost, +30% time by the end).
  const stepOf = (step: number) => {
    const drift = drifting ? step / STEPS : 0;
    const validation = step % VALIDATE_EVERY === 0;
    return {
      seconds: 100 * (1 + 0.3 * drift) * noise() + (validation ? 80 : 0),
      sim: 0.5 * (1 + 0.6 * drift) * noise(),
      judge: 0.8 * (1 + 0.6 * drift) * noise() + (validation ? 0.4 : 0),
    };
  };
  let marks: readonly Mark[] = [];
  const forecasts: { step: number; cost: number; end: number; steps: number }[] = [];
  const usage = (lagCost: number): ByEndpoint => ({
    "user-simulator": { tokens: 0, cost: spent.sim - lagCost / 2 },
    judge: { tokens: 0, cost: spent.judge - lagCost / 2 },
  });
  const runSteps = (from: number, to: number) => {
    for (let step = from; step <= to; step++) {
      const s = stepOf(step);
      clock += s.seconds;
      spent.sim += s.sim;
      spent.judge += s.judge;
      // The mark misses up to 5% of the step's calls, reported a little later.
      const lag = (s.sim + s.judge) * 0.05 * random();
      const progress: Progress = {
        step,
        totalSteps: STEPS,
        lastUpdateTime: new Date(T0 + clock * 1000).toISOString().replace(/\.\d{3}Z$/, "Z"),
      };
      marks = nextMarks(marks, progress, usage(lag), paceWindow(VALIDATE_EVERY));
      const pace = paceOf(marks, STEPS, true);
      if (pace?.projectedCost !== undefined && pace.estimatedCompletionTime) {
        forecasts.push({
          step,
          cost: pace.projectedCost,
          end: (Date.parse(pace.estimatedCompletionTime) - T0) / 1000,
          steps: pace.perStep.steps,
        });
      }
    }
  };
  if (drifting) {
    runSteps(1, CRASH_AFTER);
    // The restart: 5 minutes down, then steps from the last checkpoint again (spent again, as in a real run).
    clock += 300;
    runSteps(Math.floor(CRASH_AFTER / SAVE_EVERY) * SAVE_EVERY + 1, STEPS);
  } else {
    runSteps(1, STEPS);
  }
  const finalCost = spent.sim + spent.judge;
  const finalTime = clock;
  return POINTS.map((point) => {
    const at = Math.round(STEPS * point);
    // The forecast as it stood at that step, in the run's own order (after the restart for the later points).
    const f = forecasts.filter((x) => x.step === at).at(-1)!;
    return {
      point,
      costError: (f.cost - finalCost) / finalCost,
      timeError: (f.end - finalTime) / finalTime,
      steps: f.steps,
    };
  });
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
};
const pct = (x: number) => `${(100 * x).toFixed(1)}%`;

for (const drifting of [false, true]) {
  const samples = Array.from({ length: RUNS }, (_, i) => replay(i + 1, drifting)).flat();
  console.log(
    drifting
      ? `${RUNS} replayed runs of ${STEPS} steps that drift: cost +60% and step time +30% over the run, ±10% noise, validation every ${VALIDATE_EVERY}, a restart after step ${CRASH_AFTER} from step ${Math.floor(CRASH_AFTER / SAVE_EVERY) * SAVE_EVERY}`
      : `${RUNS} replayed runs of ${STEPS} steady steps: ±10% noise, validation every ${VALIDATE_EVERY}`,
  );
  console.log(
    "at step | steps the means rest on | projected spend error: median, worst | end time error: median, worst",
  );
  for (const point of POINTS) {
    const here = samples.filter((s) => s.point === point);
    const worst = (key: "costError" | "timeError") =>
      here.map((s) => s[key]).reduce((a, b) => (Math.abs(b) > Math.abs(a) ? b : a), 0);
    console.log(
      `${Math.round(STEPS * point)} of ${STEPS} | ${median(here.map((s) => s.steps))} | ${pct(median(here.map((s) => s.costError)))}, ${pct(worst("costError"))} | ${pct(median(here.map((s) => s.timeError)))}, ${pct(worst("timeError"))}`,
    );
  }
}
