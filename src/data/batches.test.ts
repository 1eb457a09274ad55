import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../runtime/backend.js';
import { Random } from '../runtime/random.js';
import { batchCount, batches } from './batches.js';
import type { Dataset } from './dataset.js';

const data: Dataset = {
  x: Float32Array.from({ length: 10 * 2 }, (_, i) => i),
  y: Int32Array.from({ length: 10 }, (_, i) => i),
  n: 10,
  featureShape: [2],
  numClasses: 10,
};

describe('batches', () => {
  beforeAll(async () => {
    await initBackend();
  });

  it('covers every example once, in order when not shuffled', () => {
    const seen: number[] = [];
    for (const b of batches(data, 4)) {
      expect(b.x.shape).toEqual([b.size, 2]);
      const y = Array.from(b.y.dataSync());
      const x = Array.from(b.x.dataSync());
      y.forEach((label, i) => expect(x.slice(2 * i, 2 * i + 2)).toEqual([2 * label, 2 * label + 1]));
      seen.push(...y);
      tf.dispose([b.x, b.y]);
    }
    expect(seen).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(batchCount(10, 4)).toBe(3);
    expect(batchCount(10, 4, true)).toBe(2);
  });

  it('shuffles reproducibly from the seed, keeping features and labels together', () => {
    const run = (seed: number) => {
      const out: number[] = [];
      for (const b of batches(data, 3, { shuffle: true, random: new Random(seed), dropLast: true })) {
        const y = Array.from(b.y.dataSync());
        const x = b.x.dataSync();
        y.forEach((label, i) => expect(x[2 * i]).toBe(2 * label));
        out.push(...y);
        tf.dispose([b.x, b.y]);
      }
      return out;
    };
    expect(run(5)).toEqual(run(5));
    expect(run(5)).not.toEqual(run(6));
    expect(run(5)).toHaveLength(9);
  });
});
