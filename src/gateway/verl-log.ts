// Pure parser of veRL's console output (v0.6.0). The console logger prints one line per training step,
//   (TaskRunner pid=52293) step:3 - global_seqlen/min:56551 - critic/score/mean:np.float64(0.41) - ...
// (Ray adds the prefix; numpy 2 reprs wrap values as np.float64(...)), and the trainer prints
// "Total training steps: N" once at start. The tracker keeps the values of the latest step line read: after a
// resume, veRL's step numbers continue from the checkpoint, and the newest line is the truth.
import type { Progress } from "../contract/report.ts";

const STEP_LINE = /(?:^|[\s)])step:(\d+) - (.*)$/;
const TOTAL_STEPS = /Total training steps: (\d+)/;
const NUMPY_REPR = /^np\.\w+\((.*)\)$/;
const VALIDATION_REWARD = /^val-core\/.+\/reward\/mean@\d+$/;

/** The metrics of a step line, or null when the line is not one. */
export function parseStepLine(line: string): { step: number; metrics: Map<string, number> } | null {
  const match = STEP_LINE.exec(line);
  if (!match) return null;
  const metrics = new Map<string, number>();
  for (const field of match[2]!.split(" - ")) {
    const colon = field.lastIndexOf(":");
    if (colon <= 0) continue;
    const text = field.slice(colon + 1).trim();
    const value = Number(NUMPY_REPR.exec(text)?.[1] ?? text);
    if (text !== "" && !Number.isNaN(value)) metrics.set(field.slice(0, colon).trim(), value);
  }
  return { step: Number(match[1]), metrics };
}

export class ProgressTracker {
  private current: Progress | undefined;
  private totalSteps: number | undefined;
  private validationReward: number | undefined;

  constructor(totalStepsHint?: number) {
    this.totalSteps = totalStepsHint;
  }

  get progress(): Progress | undefined {
    return this.current;
  }

  /** Feeds one line; returns true when the progress changed. */
  feed(line: string, now: Date): boolean {
    const total = TOTAL_STEPS.exec(line);
    if (total) {
      this.totalSteps = Number(total[1]);
      if (this.current) this.current = { ...this.current, totalSteps: this.totalSteps };
      return this.current !== undefined;
    }
    const parsed = parseStepLine(line);
    if (!parsed) return false;
    const m = parsed.metrics;
    for (const [key, value] of m) if (VALIDATION_REWARD.test(key)) this.validationReward = value;
    const epoch = m.get("training/epoch");
    this.current = {
      step: parsed.step,
      ...(this.totalSteps !== undefined && { totalSteps: this.totalSteps }),
      ...(epoch !== undefined && { epoch: Math.trunc(epoch) }),
      ...optional("reward", m.get("critic/score/mean")),
      ...optional("rewardMax", m.get("critic/score/max")),
      ...optional("rewardMin", m.get("critic/score/min")),
      ...optional("validationReward", this.validationReward),
      ...optional("stepSeconds", m.get("timing_s/step")),
      ...optional("throughput", m.get("perf/throughput")),
      updatedAt: now.toISOString(),
    };
    return true;
  }
}

// JSON has no NaN or Infinity, and the report schema wants finite numbers: such values are left out.
function optional<K extends string>(key: K, value: number | undefined): Partial<Record<K, number>> {
  return value !== undefined && Number.isFinite(value) ? ({ [key]: value } as Record<K, number>) : {};
}
