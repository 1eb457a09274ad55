import { requireConfig } from '../util/errors.js';

/**
 * Learning-rate schedules as plain data (so they can come from a command line or a config file and be written into
 * a run's history) evaluated by pure functions of the position in the run.
 *
 * Time is measured in epochs: `t = epoch` when the schedule changes once per epoch (`granularity: 'epoch'`, the
 * default, as PyTorch's `scheduler.step()` once per epoch), or `t = epoch + step / stepsPerEpoch` when it changes
 * every step (`granularity: 'step'`).
 */
export type LrScheduleSpec = ConstantLrSchedule | MultiStepLrSchedule | LinearLrSchedule | CosineLrSchedule;

/** Options every schedule shares. */
export interface LrScheduleCommon {
  /** Whether the rate changes once per epoch (default) or every step. */
  readonly granularity?: 'epoch' | 'step';
  /** An optional linear warm-up multiplied onto the schedule, see {@link LrWarmup}. */
  readonly warmup?: LrWarmup;
}

/**
 * Linear warm-up, as PyTorch's `LinearLR`: the rate is multiplied by
 * `startFactor + (1 − startFactor) · min(k, K) / K`, where `k` counts warm-up units from 0 and `K` is the warm-up
 * length. Units are steps when `granularity` is `'step'` (K = round(epochs · stepsPerEpoch)), else epochs.
 */
export interface LrWarmup {
  /** Length of the warm-up in epochs (may be fractional with step granularity). */
  readonly epochs: number;
  /** Factor at the first unit, in [0, 1]. Default 1/3 (PyTorch's `LinearLR` default). */
  readonly startFactor?: number;
}

/** The base rate throughout. */
export interface ConstantLrSchedule extends LrScheduleCommon {
  readonly type: 'constant';
}

/**
 * `lr(t) = lr₀ · γ^{#{i : t ≥ mᵢ}}`: multiplied by `gamma` at each milestone (PyTorch's `MultiStepLR`). E.g. the
 * Sparse VD seminar recipe: `{ type: 'multi-step', milestoneFractions: [0.5, 0.6, 0.7, 0.8], gamma: 0.2 }` over 100
 * epochs multiplies the rate by 0.2 at the start of epochs 50, 60, 70 and 80 (zero-based).
 */
export interface MultiStepLrSchedule extends LrScheduleCommon {
  readonly type: 'multi-step';
  /** Milestones in epochs (zero-based epoch at which the decay first applies). */
  readonly milestones?: readonly number[];
  /** Milestones as fractions of the run's epochs (`mᵢ = fᵢ · epochs`); used when `milestones` is absent. */
  readonly milestoneFractions?: readonly number[];
  /** Factor applied at each milestone. */
  readonly gamma: number;
}

/**
 * Constant for a hold period `h`, then linear from `lr₀` at `t = h` to `finalLearningRate` at `t = epochs`:
 * `lr(t) = lr₀ + (lr_final − lr₀) · (t − h) / (epochs − h)` for `t ≥ h` (the Sparse VD paper's LeNet-300-100 recipe:
 * constant for 100 of 200 epochs, then linear to 0).
 */
export interface LinearLrSchedule extends LrScheduleCommon {
  readonly type: 'linear';
  /** Rate reached at the end of the run. Default 0. */
  readonly finalLearningRate?: number;
  /** Hold period in epochs. Default 0. */
  readonly holdEpochs?: number;
  /** Hold period as a fraction of the run; used when `holdEpochs` is absent. */
  readonly holdFraction?: number;
}

/**
 * Cosine annealing without restarts (Loshchilov & Hutter 2017, SGDR eq. 5 with one cycle):
 * `lr(t) = lr_final + (lr₀ − lr_final) · (1 + cos(π t / epochs)) / 2`.
 */
export interface CosineLrSchedule extends LrScheduleCommon {
  readonly type: 'cosine';
  /** Rate reached at the end of the run. Default 0. */
  readonly finalLearningRate?: number;
}

/** Where in the run a learning rate is asked for. */
export interface LrPosition {
  /** Zero-based epoch. */
  readonly epoch: number;
  /** Zero-based step within the epoch. */
  readonly step: number;
  readonly stepsPerEpoch: number;
  /** Total epochs of the run. */
  readonly epochs: number;
}

/** A schedule given as a function: the learning rate at a position, from the base rate. */
export type LrScheduleFunction = (baseLearningRate: number, position: LrPosition) => number;

/**
 * The learning rate at `position` under `schedule` (a spec or a function; undefined means constant), starting from
 * `baseLearningRate`. Pure: the same arguments always give the same rate, so a resumed run follows the same schedule.
 */
export function learningRateAt(
  schedule: LrScheduleSpec | LrScheduleFunction | undefined,
  baseLearningRate: number,
  position: LrPosition,
): number {
  if (schedule === undefined) return baseLearningRate;
  if (typeof schedule === 'function') return schedule(baseLearningRate, position);
  const t =
    schedule.granularity === 'step'
      ? position.epoch + position.step / position.stepsPerEpoch
      : position.epoch;
  const T = position.epochs;
  let lr: number;
  switch (schedule.type) {
    case 'constant':
      lr = baseLearningRate;
      break;
    case 'multi-step': {
      const milestones = schedule.milestones ?? (schedule.milestoneFractions ?? []).map((f) => f * T);
      const passed = milestones.filter((m) => t >= m - 1e-9).length;
      lr = baseLearningRate * Math.pow(schedule.gamma, passed);
      break;
    }
    case 'linear': {
      const final = schedule.finalLearningRate ?? 0;
      const hold = schedule.holdEpochs ?? (schedule.holdFraction ?? 0) * T;
      lr =
        t <= hold || T <= hold
          ? baseLearningRate
          : baseLearningRate + ((final - baseLearningRate) * (t - hold)) / (T - hold);
      break;
    }
    case 'cosine': {
      const final = schedule.finalLearningRate ?? 0;
      lr = final + ((baseLearningRate - final) * (1 + Math.cos((Math.PI * Math.min(t, T)) / T))) / 2;
      break;
    }
  }
  return lr * warmupFactor(schedule, position);
}

function warmupFactor(schedule: LrScheduleSpec, position: LrPosition): number {
  const warmup = schedule.warmup;
  if (!warmup || warmup.epochs <= 0) return 1;
  const start = warmup.startFactor ?? 1 / 3;
  const byStep = schedule.granularity === 'step';
  const length = byStep ? Math.max(1, Math.round(warmup.epochs * position.stepsPerEpoch)) : warmup.epochs;
  const k = byStep ? position.epoch * position.stepsPerEpoch + position.step : position.epoch;
  return start + ((1 - start) * Math.min(k, length)) / length;
}

/** Throws a `bad-config` error when a schedule spec cannot work (negative milestones, gamma ≤ 0, …). */
export function validateLrSchedule(schedule: LrScheduleSpec | LrScheduleFunction | undefined): void {
  if (schedule === undefined || typeof schedule === 'function') return;
  const known = ['constant', 'multi-step', 'linear', 'cosine'];
  requireConfig(
    known.includes(schedule.type),
    `unknown learning-rate schedule '${String(schedule.type)}' (use ${known.join(', ')})`,
  );
  if (schedule.granularity !== undefined) {
    requireConfig(
      ['epoch', 'step'].includes(schedule.granularity),
      `lr schedule granularity must be 'epoch' or 'step'`,
    );
  }
  if (schedule.type === 'multi-step') {
    requireConfig(schedule.gamma > 0, `multi-step lr schedule: gamma must be > 0, got ${schedule.gamma}`);
    requireConfig(
      schedule.milestones !== undefined || schedule.milestoneFractions !== undefined,
      'multi-step lr schedule needs milestones (epochs) or milestoneFractions',
    );
    for (const m of schedule.milestones ?? []) requireConfig(m >= 0, `lr milestone must be ≥ 0, got ${m}`);
    for (const f of schedule.milestoneFractions ?? [])
      requireConfig(f >= 0 && f <= 1, `lr milestone fraction must be in [0, 1], got ${f}`);
  }
  if (schedule.type === 'linear') {
    requireConfig((schedule.holdEpochs ?? 0) >= 0, 'linear lr schedule: holdEpochs must be ≥ 0');
    const f = schedule.holdFraction ?? 0;
    requireConfig(f >= 0 && f <= 1, `linear lr schedule: holdFraction must be in [0, 1], got ${f}`);
  }
  if (schedule.warmup) {
    requireConfig(schedule.warmup.epochs >= 0, 'lr warm-up epochs must be ≥ 0');
    const s = schedule.warmup.startFactor ?? 1 / 3;
    requireConfig(s >= 0 && s <= 1, `lr warm-up startFactor must be in [0, 1], got ${s}`);
  }
}
