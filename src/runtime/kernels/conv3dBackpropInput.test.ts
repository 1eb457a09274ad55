import * as tf from '@tensorflow/tfjs';
import { afterAll, describe, expect, it } from 'vitest';
import { initBackend } from '../backend.js';
import { Random } from '../random.js';
import { maxRelativeError } from './test-utils.js';

type Shape5 = [number, number, number, number, number];
const cases: Array<{ x: Shape5; filter: Shape5; strides: number; pad: 'same' | 'valid' }> = [
  { x: [2, 4, 4, 4, 3], filter: [2, 2, 2, 3, 2], strides: 1, pad: 'valid' },
  { x: [2, 4, 5, 4, 3], filter: [2, 2, 2, 3, 2], strides: 1, pad: 'same' },
  { x: [1, 5, 5, 5, 2], filter: [3, 3, 3, 2, 4], strides: 1, pad: 'same' },
  { x: [1, 7, 7, 6, 3], filter: [3, 3, 3, 3, 2], strides: 2, pad: 'valid' },
  { x: [1, 6, 6, 6, 3], filter: [3, 2, 3, 3, 2], strides: 2, pad: 'same' },
];

/** x ↦ Σ r ⊙ conv3d(x, W) is linear, so ⟨∇L, v⟩ must equal L(v) — checked against the forward Conv3D kernel. */
function inputGradient(
  c: (typeof cases)[number],
  random: Random,
): { got: Float32Array; lhs: number; rhs: number } {
  const size = (s: number[]) => s.reduce((a, b) => a * b, 1);
  const w = tf.tensor(random.fillNormal(new Float32Array(size(c.filter))), c.filter) as tf.Tensor5D;
  const v = tf.tensor(random.fillNormal(new Float32Array(size(c.x))), c.x) as tf.Tensor5D;
  const out = tf.tidy(() => {
    const outShape = tf.conv3d(tf.zeros(c.x) as tf.Tensor5D, w, c.strides, c.pad).shape;
    const r = tf.tensor(random.fillNormal(new Float32Array(size(outShape))), outShape);
    const loss = (a: tf.Tensor) => tf.sum(tf.mul(tf.conv3d(a as tf.Tensor5D, w, c.strides, c.pad), r));
    const grad = tf.grad(loss)(tf.zeros(c.x));
    return {
      got: grad.dataSync() as Float32Array,
      lhs: loss(v).dataSync()[0],
      rhs: tf.sum(tf.mul(grad, v)).dataSync()[0],
    };
  });
  tf.dispose([w, v]);
  return out;
}

describe('Conv3DBackpropInputV2 composed from Conv3D (wasm)', () => {
  afterAll(async () => {
    await initBackend({ backend: 'wasm' });
  });

  it('is the adjoint of the forward convolution and agrees with the cpu backend', async () => {
    const wasm: Float32Array[] = [];
    await initBackend({ backend: 'wasm' });
    let random = new Random(71);
    for (const c of cases) {
      const { got, lhs, rhs } = inputGradient(c, random);
      expect(Math.abs(lhs - rhs), JSON.stringify(c)).toBeLessThan(1e-4 * (1 + Math.abs(lhs)));
      wasm.push(got);
    }
    await initBackend({ backend: 'cpu' });
    random = new Random(71);
    cases.forEach((c, i) => {
      const { got } = inputGradient(c, random);
      expect(maxRelativeError(wasm[i], got), JSON.stringify(c)).toBeLessThan(1e-5);
    });
  });
});
