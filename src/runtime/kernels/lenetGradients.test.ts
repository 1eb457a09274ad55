import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../backend.js';
import { assertFlatTensorCount } from '../memory.js';
import { Random } from '../random.js';
import { maxRelativeError } from './test-utils.js';

/** LeNet-5-Caffe: conv 20@5×5 → maxpool 2 → conv 50@5×5 → maxpool 2 → flatten → dense 500 (ReLU) → dense 10. */
const shapes: Record<string, number[]> = {
  w1: [5, 5, 1, 20],
  b1: [20],
  w2: [5, 5, 20, 50],
  b2: [50],
  w3: [800, 500],
  b3: [500],
  w4: [500, 10],
  b4: [10],
};
const batch = 100;
/**
 * Examples in the cross-backend comparison. The cpu backend's convolutions are scalar loops: at 100 this file takes
 * ~10 s on 2 idle cores (~50 s when the machine is saturated); lower it if the suite's time budget gets tight.
 */
const compareBatch = batch;

function initialValues(random: Random): Record<string, Float32Array> {
  const out: Record<string, Float32Array> = {};
  for (const [name, shape] of Object.entries(shapes)) {
    const n = shape.reduce((a, b) => a * b, 1);
    const fanIn = shape.length === 1 ? 1 : shape.slice(0, -1).reduce((a, b) => a * b, 1);
    const scale = name.startsWith('b') ? 0.1 : Math.sqrt(2 / fanIn);
    out[name] = random.fillNormal(new Float32Array(n)).map((v) => v * scale);
  }
  return out;
}

function logits(p: Record<string, tf.Tensor>, x: tf.Tensor4D): tf.Tensor2D {
  let h = tf.add(tf.conv2d(x, p.w1 as tf.Tensor4D, 1, 'valid'), p.b1) as tf.Tensor4D;
  h = tf.maxPool(h, 2, 2, 'valid');
  h = tf.add(tf.conv2d(h, p.w2 as tf.Tensor4D, 1, 'valid'), p.b2) as tf.Tensor4D;
  h = tf.maxPool(h, 2, 2, 'valid');
  const flat = tf.reshape(h, [x.shape[0], 800]);
  const hidden = tf.relu(tf.add(tf.matMul(flat, p.w3 as tf.Tensor2D), p.b3));
  return tf.add(tf.matMul(hidden, p.w4 as tf.Tensor2D), p.b4) as tf.Tensor2D;
}

/** One `tf.variableGrads` step on the active backend; returns the loss and the gradients as arrays. */
function gradientStep(
  values: Record<string, Float32Array>,
  xv: Float32Array,
  labels: Int32Array,
): { loss: number; grads: Record<string, Float32Array> } {
  const n = labels.length;
  const vars: Record<string, tf.Variable> = {};
  for (const [name, v] of Object.entries(values)) vars[name] = tf.variable(tf.tensor(v, shapes[name]));
  const out = tf.tidy(() => {
    const x = tf.tensor4d(xv.subarray(0, n * 784), [n, 28, 28, 1]);
    const y = tf.oneHot(tf.tensor1d(labels, 'int32'), 10);
    const { value, grads } = tf.variableGrads(
      () => tf.losses.softmaxCrossEntropy(y, logits(vars, x)) as tf.Scalar,
    );
    const arrays: Record<string, Float32Array> = {};
    for (const [name, v] of Object.entries(vars)) arrays[name] = grads[v.name].dataSync() as Float32Array;
    return { loss: value.dataSync()[0], grads: arrays };
  });
  tf.dispose(Object.values(vars));
  return out;
}

describe('LeNet-5-Caffe trains on the wasm backend', () => {
  const random = new Random(51);
  const values = initialValues(random);
  const xv = random.fillNormal(new Float32Array(batch * 28 * 28));
  const labels = Int32Array.from({ length: batch }, () => random.int(10));

  beforeAll(async () => {
    await initBackend({ backend: 'wasm' });
  });
  afterAll(async () => {
    await initBackend({ backend: 'wasm' });
  });

  it('gives the same gradients as the cpu backend (1e-4 relative per weight tensor)', async () => {
    const subset = labels.subarray(0, compareBatch);
    await initBackend({ backend: 'wasm' });
    const wasm = gradientStep(values, xv, subset);
    await initBackend({ backend: 'cpu' });
    const cpu = gradientStep(values, xv, subset);
    expect(Math.abs(wasm.loss - cpu.loss) / cpu.loss).toBeLessThan(1e-5);
    for (const name of Object.keys(shapes)) {
      expect(maxRelativeError(wasm.grads[name], cpu.grads[name]), name).toBeLessThan(1e-4);
      expect(
        cpu.grads[name].some((g) => g !== 0),
        name,
      ).toBe(true);
    }
  });

  it('lowers the loss with SGD without leaking tensors', async () => {
    await initBackend({ backend: 'wasm' });
    const vars = Object.entries(values).map(
      ([name, v]) => [name, tf.variable(tf.tensor(v, shapes[name]))] as const,
    );
    const p = Object.fromEntries(vars);
    const x = tf.tensor4d(xv, [batch, 28, 28, 1]);
    const y = tf.oneHot(tf.tensor1d(labels, 'int32'), 10);
    // Caffe's LeNet has no nonlinearity between its convolutions; on unit-variance inputs lr 0.01 already diverges.
    const optimizer = tf.train.sgd(0.002);
    const losses: number[] = [];
    await assertFlatTensorCount(
      () => {
        const loss = optimizer.minimize(
          () => tf.losses.softmaxCrossEntropy(y, logits(p, x)) as tf.Scalar,
          true,
        );
        losses.push(loss!.dataSync()[0]);
        loss!.dispose();
      },
      { iterations: 4, label: 'LeNet SGD step' },
    );
    expect(losses[losses.length - 1]).toBeLessThan(losses[0] * 0.9);
    tf.dispose([x, y, ...vars.map(([, v]) => v)]);
    optimizer.dispose();
  });
});
