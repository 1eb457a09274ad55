import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../runtime/backend.js';
import { Random } from '../runtime/random.js';
import { logUniformKl, logUniformKlScalar, sparseLogAlpha } from './logUniformKl.js';
import { sparseVdKl, sparseVdKlByKernels } from './sparseVdKl.js';

beforeAll(async () => {
  await initBackend();
});

/**
 * θ and log σ² spread so that log α covers both clipping ends and the range between: |θ| from 1e-6 to ~3 and
 * log σ² from −14 to 2.
 */
function parameters(rows: number, cols: number, seed: number): { theta: tf.Tensor; logSigma2: tf.Tensor } {
  const rng = new Random(seed);
  const size = rows * cols;
  const theta = Float32Array.from(
    { length: size },
    () => (rng.uniform() < 0.5 ? -1 : 1) * Math.exp(-14 + 15 * rng.uniform()),
  );
  const logSigma2 = Float32Array.from({ length: size }, () => -14 + 16 * rng.uniform());
  return { theta: tf.tensor2d(theta, [rows, cols]), logSigma2: tf.tensor2d(logSigma2, [rows, cols]) };
}

function relativeError(got: tf.Tensor, want: tf.Tensor): number {
  return tf.tidy(() => tf.max(tf.abs(tf.sub(got, want))).dataSync()[0] / tf.max(tf.abs(want)).dataSync()[0]);
}

const straightforward = (clip: number) => (theta: tf.Tensor, logSigma2: tf.Tensor) =>
  logUniformKl(sparseLogAlpha(theta, logSigma2, clip));

describe('sparseVdKl (fused Sparse VD KL with closed-form gradient)', () => {
  for (const clip of [10, 8]) {
    it(`value and gradients equal tf.grads of logUniformKl(sparseLogAlpha(·)) within 1e-5 (clip ${clip})`, () => {
      const { theta, logSigma2 } = parameters(50, 100, clip);
      const logAlpha = sparseLogAlpha(theta, logSigma2, clip).dataSync();
      // The sample must exercise both clipping ends and the unclipped range.
      expect(logAlpha.filter((v) => v === clip).length).toBeGreaterThan(100);
      expect(logAlpha.filter((v) => v === -clip).length).toBeGreaterThan(100);
      expect(logAlpha.filter((v) => Math.abs(v) < clip).length).toBeGreaterThan(1000);
      const fused = tf.valueAndGrads((a: tf.Tensor, b: tf.Tensor) => sparseVdKl(a, b, clip))([
        theta,
        logSigma2,
      ]);
      const plain = tf.valueAndGrads(straightforward(clip))([theta, logSigma2]);
      expect(relativeError(fused.value, plain.value)).toBeLessThan(1e-5);
      // Against the float64 sum of the scalar formula the fused value is the more accurate of the two (its sum adds
      // non-negative terms row by row; the composition's float32 sum is off by ~3e-6 here).
      const th = theta.dataSync();
      const ls = logSigma2.dataSync();
      let exact = 0;
      for (let i = 0; i < th.length; i++) {
        exact += logUniformKlScalar(Math.min(clip, Math.max(-clip, ls[i] - Math.log(th[i] * th[i] + 1e-8))));
      }
      expect(Math.abs(fused.value.dataSync()[0] / exact - 1)).toBeLessThan(1e-6);
      expect(relativeError(fused.grads[0], plain.grads[0]), 'θ gradient').toBeLessThan(1e-5);
      expect(relativeError(fused.grads[1], plain.grads[1]), 'log σ² gradient').toBeLessThan(1e-5);
      // Elementwise too (the gradient varies over orders of magnitude across weights).
      const a = fused.grads[1].dataSync();
      const b = plain.grads[1].dataSync();
      for (let i = 0; i < a.length; i++)
        expect(Math.abs(a[i] - b[i])).toBeLessThan(1e-6 + 1e-5 * Math.abs(b[i]));
      tf.dispose([theta, logSigma2, fused.value, plain.value, ...fused.grads, ...plain.grads]);
    });
  }

  it('sums the log terms in products of up to 8 neighbours without underflow, for any shape (1e-6 of float64)', () => {
    for (const [shape, clip] of [
      [[64, 8], 10],
      [[7, 5], 10],
      [[30], 10],
      [[5, 5, 1, 20], 10],
      [[16, 8], 20],
    ] as Array<[number[], number]>) {
      const size = shape.reduce((a, b) => a * b, 1);
      // Every log α at the lower clip: the products of s₂ = sigmoid(−clip) are as small as they get.
      const theta = tf.fill(shape, 1);
      const logSigma2 = tf.fill(shape, -clip - 5);
      const exact = size * logUniformKlScalar(-clip);
      const fused = sparseVdKl(theta, logSigma2, clip).dataSync()[0];
      expect(Math.abs(fused / exact - 1), `shape [${shape}], clip ${clip}`).toBeLessThan(1e-6);
      tf.dispose([theta, logSigma2]);
    }
  });

  it('the log σ² gradient matches central finite differences of the value (float64 reference)', () => {
    const { k1, k2, k3 } = { k1: 0.63576, k2: 1.8732, k3: 1.48695 };
    const sigmoid = (z: number) => 1 / (1 + Math.exp(-z));
    const klOf = (theta: number, ls: number) => {
      const la = Math.min(10, Math.max(-10, ls - Math.log(theta * theta + 1e-8)));
      return k1 - k1 * sigmoid(k2 + k3 * la) - 0.5 * Math.log(sigmoid(la));
    };
    const thetas = [0.3, -0.02, 1.5, 1e-3];
    const logSigma2s = [-4, -9, 0.5, -10];
    const [gTheta, gLs] = tf.grads((a: tf.Tensor, b: tf.Tensor) => sparseVdKl(a, b))([
      tf.tensor1d(thetas),
      tf.tensor1d(logSigma2s),
    ]);
    const h = 1e-5;
    thetas.forEach((t, i) => {
      const ls = logSigma2s[i];
      const numericLs = (klOf(t, ls + h) - klOf(t, ls - h)) / (2 * h);
      const numericTheta =
        (klOf(t + h * Math.abs(t), ls) - klOf(t - h * Math.abs(t), ls)) / (2 * h * Math.abs(t));
      expect(gLs.dataSync()[i]).toBeCloseTo(numericLs, 4);
      expect(gTheta.dataSync()[i] / numericTheta).toBeCloseTo(1, 3);
    });
    tf.dispose([gTheta, gLs]);
  });

  it('runs as one pass on the wasm heap for large tensors, agreeing with the kernel chain; NaN goes to the chain', async () => {
    const { theta, logSigma2 } = parameters(200, 300, 5);
    // (tf.profile reuses its result object: read each before the next.)
    const onePass = await tf.profile(() => sparseVdKl(theta, logSigma2));
    // The pass itself is no kernel; only the two-stage sum of its per-weight terms is.
    expect(onePass.kernels.map((k) => k.name).filter((name) => name !== '')).toEqual([
      'Reshape',
      'Sum',
      'Sum',
    ]);
    tf.dispose(onePass.result as tf.Tensor);
    const chain = await tf.profile(() => sparseVdKlByKernels(theta, logSigma2));
    expect(chain.kernels.length).toBeGreaterThan(10);
    tf.dispose(chain.result as tf.Tensor);
    const a = tf.valueAndGrads((x: tf.Tensor, y: tf.Tensor) => sparseVdKl(x, y))([theta, logSigma2]);
    const b = tf.valueAndGrads((x: tf.Tensor, y: tf.Tensor) => sparseVdKlByKernels(x, y))([theta, logSigma2]);
    // Values against the float64 sum of the scalar formula (the two float32 sums differ by ~1e-6 between themselves).
    const th = theta.dataSync();
    const ls = logSigma2.dataSync();
    let exact = 0;
    for (let i = 0; i < th.length; i++)
      exact += logUniformKlScalar(Math.min(10, Math.max(-10, ls[i] - Math.log(th[i] * th[i] + 1e-8))));
    expect(Math.abs(a.value.dataSync()[0] / exact - 1)).toBeLessThan(2e-6);
    expect(Math.abs(b.value.dataSync()[0] / exact - 1)).toBeLessThan(3e-6);
    for (const k of [0, 1]) expect(relativeError(a.grads[k], b.grads[k])).toBeLessThan(1e-5);
    const withNaN = tf.tidy(() => tf.concat([tf.fill([1, 300], NaN), tf.slice(theta, [1, 0], [199, 300])]));
    // Out of the pass's range: the chain's value, whatever it makes of NaN.
    expect(sparseVdKl(withNaN, logSigma2).dataSync()[0]).toBe(
      sparseVdKlByKernels(withNaN, logSigma2).dataSync()[0],
    );
    tf.dispose([theta, logSigma2, withNaN, a.value, b.value, ...a.grads, ...b.grads]);
  });

  it('leaks no tensors over repeated gradient steps', () => {
    // 80 × 100: the one-pass form on wasm.
    const { theta, logSigma2 } = parameters(80, 100, 3);
    const a = tf.variable(theta);
    const b = tf.variable(logSigma2);
    const step = () => {
      const { value, grads } = tf.variableGrads(() => sparseVdKl(a, b), [a, b]);
      tf.dispose([value, ...Object.values(grads)]);
    };
    step();
    const before = tf.memory().numTensors;
    for (let i = 0; i < 5; i++) step();
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose([a, b, theta, logSigma2]);
  });
});
