import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../backend.js';

describe('sharing Identity (wasm)', () => {
  beforeAll(async () => {
    await initBackend({ backend: 'wasm' });
  });

  it('clones without copying, and a clone outlives its source', () => {
    const x = tf.tensor([1, 2, 3, 4], [2, 2]);
    const buffers = tf.engine().backend.numDataIds();
    const y = tf.clone(x);
    expect(tf.engine().backend.numDataIds()).toBe(buffers);
    x.dispose();
    expect(Array.from(y.dataSync())).toEqual([1, 2, 3, 4]);
    const z = tf.add(y, 1);
    y.dispose();
    expect(Array.from(z.dataSync())).toEqual([2, 3, 4, 5]);
    z.dispose();
    expect(tf.engine().backend.numDataIds()).toBe(buffers - 1);
  });

  it('keeps gradients and variables right when saved tensors share buffers', () => {
    const v = tf.variable(tf.tensor([0.5, -1, 2]));
    const { value, grads } = tf.variableGrads(() => tf.sum(tf.mul(tf.square(v), tf.exp(v))) as tf.Scalar);
    // d/dv v²eᵛ = (2v + v²)eᵛ
    const want = [0.5, -1, 2].map((a) => (2 * a + a * a) * Math.exp(a));
    const got = grads[v.name].dataSync();
    want.forEach((w, i) => expect(got[i]).toBeCloseTo(w, 4));
    v.assign(tf.tensor([1, 1, 1]));
    expect(Array.from(v.dataSync())).toEqual([1, 1, 1]);
    tf.dispose([value, grads[v.name], v]);
  });

  it('copies strings through the backend’s own kernel', () => {
    const s = tf.tensor(['a', 'bc']);
    const t = tf.clone(s);
    s.dispose();
    expect(t.dataSync()).toEqual(['a', 'bc']);
    t.dispose();
  });
});
