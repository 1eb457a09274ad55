import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../backend.js';
import { expf32, logf32, SIMD_MATH_MIN_SIZE, simdMathLoops } from './simdMath.js';
import { WasmHeap } from './wasmHeap.js';

/** Largest error in float32 ulps of the result (ulp of the exact value), in double precision. */
function worstUlps(got: ArrayLike<number>, want: (i: number) => number): number {
  let worst = 0;
  for (let i = 0; i < got.length; i++) {
    const w = want(i);
    if (w === 0) {
      expect(got[i]).toBe(0);
      continue;
    }
    const ulp = 2 ** (Math.floor(Math.log2(Math.abs(w))) - 23);
    worst = Math.max(worst, Math.abs(got[i] - w) / ulp);
  }
  return worst;
}

describe('SIMD Exp and Log (wasm)', () => {
  beforeAll(async () => {
    await initBackend({ backend: 'wasm' });
  });

  // 3 elements past a multiple of 4, so the JavaScript tail runs too.
  const n = 4 * SIMD_MATH_MIN_SIZE + 3;

  it('are the SIMD loops, bit-identical to their JavaScript forms and within 2 ulps of exp / log', () => {
    expect(simdMathLoops(WasmHeap.of(tf.backend())!.memory()).simd).toBe(true);
    const xs = Float32Array.from({ length: n }, (_, i) => -87 + (174 * i) / (n - 1));
    const e = tf.exp(tf.tensor(xs)).dataSync();
    for (let i = 0; i < n; i++) expect(e[i]).toBe(expf32(xs[i]));
    expect(worstUlps(e, (i) => Math.exp(xs[i]))).toBeLessThanOrEqual(2);

    // Log-spaced over the normal range, interleaved with a dense grid around 1 (where log x ≈ x − 1 is small).
    const ys = Float32Array.from({ length: n }, (_, i) =>
      i % 2 === 0 ? Math.exp(-87 + (175 * i) / n) : 0.5 + (1.5 * i) / n,
    );
    const l = tf.log(tf.tensor(ys)).dataSync();
    for (let i = 0; i < n; i++) expect(l[i]).toBe(logf32(ys[i]));
    expect(worstUlps(l, (i) => Math.log(ys[i]))).toBeLessThanOrEqual(2);
    expect(logf32(1)).toBe(0);
    expect(expf32(0)).toBe(1);
  });

  it('leave values outside their range to the backend’s own kernels', () => {
    const cases: Array<[(t: tf.Tensor) => tf.Tensor, (x: number) => number, number[], number]> = [
      // exp: finite but beyond 87, subnormal result, overflow, underflow, NaN
      [tf.exp, Math.exp, [88, -87.5, 100, -120, NaN], 1],
      // log: zero, negative, subnormal, infinity, NaN
      [tf.log, Math.log, [0, -1, 1e-40, Infinity, NaN], 2],
    ];
    for (const [op, exact, specials, filler] of cases) {
      for (const special of specials) {
        const values = new Float32Array(n).fill(filler);
        values[7] = special;
        const got = op(tf.tensor(values)).dataSync();
        const want = Math.fround(exact(Math.fround(special)));
        if (Number.isNaN(want)) expect(Number.isNaN(got[7])).toBe(true);
        else if (!Number.isFinite(want) || want === 0) expect(got[7]).toBe(want);
        else expect(got[7] / want).toBeCloseTo(1, 6);
        // The rest is the backend's result too: its exp(1) / log(2), correctly rounded.
        expect(got[8]).toBe(Math.fround(exact(filler)));
      }
    }
  });

  it('differentiate as exp and log and leak no buffer', () => {
    const x = tf.variable(tf.tensor(Float32Array.from({ length: n }, (_, i) => 0.1 + (5 * i) / n)));
    const buffers = tf.engine().backend.numDataIds();
    const { value, grads } = tf.variableGrads(() => tf.sum(tf.add(tf.exp(x), tf.log(x))) as tf.Scalar);
    const g = grads[x.name].dataSync();
    const xv = x.dataSync();
    for (let i = 0; i < n; i += 97) expect(g[i] / (Math.exp(xv[i]) + 1 / xv[i])).toBeCloseTo(1, 5);
    tf.dispose([value, grads[x.name]]);
    expect(tf.engine().backend.numDataIds()).toBe(buffers);
    x.dispose();
  });
});
