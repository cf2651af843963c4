// Pure parser of veRL 0.6.0's console output on the head pod, into status.progress's own shape (api/schema.ts Progress):
// what the gateway reports is what the operator writes. Ray forwards every actor's stdout to the driver's with a
// prefix, `(TaskRunner pid=52293) ` or `(RewardManagerWorker pid=53100, ip=10.0.0.5) `. Read here:
//   - the trainer's `Total training steps: N`, once at start;
//   - the console logger's line per step (veRL's LocalLogger: `step:N - key:value - ...`; numpy 2 reprs wrap values
//     as np.float64(...)), of which training/epoch, critic/score/{mean,min,max}, val-core/<source>/reward/mean@N,
//     timing_s/step and perf/throughput;
//   - the CollabLLM reward manager's line per sample (recipe/collabllm/reward_function.py), the only place the reward's
//     components appear: `Scores: tensor([1.7355]) {'accuracy': tensor(1.), 'interactivity': tensor(0.7667), ...}`,
//     each metric's weight times its mean over the sample's future conversations, clamped to [-1, 1];
//   - the trainer's `test_gen_batch meta info: {...}` as validation starts (ray_trainer.py, _validate): the Scores
//     lines from there to the next step line are validation's, the others training's;
//   - the checkpoints: `local_global_step_folder: <dir>/global_step_N` as a save starts (_save_checkpoint), complete
//     once step N's own line follows (veRL prints it after the save, tracker file included), with
//     timing_s/save_checkpoint; and `Load from checkpoint folder: <dir>/global_step_N` as a resumed trainer starts.
// The newest step line is the truth: after a resume, veRL's step numbers continue from the checkpoint.
import { MAX_REWARD_METRICS, type Progress } from "../api/schema.ts";
import { rfc3339 } from "../api/time.ts";

const STEP_LINE = /(?:^|[\s)])step:(\d+) - (.*)$/;
const TOTAL_STEPS = /Total training steps: (\d+)/;
const VALIDATION_STARTS = /(?:^|[\s)])test_gen_batch meta info: /;
const CHECKPOINT_SAVE = /(?:^|[\s)])local_global_step_folder: \S*global_step_(\d+)\s*$/;
const CHECKPOINT_LOADED = /(?:^|[\s)])Load from checkpoint folder: \S*global_step_(\d+)\s*$/;
const SCORES_LINE = /(?:^|[\s)])Scores: tensor\(\[([^\]]*)\]\) \{(.*)\}\s*$/;
const SCORE_ENTRY = /'([A-Za-z_][A-Za-z0-9_]{0,62})': (?:tensor\()?([^,)}]+)/g;
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

/**
 * The reward components of a `Scores:` line, and how many samples the line stands for (the entries of its scores
 * tensor: the components are their means), or null when the line is not one.
 */
export function parseScoresLine(line: string): { samples: number; components: Map<string, number> } | null {
  const match = SCORES_LINE.exec(line);
  if (!match) return null;
  const scores = match[1]!.split(",").filter((s) => s.trim() !== "");
  // torch abbreviates a long tensor with "...": its size is unknown, so the line counts once.
  const samples = scores.length > 0 && !match[1]!.includes("...") ? scores.length : 1;
  const components = new Map<string, number>();
  for (const [, name, text] of match[2]!.matchAll(SCORE_ENTRY)) {
    const value = Number(text!.trim());
    if (Number.isFinite(value) && components.size < MAX_REWARD_METRICS) components.set(name!, value);
  }
  return { samples, components };
}

/** Running means of the reward's components over the samples seen. */
class ComponentMeans {
  private readonly sums = new Map<string, { total: number; samples: number }>();

  add(scores: { samples: number; components: Map<string, number> }): void {
    for (const [name, value] of scores.components) {
      const sum = this.sums.get(name) ?? { total: 0, samples: 0 };
      sum.total += value * scores.samples;
      sum.samples += scores.samples;
      this.sums.set(name, sum);
    }
  }

  get empty(): boolean {
    return this.sums.size === 0;
  }

  means(): Map<string, number> {
    return new Map([...this.sums].map(([name, { total, samples }]) => [name, total / samples]));
  }
}

export class ProgressTracker {
  private current: Progress | undefined;
  private totalSteps: number | undefined;
  private validationReward: number | undefined;
  /** Each metric's latest training and validation means. */
  private readonly rewardMetrics = new Map<string, { training?: number; validation?: number }>();
  /** The components of the samples since the last step line, and whether validation has started since. */
  private training = new ComponentMeans();
  private validation = new ComponentMeans();
  private validating = false;
  /** A save that started (its step), complete once that step's line follows; the latest complete one. */
  private saving: number | undefined;
  private checkpoint: { step: number; seconds?: number } | undefined;

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
      if (this.current?.step !== undefined) this.current = { ...this.current, ...this.steps(this.current.step) };
      return this.current !== undefined;
    }
    if (VALIDATION_STARTS.test(line)) {
      this.validating = true;
      return false;
    }
    const saving = CHECKPOINT_SAVE.exec(line);
    if (saving) {
      this.saving = Number(saving[1]);
      return false;
    }
    const loaded = CHECKPOINT_LOADED.exec(line);
    if (loaded) {
      this.checkpoint = { step: Number(loaded[1]) };
      return false;
    }
    const scores = parseScoresLine(line);
    if (scores) {
      (this.validating ? this.validation : this.training).add(scores);
      return false;
    }
    const parsed = parseStepLine(line);
    if (!parsed) return false;
    const m = parsed.metrics;
    for (const [key, value] of m) if (VALIDATION_REWARD.test(key)) this.validationReward = value;
    this.closeStep();
    if (this.saving === parsed.step) {
      const seconds = finite(m.get("timing_s/save_checkpoint"));
      this.checkpoint = { step: parsed.step, ...(seconds !== undefined && { seconds }) };
    }
    this.saving = undefined;
    const epoch = m.get("training/epoch");
    const stepSeconds = finite(m.get("timing_s/step"));
    this.current = {
      ...this.steps(parsed.step),
      ...(epoch !== undefined && { epoch: Math.trunc(epoch) }),
      ...optional("reward", m.get("critic/score/mean")),
      ...optional("rewardMin", m.get("critic/score/min")),
      ...optional("rewardMax", m.get("critic/score/max")),
      ...optional("validationReward", this.validationReward),
      ...(this.rewardMetrics.size > 0 && { rewardMetrics: Object.fromEntries(this.rewardMetrics) }),
      ...optional("stepSeconds", stepSeconds),
      ...optional("throughput", m.get("perf/throughput")),
      ...(this.checkpoint && { checkpointStep: this.checkpoint.step }),
      ...optional("checkpointSeconds", this.checkpoint?.seconds),
      lastUpdateTime: rfc3339(now),
    };
    return true;
  }

  /** A step line ends the step's samples: their means become the metrics' latest, training's and validation's. */
  private closeStep(): void {
    for (const [split, means] of [
      ["training", this.training],
      ["validation", this.validation],
    ] as const) {
      for (const [name, mean] of means.means()) {
        if (!this.rewardMetrics.has(name) && this.rewardMetrics.size >= MAX_REWARD_METRICS) continue;
        this.rewardMetrics.set(name, { ...this.rewardMetrics.get(name), [split]: mean });
      }
    }
    this.training = new ComponentMeans();
    this.validation = new ComponentMeans();
    this.validating = false;
  }

  /** The step with the total. */
  private steps(step: number) {
    const total = this.totalSteps;
    if (total === undefined) return { step, stepOfTotal: `${step}` };
    return { step, totalSteps: total, stepOfTotal: `${step}/${total}` };
  }
}

// JSON has no NaN or Infinity, and the status wants finite numbers: such values are left out.
function finite(value: number | undefined): number | undefined {
  return value !== undefined && Number.isFinite(value) ? value : undefined;
}

function optional<K extends string>(key: K, value: number | undefined): Partial<Record<K, number>> {
  const v = finite(value);
  return v !== undefined ? ({ [key]: v } as Record<K, number>) : {};
}
