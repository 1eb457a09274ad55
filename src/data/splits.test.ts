import { describe, expect, it } from 'vitest';
import { Random } from '../runtime/random.js';
import type { Dataset } from './dataset.js';
import {
  proportionalAllocation,
  stratifiedSample,
  stratifiedSampleIndices,
  subsetDataset,
  trainValidationSplit,
} from './splits.js';
import { fitFeatureStandardization, standardizeFeatures } from './standardize.js';

/** 100 examples in classes of sizes 50, 30, 20 (interleaved); feature values encode the example index. */
function classified(): Dataset {
  const labels = Array.from({ length: 100 }, (_, i) => (i % 10 < 5 ? 0 : i % 10 < 8 ? 1 : 2));
  return {
    x: Float32Array.from({ length: 200 }, (_, k) => Math.floor(k / 2) * 10 + (k % 2)),
    y: Int32Array.from(labels),
    n: 100,
    featureShape: [2],
    numClasses: 3,
    classNames: ['a', 'b', 'c'],
  };
}

function regression(): Dataset {
  return {
    x: Float32Array.from({ length: 10 }, (_, i) => i),
    y: Float32Array.from({ length: 20 }, (_, k) => k / 2),
    n: 10,
    featureShape: [1],
    targetSize: 2,
  };
}

function counts(y: ArrayLike<number>, k: number): number[] {
  const c = new Array<number>(k).fill(0);
  for (let i = 0; i < y.length; i++) c[y[i]]++;
  return c;
}

describe('subsetDataset', () => {
  it('copies the chosen examples in the given order, keeping features and targets together', () => {
    const d = subsetDataset(classified(), [7, 0, 7]);
    expect(d.n).toBe(3);
    expect(Array.from(d.x)).toEqual([70, 71, 0, 1, 70, 71]);
    expect(Array.from(d.y)).toEqual([1, 0, 1]);
    expect(d.classNames).toEqual(['a', 'b', 'c']);
    const r = subsetDataset(regression(), [3]);
    expect([Array.from(r.x), Array.from(r.y), r.targetSize]).toEqual([[3], [3, 3.5], 2]);
    expect(() => subsetDataset(regression(), [10])).toThrow(RangeError);
  });
});

describe('proportionalAllocation', () => {
  it('sums exactly to the total, giving remainders to the largest fractions', () => {
    // Quotas 3.5, 2.1, 1.4 → floors 3, 2, 1 and the one left over goes to the 0.5 remainder.
    expect(proportionalAllocation([50, 30, 20], 7)).toEqual([4, 2, 1]);
    expect(proportionalAllocation([1, 1, 1], 2)).toEqual([1, 1, 0]);
    expect(proportionalAllocation([980, 1135, 1032], 100).reduce((a, b) => a + b)).toBe(100);
  });
});

describe('trainValidationSplit', () => {
  it('is a stratified partition of the examples', () => {
    const data = classified();
    const { train, validation, trainIndices, validationIndices } = trainValidationSplit(data, 0.2, new Random(1));
    expect([train.n, validation.n]).toEqual([80, 20]);
    const all = [...trainIndices, ...validationIndices].sort((a, b) => a - b);
    expect(all).toEqual(Array.from({ length: 100 }, (_, i) => i));
    expect(counts(validation.y, 3)).toEqual([10, 6, 4]);
    expect(counts(train.y, 3)).toEqual([40, 24, 16]);
    validationIndices.forEach((src, i) => {
      expect(validation.x[2 * i]).toBe(src * 10);
      expect(validation.y[i]).toBe(data.y[src]);
    });
  });

  it('is reproducible from the seed and differs between seeds', () => {
    const data = classified();
    const a = trainValidationSplit(data, 0.3, new Random(5)).validationIndices;
    const b = trainValidationSplit(data, 0.3, new Random(5)).validationIndices;
    const c = trainValidationSplit(data, 0.3, new Random(6)).validationIndices;
    expect(Array.from(a)).toEqual(Array.from(b));
    expect(Array.from(a)).not.toEqual(Array.from(c));
  });

  it('splits real targets without stratifying and refuses to stratify them', () => {
    const { train, validation } = trainValidationSplit(regression(), 0.25, new Random(2));
    expect([train.n, validation.n]).toEqual([7, 3]);
    expect(validation.y.length).toBe(6);
    expect(() => trainValidationSplit(regression(), 0.25, new Random(2), { stratify: true })).toThrow(
      /cannot stratify/,
    );
    expect(() => trainValidationSplit(regression(), 0.01, new Random(2))).toThrow(/leaves one part empty/);
    expect(() => trainValidationSplit(regression(), 1, new Random(2))).toThrow(/must be in \(0, 1\)/);
  });

  it('without stratification picks each example for validation with probability = fraction', () => {
    const data = classified();
    const hits = new Array<number>(100).fill(0);
    const runs = 2000;
    for (let s = 0; s < runs; s++) {
      for (const i of trainValidationSplit(data, 0.2, new Random(s), { stratify: false }).validationIndices) hits[i]++;
    }
    // Binomial(2000, 0.2): sd ≈ 17.9; allow 4.5 sd for the most extreme of 100 examples.
    for (const h of hits) expect(Math.abs(h - 400)).toBeLessThan(81);
  });
});

describe('stratifiedSample', () => {
  it('takes the same number from every class, or a total in proportion to class sizes', () => {
    const data = classified();
    const per = stratifiedSample(data, { perClass: 5 }, new Random(3));
    expect(counts(per.y, 3)).toEqual([5, 5, 5]);
    const tot = stratifiedSample(data, { total: 7 }, new Random(3));
    expect(counts(tot.y, 3)).toEqual([4, 2, 1]);
    const idx = stratifiedSampleIndices(data, { total: 30 }, new Random(3));
    expect(Array.from(idx)).toEqual([...idx].sort((a, b) => a - b));
    expect(new Set(idx).size).toBe(30);
    expect(() => stratifiedSample(data, { perClass: 21 }, new Random(3))).toThrow(
      'class 2 has 20 examples, fewer than the 21 per class requested',
    );
  });

  it('draws every member of a class with equal probability', () => {
    const data = classified();
    const hits = new Array<number>(100).fill(0);
    const runs = 2000;
    for (let s = 0; s < runs; s++) for (const i of stratifiedSampleIndices(data, { perClass: 4 }, new Random(s))) hits[i]++;
    // Inclusion probability 4 / class size: 0.08, 0.133, 0.2; 4.5 binomial sds.
    hits.forEach((h, i) => {
      const p = 4 / [50, 30, 20][data.y[i]];
      expect(Math.abs(h - runs * p)).toBeLessThan(4.5 * Math.sqrt(runs * p * (1 - p)));
    });
  });
});

describe('feature standardisation', () => {
  it('gives zero mean and unit population variance on the data it was fitted to', () => {
    const data = classified();
    const stats = fitFeatureStandardization(data);
    // Column 0 holds 0, 10, ..., 990: mean 495, population variance 100 (100² − 1) / 12.
    expect(stats.mean[0]).toBeCloseTo(495, 3);
    expect(stats.std[0]).toBeCloseTo(Math.sqrt((100 * (100 * 100 - 1)) / 12), 2);
    const z = standardizeFeatures(data, stats).x;
    let sum = 0;
    let sq = 0;
    for (let i = 0; i < 100; i++) {
      sum += z[2 * i];
      sq += z[2 * i] ** 2;
    }
    expect(sum / 100).toBeCloseTo(0, 5);
    expect(sq / 100).toBeCloseTo(1, 5);
  });
});
