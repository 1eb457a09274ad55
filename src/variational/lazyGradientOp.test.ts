import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../runtime/backend.js';
import { eagerGradientOp, lazyGradientOp } from './lazyGradientOp.js';

beforeAll(async () => {
  await initBackend();
});

/** f(a, b) = Σ a²·b with hand-written gradients 2ab and a², counting which gradient functions run. */
function squaredProduct(a: tf.Tensor, b: tf.Tensor, calls: string[]): tf.Tensor {
  return lazyGradientOp({
    inputs: { a, b },
    forward(save) {
      save([a, b]);
      return tf.sum(tf.mul(tf.square(a), b));
    },
    backward(dy, [sa, sb]) {
      return {
        a: () => {
          calls.push('a');
          return tf.mul(tf.mul(tf.mul(sa, sb), 2), dy);
        },
        b: () => {
          calls.push('b');
          return tf.mul(tf.square(sa), dy);
        },
      };
    },
  });
}

describe('lazyGradientOp', () => {
  it('computes only the gradients the tape needs, with the right values', () => {
    const a = tf.tensor1d([1, -2, 3]);
    const b = tf.variable(tf.tensor1d([0.5, 1, -1]));
    const calls: string[] = [];
    const { value, grads } = tf.variableGrads(() => squaredProduct(a, b, calls) as tf.Scalar, [b]);
    expect(value.dataSync()[0]).toBeCloseTo(0.5 + 4 - 9, 6);
    expect(Array.from(grads[b.name].dataSync())).toEqual([1, 4, 9]);
    expect(calls).toEqual(['b']);
    const both: string[] = [];
    const [ga] = tf.grads((x: tf.Tensor, y: tf.Tensor) => squaredProduct(x, y, both))([a, b]);
    expect(Array.from(ga.dataSync())).toEqual([1, -4, -6]);
    expect(both.sort()).toEqual(['a', 'b']);
    tf.dispose([a, b, value, ga, ...Object.values(grads)]);
  });

  it('the tf.customGrad fallback gives the same values, evaluating every gradient', () => {
    const a = tf.tensor1d([1, -2, 3]);
    const b = tf.variable(tf.tensor1d([0.5, 1, -1]));
    const calls: string[] = [];
    const { value, grads } = tf.variableGrads(
      () =>
        eagerGradientOp({
          inputs: { a, b },
          forward(save) {
            save([a, b]);
            return tf.sum(tf.mul(tf.square(a), b));
          },
          backward(dy, [sa, sb]) {
            return {
              a: () => (calls.push('a'), tf.mul(tf.mul(tf.mul(sa, sb), 2), dy)),
              b: () => (calls.push('b'), tf.mul(tf.square(sa), dy)),
            };
          },
        }) as tf.Scalar,
      [b],
    );
    expect(value.dataSync()[0]).toBeCloseTo(-4.5, 6);
    expect(Array.from(grads[b.name].dataSync())).toEqual([1, 4, 9]);
    expect(calls.sort()).toEqual(['a', 'b']);
    tf.dispose([a, b, value, ...Object.values(grads)]);
  });
});
