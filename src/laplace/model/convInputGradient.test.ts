import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../../runtime/backend.js';
import { maxRelativeError, randomInputs } from '../test-utils.js';
import { conv2dInputDifferentiable, type ConvGeometry } from './convInputGradient.js';

beforeAll(async () => {
  await initBackend();
});

describe('convolution input gradient as a forward convolution', () => {
  const cases: [string, number[], number[], ConvGeometry][] = [
    ['valid, stride 1', [2, 7, 6, 3], [3, 2, 3, 4], { strides: [1, 1], dilations: [1, 1], padding: 'valid' }],
    [
      'same, stride 1, even kernel',
      [2, 6, 6, 2],
      [4, 2, 2, 3],
      { strides: [1, 1], dilations: [1, 1], padding: 'same' },
    ],
    [
      'same, stride 2, odd size',
      [1, 7, 9, 2],
      [3, 3, 2, 2],
      { strides: [2, 2], dilations: [1, 1], padding: 'same' },
    ],
    [
      'valid, stride (2, 3), ragged edge',
      [2, 8, 10, 2],
      [3, 2, 2, 3],
      { strides: [2, 3], dilations: [1, 1], padding: 'valid' },
    ],
    [
      'valid, dilation 2',
      [1, 9, 8, 2],
      [2, 3, 2, 2],
      { strides: [1, 1], dilations: [2, 2], padding: 'valid' },
    ],
    ['same, dilation 2', [1, 6, 7, 1], [3, 3, 1, 2], { strides: [1, 1], dilations: [2, 2], padding: 'same' }],
  ];
  for (const [name, xs, ks, g] of cases) {
    it(`satisfies the adjoint identity and equals TF.js's own gradient (${name})`, () => {
      const x = randomInputs(xs[0], xs.slice(1), 1) as tf.Tensor4D;
      const k = randomInputs(ks[0], ks.slice(1), 2) as tf.Tensor4D;
      const ref = tf.conv2d(x, k, g.strides, g.padding, 'NHWC', g.dilations);
      const weights = randomInputs(ref.shape[0], ref.shape.slice(1), 3);
      const own = tf.grad((input: tf.Tensor) =>
        tf.sum(tf.mul(conv2dInputDifferentiable(input as tf.Tensor4D, k, g), weights)),
      )(x);
      expect(own.shape).toEqual(x.shape);
      // Adjoint identity: the convolution is linear in x, so ⟨conv(u), w⟩ = ⟨u, ∇⟩ for every u.
      for (const seed of [4, 5, 6]) {
        const u = randomInputs(xs[0], xs.slice(1), seed) as tf.Tensor4D;
        const lhs = tf
          .sum(tf.mul(tf.conv2d(u, k, g.strides, g.padding, 'NHWC', g.dilations), weights))
          .dataSync()[0];
        const rhs = tf.sum(tf.mul(u, own)).dataSync()[0];
        expect(Math.abs(lhs - rhs)).toBeLessThan(1e-4 * (1 + Math.abs(lhs)));
      }
      expect(maxRelativeError(conv2dInputDifferentiable(x, k, g).dataSync(), ref.dataSync())).toBe(0);
      if (g.dilations[0] > 1) return; // TF.js has no conv gradient with dilation
      const builtin = tf.grad((input: tf.Tensor) =>
        tf.sum(
          tf.mul(tf.conv2d(input as tf.Tensor4D, k, g.strides, g.padding, 'NHWC', g.dilations), weights),
        ),
      )(x);
      expect(maxRelativeError(own.dataSync(), builtin.dataSync())).toBeLessThan(1e-5);
    });
  }
});
