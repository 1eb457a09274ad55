import { describe, expect, it } from 'vitest';
import { BayescompError } from '../util/errors.js';
import { type LrScheduleSpec, learningRateAt, validateLrSchedule } from './lr-schedules.js';

/** The rate at the first step of each epoch of a run. */
function perEpoch(
  schedule: LrScheduleSpec | undefined,
  base: number,
  epochs: number,
  stepsPerEpoch = 10,
): number[] {
  return Array.from({ length: epochs }, (_, epoch) =>
    learningRateAt(schedule, base, { epoch, step: 0, stepsPerEpoch, epochs }),
  );
}

describe('learning-rate schedules', () => {
  it('constant (and no schedule) keep the base rate', () => {
    expect(perEpoch(undefined, 0.1, 3)).toEqual([0.1, 0.1, 0.1]);
    expect(perEpoch({ type: 'constant' }, 0.1, 3)).toEqual([0.1, 0.1, 0.1]);
  });

  it('multi-step: the Sparse VD recipe multiplies by 0.2 at 50/60/70/80% of 100 epochs', () => {
    const schedule: LrScheduleSpec = {
      type: 'multi-step',
      milestoneFractions: [0.5, 0.6, 0.7, 0.8],
      gamma: 0.2,
    };
    const lr = perEpoch(schedule, 1e-3, 100);
    const expected = (e: number) => 1e-3 * Math.pow(0.2, [50, 60, 70, 80].filter((m) => e >= m).length);
    for (const e of [0, 49, 50, 59, 60, 69, 70, 79, 80, 99]) expect(lr[e]).toBe(expected(e));
    expect(lr[49]).toBe(1e-3);
    expect(lr[50]).toBe(1e-3 * 0.2);
    expect(lr[80]).toBe(1e-3 * 0.2 ** 4);
    // The same milestones given in epochs.
    const byEpoch = perEpoch({ type: 'multi-step', milestones: [50, 60, 70, 80], gamma: 0.2 }, 1e-3, 100);
    expect(byEpoch).toEqual(lr);
    // Within an epoch the rate does not change unless the granularity is per step.
    expect(learningRateAt(schedule, 1e-3, { epoch: 49, step: 9, stepsPerEpoch: 10, epochs: 100 })).toBe(1e-3);
  });

  it('linear: holds, then decays linearly to the final rate at the end of the run', () => {
    // 200 epochs: constant for 100, then linear to 0 (the Sparse VD paper's LeNet-300-100 recipe).
    const lr = perEpoch({ type: 'linear', holdEpochs: 100 }, 1e-3, 200);
    expect(lr[0]).toBe(1e-3);
    expect(lr[100]).toBe(1e-3);
    expect(lr[150]).toBeCloseTo(5e-4, 15);
    expect(lr[199]).toBeCloseTo(1e-5, 15);
    // With a final rate and a hold given as a fraction: 4 epochs, hold 50% → 1, 1, 1, then 1 + (0.1 − 1)·1/2.
    const held = perEpoch({ type: 'linear', holdFraction: 0.5, finalLearningRate: 0.1 }, 1, 4);
    [1, 1, 1, 0.55].forEach((v, i) => expect(held[i]).toBeCloseTo(v, 15));
    // Per step: halfway through a 2-epoch run without hold, exactly half the rate.
    const mid = learningRateAt({ type: 'linear', granularity: 'step' }, 0.2, {
      epoch: 1,
      step: 0,
      stepsPerEpoch: 10,
      epochs: 2,
    });
    expect(mid).toBeCloseTo(0.1, 15);
    expect(
      learningRateAt({ type: 'linear', granularity: 'step' }, 0.2, {
        epoch: 1,
        step: 5,
        stepsPerEpoch: 10,
        epochs: 2,
      }),
    ).toBeCloseTo(0.05, 15);
  });

  it('cosine: lr_final + (lr₀ − lr_final)(1 + cos(πt/T))/2', () => {
    const lr = perEpoch({ type: 'cosine', finalLearningRate: 0.1 }, 1.1, 4);
    expect(lr[0]).toBe(1.1);
    expect(lr[1]).toBeCloseTo(0.1 + (1 + Math.SQRT1_2) / 2, 14);
    expect(lr[2]).toBeCloseTo(0.6, 14);
    expect(lr[3]).toBeCloseTo(0.1 + (1 - Math.SQRT1_2) / 2, 14);
  });

  it('linear warm-up multiplies the schedule: start + (1 − start)·min(k, K)/K', () => {
    // Per epoch, 4 warm-up epochs from 0.2: factors 0.2, 0.4, 0.6, 0.8, 1, 1.
    const lr = perEpoch({ type: 'constant', warmup: { epochs: 4, startFactor: 0.2 } }, 0.5, 6);
    [0.1, 0.2, 0.3, 0.4, 0.5, 0.5].forEach((v, i) => expect(lr[i]).toBeCloseTo(v, 15));
    // Per step, half an epoch of 10 steps = 5 steps from the default 1/3.
    const at = (step: number) =>
      learningRateAt({ type: 'constant', granularity: 'step', warmup: { epochs: 0.5 } }, 3, {
        epoch: 0,
        step,
        stepsPerEpoch: 10,
        epochs: 2,
      });
    expect(at(0)).toBeCloseTo(1, 15);
    expect(at(1)).toBeCloseTo(1 + 2 / 5, 15);
    expect(at(5)).toBe(3);
    expect(at(9)).toBe(3);
    // Warm-up composes with decay: multi-step at epoch 1 and warm-up over 2 epochs from 0.5.
    const combined = perEpoch(
      { type: 'multi-step', milestones: [1], gamma: 0.1, warmup: { epochs: 2, startFactor: 0.5 } },
      1,
      3,
    );
    [0.5, 0.075, 0.1].forEach((v, i) => expect(combined[i]).toBeCloseTo(v, 15));
  });

  it('accepts a function schedule', () => {
    const lr = learningRateAt((base, p) => base / (1 + p.epoch), 1, {
      epoch: 3,
      step: 0,
      stepsPerEpoch: 1,
      epochs: 5,
    });
    expect(lr).toBe(0.25);
  });

  it('rejects impossible specs with bad-config errors', () => {
    const bad: unknown[] = [
      { type: 'multi-step', gamma: 0.1 },
      { type: 'multi-step', milestones: [10], gamma: 0 },
      { type: 'multi-step', milestoneFractions: [1.5], gamma: 0.1 },
      { type: 'linear', holdFraction: 2 },
      { type: 'constant', warmup: { epochs: 1, startFactor: 2 } },
      { type: 'exponential' },
    ];
    for (const spec of bad) {
      expect(() => validateLrSchedule(spec as LrScheduleSpec)).toThrow(BayescompError);
    }
    expect(() => validateLrSchedule({ type: 'cosine' })).not.toThrow();
  });
});
