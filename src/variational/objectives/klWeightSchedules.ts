import { requireConfig } from '../../util/errors.js';

/**
 * The KL weight β of a variational objective as training proceeds. `value` may depend on the position within the
 * epoch (`progress` = epoch + step/stepsPerEpoch); stateful schedules (plateau) update in `onEpochEnd` and expose
 * their state for checkpoints.
 */
export interface KlWeightSchedule {
  /** A short description for logs, e.g. `linear(5→20)`. */
  readonly name: string;
  /** β at fractional epoch `progress` (epoch 0 starts at 0). */
  value(progress: number): number;
  /** Called after each epoch with its logged values (for adaptive schedules). */
  onEpochEnd?(epoch: number, logs: Readonly<Record<string, number>>): void;
  getState?(): Record<string, unknown>;
  setState?(state: Record<string, unknown>): void;
}

/** β fixed at `beta` (1 is the plain ELBO). */
export function constantKlWeight(beta = 1): KlWeightSchedule {
  requireConfig(beta >= 0 && Number.isFinite(beta), `KL weight must be ≥ 0, got ${beta}`);
  return { name: `constant(${beta})`, value: () => beta };
}

/** Options of {@link linearKlWarmup}. */
export interface LinearWarmupOptions {
  /** Epoch at which β starts to rise (β = `from` before). Default 0. */
  readonly startEpoch?: number;
  /** Epoch at which β reaches `to`. */
  readonly endEpoch: number;
  /** β before the warm-up. Default 0. */
  readonly from?: number;
  /** β after the warm-up. Default 1. */
  readonly to?: number;
}

/**
 * Linear KL warm-up: β = `from` until `startEpoch`, then rising linearly (per step) to `to` at `endEpoch`, constant
 * after (Sparse VD paper code: 0 until epoch 5, 1 at epoch 20; VNQ: 0 → 1 over 15 epochs).
 */
export function linearKlWarmup(options: LinearWarmupOptions): KlWeightSchedule {
  const start = options.startEpoch ?? 0;
  const end = options.endEpoch;
  const from = options.from ?? 0;
  const to = options.to ?? 1;
  requireConfig(end > start, `KL warm-up must end after it starts (start ${start}, end ${end})`);
  return {
    name: `linear(${start}→${end})`,
    value(progress) {
      if (progress <= start) return from;
      if (progress >= end) return to;
      return from + ((to - from) * (progress - start)) / (end - start);
    },
  };
}

/** Options of {@link additiveKlWeight}. */
export interface AdditiveKlWeightOptions {
  /** β in epoch 0. Default 0.02. */
  readonly initial?: number;
  /** Added after every epoch. Default 0.02. */
  readonly increment?: number;
  /** Upper bound. Default 1. */
  readonly max?: number;
}

/**
 * The deepbayes-2019 seminar recipe for Sparse VD: β = min(max, initial + increment·epoch), i.e. 0.02 in the first
 * epoch and 0.02 more each epoch until 1 (epoch 49 onwards).
 */
export function additiveKlWeight(options: AdditiveKlWeightOptions = {}): KlWeightSchedule {
  const initial = options.initial ?? 0.02;
  const increment = options.increment ?? 0.02;
  const max = options.max ?? 1;
  return {
    name: `additive(${initial}+${increment}/epoch≤${max})`,
    value: (progress) => Math.min(max, initial + increment * Math.floor(progress)),
  };
}

/** Options of {@link plateauKlWeight}. */
export interface PlateauKlWeightOptions {
  /** Starting β. Default 0.01. */
  readonly initial?: number;
  /** Multiplier applied on a plateau (> 1 raises β, < 1 lowers it). Default 10. */
  readonly factor?: number;
  /** Epochs without relative improvement of the monitored value before β changes. Default 10. */
  readonly patience?: number;
  /** Relative improvement that counts: value < best − |best|·threshold. Default 0.01. */
  readonly threshold?: number;
  /** Epoch-log key to monitor. Default `loss`. */
  readonly monitor?: string;
  /** Bounds of β. Defaults 1e-9 and 1. */
  readonly min?: number;
  readonly max?: number;
}

/**
 * Plateau schedule, after the reference library's `Beta_Scheduler_Plato` (bayes_deep_compression): when the monitored
 * epoch value has not improved by a relative `threshold` for `patience` epochs, β is multiplied by `factor` and
 * clipped to [min, max]. Unlike the reference, the patience counter restarts after each change (as PyTorch's
 * `ReduceLROnPlateau`), so β changes at most once per `patience` epochs.
 */
export function plateauKlWeight(options: PlateauKlWeightOptions = {}): KlWeightSchedule {
  const factor = options.factor ?? 10;
  const patience = options.patience ?? 10;
  const threshold = options.threshold ?? 0.01;
  const monitor = options.monitor ?? 'loss';
  const min = options.min ?? 1e-9;
  const max = options.max ?? 1;
  requireConfig(factor > 0 && patience >= 1, 'plateau KL weight: factor must be > 0 and patience ≥ 1');
  let beta = options.initial ?? 0.01;
  let best: number | undefined;
  let bad = 0;
  return {
    name: `plateau(×${factor}, patience ${patience})`,
    value: () => beta,
    onEpochEnd(_epoch, logs) {
      const current = logs[monitor];
      if (current === undefined || !Number.isFinite(current)) return;
      if (best === undefined || current < best - Math.abs(best) * threshold) {
        best = current;
        bad = 0;
        return;
      }
      bad++;
      if (bad >= patience) {
        beta = Math.min(max, Math.max(min, beta * factor));
        bad = 0;
        // The loss changes scale when β changes: measure improvement afresh.
        best = undefined;
      }
    },
    getState: () => ({ beta, best: best ?? null, bad }),
    setState(state) {
      beta = Number(state.beta);
      best = state.best === null || state.best === undefined ? undefined : Number(state.best);
      bad = Number(state.bad ?? 0);
    },
  };
}

/** Turns a number into a constant schedule. */
export function asKlWeightSchedule(beta: number | KlWeightSchedule | undefined): KlWeightSchedule {
  if (beta === undefined) return constantKlWeight(1);
  return typeof beta === 'number' ? constantKlWeight(beta) : beta;
}
