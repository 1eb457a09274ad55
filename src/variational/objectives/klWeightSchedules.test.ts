import { describe, expect, it } from 'vitest';
import { additiveKlWeight, constantKlWeight, linearKlWarmup, plateauKlWeight } from './klWeightSchedules.js';

describe('KL weight schedules', () => {
  it('constant, linear warm-up and the additive seminar recipe', () => {
    expect(constantKlWeight(0.3).value(17)).toBe(0.3);
    const warm = linearKlWarmup({ startEpoch: 5, endEpoch: 20 });
    expect([0, 5, 12.5, 20, 30].map((e) => warm.value(e))).toEqual([0, 0, 0.5, 1, 1]);
    const additive = additiveKlWeight();
    expect(additive.value(0)).toBeCloseTo(0.02, 12);
    expect(additive.value(0.99)).toBeCloseTo(0.02, 12);
    expect(additive.value(10)).toBeCloseTo(0.22, 12);
    expect(additive.value(48)).toBeCloseTo(0.98, 12);
    expect(additive.value(49)).toBe(1);
    expect(additive.value(99)).toBe(1);
  });

  it('plateau: multiplies β after `patience` epochs without relative improvement, with state round trip', () => {
    const schedule = plateauKlWeight({ initial: 0.01, factor: 10, patience: 2, threshold: 0.01 });
    const losses = [10, 9, 8.95, 8.96, 7, 7, 7, 7];
    const betas: number[] = [];
    losses.forEach((loss, epoch) => {
      schedule.onEpochEnd!(epoch, { loss });
      betas.push(schedule.value(epoch + 1));
    });
    // 8.95 and 8.96 are within 1% of 9 → two bad epochs → β ×10; the measure restarts at 7, then two bad epochs.
    expect(betas).toEqual([0.01, 0.01, 0.01, 0.1, 0.1, 0.1, 1, 1]);
    const copy = plateauKlWeight({ patience: 2 });
    copy.setState!(schedule.getState!());
    expect(copy.value(0)).toBe(1);
  });
});
