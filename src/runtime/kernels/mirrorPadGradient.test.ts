import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../backend.js';
import { Random } from '../random.js';

describe('gradient of tf.mirrorPad', () => {
  beforeAll(async () => {
    await initBackend();
  });

  it('sends the gradient of every mirrored copy back to its source element', () => {
    const x = tf.tensor1d([1, 2, 3, 4]);
    const w = tf.tensor1d([1, 10, 100, 1000, 10000, 100000, 1000000]);
    const grad = (mode: 'reflect' | 'symmetric') =>
      Array.from(
        tf
          .grad((a: tf.Tensor) => tf.sum(tf.mul(tf.mirrorPad(a as tf.Tensor1D, [[2, 1]], mode), w)))(x)
          .dataSync(),
      );
    // reflect: [x2 x1 | x0 x1 x2 x3 | x2]; symmetric: [x1 x0 | x0 x1 x2 x3 | x3].
    expect(grad('reflect')).toEqual([100, 1010, 1010001, 100000]);
    expect(grad('symmetric')).toEqual([110, 1001, 10000, 1100000]);
    tf.dispose([x, w]);
  });

  it('is the adjoint of mirror padding in 4-D (⟨∇L, v⟩ = L(v) for the linear L)', () => {
    const random = new Random(81);
    for (const mode of ['reflect', 'symmetric'] as const) {
      const paddings: Array<[number, number]> = [
        [0, 0],
        [2, 1],
        [1, 2],
        [0, 1],
      ];
      const [lhs, rhs] = tf.tidy(() => {
        const shape = [2, 5, 4, 3];
        const v = tf.tensor(random.fillNormal(new Float32Array(120)), shape);
        const r = tf.tensor(random.fillNormal(new Float32Array(2 * 8 * 7 * 4)), [2, 8, 7, 4]);
        const loss = (a: tf.Tensor) => tf.sum(tf.mul(tf.mirrorPad(a, paddings, mode), r));
        const g = tf.grad(loss)(tf.zeros(shape));
        return [loss(v).dataSync()[0], tf.sum(tf.mul(g, v)).dataSync()[0]];
      });
      expect(Math.abs(lhs - rhs), mode).toBeLessThan(1e-4 * (1 + Math.abs(lhs)));
    }
  });
});
