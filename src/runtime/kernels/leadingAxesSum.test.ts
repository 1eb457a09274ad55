import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../backend.js';
import { Random } from '../random.js';
import { maxRelativeError } from './test-utils.js';

/** Float64 sum over the given axes, straight from the definition (row-major index arithmetic). */
function referenceSum(values: Float32Array, shape: number[], axes: number[]): Float64Array {
  const keptShape = shape.filter((_, i) => !axes.includes(i));
  const out = new Float64Array(keptShape.reduce((a, b) => a * b, 1));
  const index = new Array<number>(shape.length).fill(0);
  for (let flat = 0; flat < values.length; flat++) {
    let rest = flat;
    for (let d = shape.length - 1; d >= 0; d--) {
      index[d] = rest % shape[d];
      rest = Math.floor(rest / shape[d]);
    }
    let at = 0;
    shape.forEach((size, d) => {
      if (!axes.includes(d)) at = at * size + index[d];
    });
    out[at] += values[flat];
  }
  return out;
}

describe('Sum over leading axes (wasm)', () => {
  beforeAll(async () => {
    await initBackend({ backend: 'wasm' });
  });

  it('matches float64 sums for bias-gradient shapes, several blocks, keepDims, negative and non-leading axes', () => {
    const random = new Random(31);
    const cases: Array<{ shape: number[]; axis: number | number[]; keepDims?: boolean }> = [
      { shape: [100, 24, 24, 20], axis: [0, 1, 2] },
      { shape: [100, 8, 8, 50], axis: [2, 0, 1] },
      { shape: [700, 3], axis: 0 },
      { shape: [513, 2, 5], axis: [0], keepDims: true },
      { shape: [30, 7, 6], axis: [-3, -2] },
      { shape: [4, 6, 5], axis: [1] }, // not leading: the backend's own kernel
      { shape: [6, 5], axis: [0, 1] }, // everything: the backend's own kernel
    ];
    for (const c of cases) {
      const values = random.fillNormal(new Float32Array(c.shape.reduce((a, b) => a * b, 1)));
      const got = tf.tidy(() => {
        const s = tf.sum(tf.tensor(values, c.shape), c.axis, c.keepDims);
        return { shape: s.shape, values: s.dataSync() as Float32Array };
      });
      const axes = tf.util.parseAxisParam(c.axis, c.shape);
      const keptShape = c.shape
        .map((d, i) => (axes.includes(i) ? 1 : d))
        .filter((_, i) => c.keepDims || !axes.includes(i));
      expect(got.shape, JSON.stringify(c)).toEqual(keptShape);
      expect(
        maxRelativeError(got.values, referenceSum(values, c.shape, axes)),
        JSON.stringify(c),
      ).toBeLessThan(1e-5);
    }
  });

  it('leaves integer sums and tensor counts alone', () => {
    const before = tf.engine().backend.numDataIds();
    const x = tf.tensor2d([1, 2, 3, 4, 5, 6], [3, 2], 'int32');
    const s = tf.sum(x, 0);
    expect(s.dtype).toBe('int32');
    expect(Array.from(s.dataSync())).toEqual([9, 12]);
    tf.dispose([x, s]);
    const y = tf.randomNormal([300, 7]);
    const buffers = tf.engine().backend.numDataIds();
    tf.sum(y, 0).dispose();
    expect(tf.engine().backend.numDataIds()).toBe(buffers);
    y.dispose();
    expect(tf.engine().backend.numDataIds()).toBe(before);
  });
});
