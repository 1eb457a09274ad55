import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../backend.js';
import { Random } from '../random.js';
import { replacedKernel } from './register.js';
import { maxRelativeError } from './test-utils.js';

/** Float64 batched product with broadcasting over the batch axis (sizes 1 or B), transposes applied by indexing. */
function referenceMatMul(
  a: Float32Array,
  aShape: number[],
  b: Float32Array,
  bShape: number[],
  transposeA: boolean,
  transposeB: boolean,
): Float64Array {
  const [ba, ra, ca] = aShape.length === 2 ? [1, ...aShape] : aShape;
  const [bb, rb, cb] = bShape.length === 2 ? [1, ...bShape] : bShape;
  const m = transposeA ? ca : ra;
  const k = transposeA ? ra : ca;
  const n = transposeB ? rb : cb;
  const batch = Math.max(ba, bb);
  const out = new Float64Array(batch * m * n);
  for (let t = 0; t < batch; t++) {
    const ao = (ba === 1 ? 0 : t) * ra * ca;
    const bo = (bb === 1 ? 0 : t) * rb * cb;
    for (let i = 0; i < m; i++) {
      for (let j = 0; j < n; j++) {
        let s = 0;
        for (let l = 0; l < k; l++) {
          const av = transposeA ? a[ao + l * ca + i] : a[ao + i * ca + l];
          const bv = transposeB ? b[bo + j * cb + l] : b[bo + l * cb + j];
          s += av * bv;
        }
        out[(t * m + i) * n + j] = s;
      }
    }
  }
  return out;
}

/** Swaps the last two axes. */
function swap(t: tf.Tensor): tf.Tensor {
  const perm = t.shape.map((_, i) => i);
  [perm[t.rank - 2], perm[t.rank - 1]] = [t.rank - 1, t.rank - 2];
  return tf.transpose(t, perm);
}

/** [aShape, bShape] before transposition is applied; shapes are stored as the operands are laid out in memory. */
const shapes: Array<[number[], number[]]> = [
  [
    [7, 5],
    [5, 6],
  ],
  [
    [3, 7, 5],
    [3, 5, 6],
  ],
  [
    [1, 7, 5],
    [4, 5, 6],
  ],
  [
    [4, 7, 5],
    [5, 6],
  ],
  [
    [1, 9],
    [9, 1],
  ],
];

describe('BatchMatMul and _FusedMatMul with explicit transposes (wasm)', () => {
  beforeAll(async () => {
    await initBackend({ backend: 'wasm' });
  });

  it('replaces the wasm kernels, keeping the originals', () => {
    expect(replacedKernel('BatchMatMul', 'wasm')).toBeDefined();
    expect(replacedKernel('_FusedMatMul', 'wasm')).toBeDefined();
  });

  it('equals transpose + plain product bit for bit, and the float64 product, for every transpose combination', () => {
    const random = new Random(31);
    for (const [aLogical, bLogical] of shapes) {
      for (const transposeA of [false, true]) {
        for (const transposeB of [false, true]) {
          const flip = (s: number[], t: boolean) =>
            t ? [...s.slice(0, -2), s[s.length - 1], s[s.length - 2]] : s;
          const aShape = flip(aLogical, transposeA);
          const bShape = flip(bLogical, transposeB);
          const av = random.fillNormal(new Float32Array(aShape.reduce((x, y) => x * y, 1)));
          const bv = random.fillNormal(new Float32Array(bShape.reduce((x, y) => x * y, 1)));
          const [wrapped, explicit] = tf.tidy(() => {
            const a = tf.tensor(av, aShape);
            const b = tf.tensor(bv, bShape);
            const viaKernel = tf.matMul(a, b, transposeA, transposeB);
            const viaOps = tf.matMul(transposeA ? swap(a) : a, transposeB ? swap(b) : b);
            expect(viaKernel.shape).toEqual(viaOps.shape);
            return [viaKernel.dataSync(), viaOps.dataSync()];
          });
          const label = `${aShape}${transposeA ? 'ᵀ' : ''} · ${bShape}${transposeB ? 'ᵀ' : ''}`;
          expect(Array.from(wrapped), label).toEqual(Array.from(explicit));
          const want = referenceMatMul(av, aShape, bv, bShape, transposeA, transposeB);
          expect(maxRelativeError(wrapped, want), label).toBeLessThan(1e-5);
        }
      }
    }
  });

  it('keeps bias and activation of the fused product', () => {
    const random = new Random(32);
    const av = random.fillNormal(new Float32Array(6 * 8));
    const bv = random.fillNormal(new Float32Array(5 * 8));
    const biasv = random.fillNormal(new Float32Array(5));
    for (const activation of ['linear', 'relu', 'elu', 'sigmoid'] as const) {
      const [wrapped, explicit] = tf.tidy(() => {
        const a = tf.tensor2d(av, [6, 8]);
        const b = tf.tensor2d(bv, [5, 8]);
        const bias = tf.tensor1d(biasv);
        const fused = tf.fused.matMul({ a, b, transposeB: true, bias, activation });
        const plain = tf.fused.matMul({ a, b: tf.transpose(b), bias, activation });
        return [fused.dataSync(), plain.dataSync()];
      });
      expect(Array.from(wrapped), activation).toEqual(Array.from(explicit));
      const z = referenceMatMul(av, [6, 8], bv, [5, 8], false, true).map((v, i) => v + biasv[i % 5]);
      const f = { linear: (v: number) => v, relu: (v: number) => Math.max(0, v) };
      if (activation === 'linear' || activation === 'relu') {
        expect(maxRelativeError(wrapped, z.map(f[activation]))).toBeLessThan(1e-5);
      }
    }
  });

  it('gives the dense-layer gradients of tf.grad to float64 accuracy', () => {
    const random = new Random(33);
    const xv = random.fillNormal(new Float32Array(10 * 12));
    const wv = random.fillNormal(new Float32Array(12 * 4));
    const rv = random.fillNormal(new Float32Array(10 * 4));
    const [gx, gw] = tf.tidy(() => {
      const r = tf.tensor2d(rv, [10, 4]);
      const f = (x: tf.Tensor, w: tf.Tensor) =>
        tf.sum(tf.mul(tf.matMul(x as tf.Tensor2D, w as tf.Tensor2D), r));
      return tf
        .grads(f)([tf.tensor2d(xv, [10, 12]), tf.tensor2d(wv, [12, 4])])
        .map((t) => t.dataSync());
    });
    // d/dx Σ r ⊙ (xW) = r Wᵀ, d/dW = xᵀ r.
    expect(maxRelativeError(gx, referenceMatMul(rv, [10, 4], wv, [12, 4], false, true))).toBeLessThan(1e-5);
    expect(maxRelativeError(gw, referenceMatMul(xv, [10, 12], rv, [10, 4], true, false))).toBeLessThan(1e-5);
  });

  it('frees the transposed copies', () => {
    const a = tf.randomNormal([30, 20], 0, 1, 'float32', 1);
    const b = tf.randomNormal([40, 20], 0, 1, 'float32', 2);
    tf.matMul(a, b, false, true).dispose();
    const buffers = tf.engine().backend.numDataIds();
    const tensors = tf.memory().numTensors;
    for (let i = 0; i < 5; i++) tf.matMul(a, b, false, true).dispose();
    expect(tf.engine().backend.numDataIds()).toBe(buffers);
    expect(tf.memory().numTensors).toBe(tensors);
    tf.dispose([a, b]);
  });
});
