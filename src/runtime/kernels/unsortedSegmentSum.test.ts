import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../backend.js';
import { Random } from '../random.js';

describe('UnsortedSegmentSum on wasm', () => {
  beforeAll(async () => {
    await initBackend({ backend: 'wasm' });
  });

  it('sums rows into their segments, skipping ids out of range, for float32 and int32', () => {
    const random = new Random(41);
    const rows = 9;
    const inner = [2, 3];
    const values = random.fillNormal(new Float32Array(rows * 6));
    const ids = [3, 0, 3, -1, 1, 7, 0, 3, 2];
    const got = tf.tidy(() =>
      tf.unsortedSegmentSum(tf.tensor(values, [rows, ...inner]), tf.tensor1d(ids, 'int32'), 5).arraySync(),
    ) as number[][][];
    for (let k = 0; k < 5; k++) {
      for (let j = 0; j < 6; j++) {
        let want = 0;
        ids.forEach((id, i) => (want += id === k ? values[i * 6 + j] : 0));
        expect(got[k][Math.floor(j / 3)][j % 3]).toBeCloseTo(want, 5);
      }
    }
    const ints = tf.tidy(() =>
      tf.unsortedSegmentSum(
        tf.tensor2d([1, 2, 3, 4, 5, 6], [3, 2], 'int32'),
        tf.tensor1d([1, 1, 0], 'int32'),
        2,
      ),
    );
    expect(ints.dtype).toBe('int32');
    expect(Array.from(ints.dataSync())).toEqual([5, 6, 4, 6]);
    ints.dispose();
  });

  it('makes the gradient of tf.gather (an embedding lookup) work: repeated indices accumulate', () => {
    const table = tf.tensor2d([1, 2, 3, 4, 5, 6, 7, 8], [4, 2]);
    const weights = tf.tensor2d([1, 10, 100, 1000, 0.5, 0.25], [3, 2]);
    const grad = tf.grad((t: tf.Tensor) =>
      tf.sum(tf.mul(tf.gather(t, tf.tensor1d([2, 0, 2], 'int32')), weights)),
    )(table);
    expect(Array.from(grad.dataSync())).toEqual([100, 1000, 0, 0, 1.5, 10.25, 0, 0]);
    tf.dispose([table, weights, grad]);
  });
});
