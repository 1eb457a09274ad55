import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../../runtime/backend.js';
import type { Batch } from '../../train/types.js';
import { laplaceLayout, type LaplaceLayout } from '../model/laplaceLayers.js';
import {
  denseGgn,
  finiteDifferenceJacobian,
  maxRelativeError,
  randomInputs,
  randomLabels,
  softmaxHessians,
  tinyConvNet,
  tinyMlp,
  logitsAt,
} from '../test-utils.js';
import { readParameters } from '../model/laplaceLayers.js';
import { emptyCurvature, type HessianStructure } from './curvature.js';
import { accumulateFromBatches, type CurvatureState, emptyStats } from './curvatureFromBatches.js';
import { splitByLayer } from './layerJacobian.js';
import type { CurvatureType } from '../likelihood.js';

beforeAll(async () => {
  await initBackend();
});

function allParts(layout: LaplaceLayout) {
  return splitByLayer(
    layout.layers,
    Int32Array.from({ length: layout.totalParams }, (_, i) => i),
  );
}

function fit(
  model: tf.LayersModel,
  x: tf.Tensor,
  y: tf.Tensor,
  structure: HessianStructure,
  type: CurvatureType = 'ggn',
  times = 1,
  likelihood: 'classification' | 'regression' = 'classification',
): CurvatureState {
  const layout = laplaceLayout(model);
  const parts = allParts(layout);
  const state = { curvature: emptyCurvature(structure, parts), stats: emptyStats() };
  const batches: Batch[] = [];
  for (let t = 0; t < times; t++) batches.push({ x: x.clone(), y: y.clone(), size: x.shape[0] });
  accumulateFromBatches(model, layout, parts, batches, { likelihood, type }, state);
  return state;
}

/** The exact GGN from finite-difference Jacobians and softmax Hessians, float64 D × D. */
function referenceGgn(model: tf.LayersModel, x: tf.Tensor) {
  const layout = laplaceLayout(model);
  const { jac, m, c, d } = finiteDifferenceJacobian(model, layout, x);
  const logits = logitsAt(model, layout, x, readParameters(layout));
  return { ggn: denseGgn(jac, softmaxHessians(logits, m, c), m, c, d), d, jac, logits, m, c };
}

function diagonalOf(a: Float64Array, d: number): Float64Array {
  return Float64Array.from({ length: d }, (_, i) => a[i * d + i]);
}

/** Dense A ⊗ G (row-major) scaled. */
function kron(a: Float64Array, ra: number, g: Float64Array, rg: number, scale: number): Float64Array {
  const d = ra * rg;
  const out = new Float64Array(d * d);
  for (let i = 0; i < ra; i++)
    for (let j = 0; j < ra; j++)
      for (let k = 0; k < rg; k++)
        for (let l = 0; l < rg; l++)
          out[(i * rg + k) * d + j * rg + l] = scale * a[i * ra + j] * g[k * rg + l];
  return out;
}

function block(a: Float64Array, d: number, start: number, size: number): Float64Array {
  const out = new Float64Array(size * size);
  for (let i = 0; i < size; i++)
    for (let j = 0; j < size; j++) out[i * size + j] = a[(start + i) * d + start + j];
  return out;
}

describe('generalised Gauss–Newton curvature', () => {
  it('full GGN equals Σ Jᵀ Λ J from finite-difference Jacobians, and the diagonal GGN its diagonal (MLP)', () => {
    const model = tinyMlp(3, 4, 3);
    const x = randomInputs(6, [3]);
    const y = randomLabels(6, 3);
    const ref = referenceGgn(model, x);
    const full = fit(model, x, y, 'full').curvature;
    const diag = fit(model, x, y, 'diag').curvature;
    if (full.structure !== 'full' || diag.structure !== 'diag') throw new Error('structure');
    expect(full.size).toBe(31);
    expect(maxRelativeError(full.matrix, ref.ggn)).toBeLessThan(3e-3);
    expect(maxRelativeError(diag.values, diagonalOf(ref.ggn, ref.d))).toBeLessThan(3e-3);
  });

  it('diagonal and full GGN of a conv net equal the dense GGN from finite-difference Jacobians', () => {
    const model = tinyConvNet(3);
    const x = randomInputs(3, [6, 6, 2]);
    const y = randomLabels(3, 3);
    const ref = referenceGgn(model, x);
    const diag = fit(model, x, y, 'diag').curvature;
    const full = fit(model, x, y, 'full').curvature;
    if (full.structure !== 'full' || diag.structure !== 'diag') throw new Error('structure');
    expect(maxRelativeError(diag.values, diagonalOf(ref.ggn, ref.d))).toBeLessThan(3e-3);
    expect(maxRelativeError(full.matrix, ref.ggn)).toBeLessThan(3e-3);
  });

  it('KFAC equals the exact GGN block of each layer for a single example (Dense, and Conv2D with one location)', () => {
    const mlp = tinyMlp(3, 4, 3);
    const conv = tf.sequential({
      layers: [
        tf.layers.conv2d({ inputShape: [3, 3, 2], filters: 3, kernelSize: 3, activation: 'tanh' }),
        tf.layers.flatten(),
        tf.layers.dense({ units: 3 }),
      ],
    });
    for (const [model, x] of [
      [mlp, randomInputs(1, [3])],
      [conv, randomInputs(1, [3, 3, 2])],
    ] as const) {
      const layout = laplaceLayout(model);
      const ref = referenceGgn(model, x);
      const kfac = fit(model, x, tf.tensor1d([1], 'int32'), 'kron').curvature;
      if (kfac.structure !== 'kron') throw new Error('structure');
      layout.layers.forEach((l, i) => {
        const f = kfac.factors[i];
        expect(f.count).toBe(1);
        expect(f.locations).toBe(1);
        const dense = kron(f.sumA, l.rows, f.sumG, l.outputSize, 1 / (f.count * f.locations));
        expect(maxRelativeError(dense, block(ref.ggn, ref.d, l.offset, l.paramCount))).toBeLessThan(3e-3);
      });
    }
  });

  it('is additive over batches: fitting the same data twice doubles every structure', () => {
    const model = tinyMlp(3, 4, 3);
    const x = randomInputs(5, [3]);
    const y = randomLabels(5, 3);
    for (const structure of ['diag', 'full', 'kron'] as const) {
      const once = fit(model, x, y, structure);
      const twice = fit(model, x, y, structure, 'ggn', 2);
      expect(twice.stats.n).toBe(10);
      expect(twice.stats.logLik).toBeCloseTo(2 * once.stats.logLik, 4);
      const a = once.curvature;
      const b = twice.curvature;
      if (a.structure === 'diag' && b.structure === 'diag') {
        expect(
          maxRelativeError(
            b.values,
            a.values.map((v) => 2 * v),
          ),
        ).toBeLessThan(1e-6);
      } else if (a.structure === 'full' && b.structure === 'full') {
        expect(
          maxRelativeError(
            b.matrix,
            a.matrix.map((v) => 2 * v),
          ),
        ).toBeLessThan(1e-6);
      } else if (a.structure === 'kron' && b.structure === 'kron') {
        // The product (ΣA / N) ⊗ ΣG doubles: ΣA and N double (their ratio is unchanged), ΣG doubles.
        const l = laplaceLayout(model).layers[1];
        const ka = kron(a.factors[1].sumA, l.rows, a.factors[1].sumG, l.outputSize, 1 / a.factors[1].count);
        const kb = kron(b.factors[1].sumA, l.rows, b.factors[1].sumG, l.outputSize, 1 / b.factors[1].count);
        expect(
          maxRelativeError(
            kb,
            ka.map((v) => 2 * v),
          ),
        ).toBeLessThan(1e-6);
      }
    }
  });

  it('empirical Fisher equals Σ_n ∇ℓ_n ∇ℓ_nᵀ with ∇ℓ_n = J_nᵀ (softmax − onehot)', () => {
    const model = tinyMlp(3, 4, 3);
    const x = randomInputs(4, [3]);
    const y = randomLabels(4, 3);
    const ref = referenceGgn(model, x);
    const labels = y.dataSync();
    const { d, m, c, jac, logits } = ref;
    const expected = new Float64Array(d * d);
    for (let n = 0; n < m; n++) {
      const mx = Math.max(...Array.from(logits.subarray(n * c, n * c + c)));
      const e = Array.from(logits.subarray(n * c, n * c + c), (v) => Math.exp(v - mx));
      const s = e.reduce((p, q) => p + q, 0);
      const grad = new Float64Array(d);
      for (let k = 0; k < c; k++) {
        const r = e[k] / s - (k === labels[n] ? 1 : 0);
        for (let p = 0; p < d; p++) grad[p] += r * jac[(n * c + k) * d + p];
      }
      for (let p = 0; p < d; p++) for (let q = 0; q < d; q++) expected[p * d + q] += grad[p] * grad[q];
    }
    const ef = fit(model, x, y, 'full', 'ef').curvature;
    if (ef.structure !== 'full') throw new Error('structure');
    expect(maxRelativeError(ef.matrix, expected)).toBeLessThan(3e-3);
  });

  it('regression GGN at σ² = 1 is Σ JᵀJ, and the log-likelihood statistics hold the squared residuals', () => {
    const model = tinyMlp(2, 3, 2, false, 5);
    const x = randomInputs(4, [2]);
    const y = randomInputs(4, [2], 11);
    const layout = laplaceLayout(model);
    const { jac, m, c, d } = finiteDifferenceJacobian(model, layout, x);
    const identity = new Float64Array(m * c * c);
    for (let n = 0; n < m; n++) for (let k = 0; k < c; k++) identity[(n * c + k) * c + k] = 1;
    const state = fit(model, x, y, 'full', 'ggn', 1, 'regression');
    if (state.curvature.structure !== 'full') throw new Error('structure');
    expect(maxRelativeError(state.curvature.matrix, denseGgn(jac, identity, m, c, d))).toBeLessThan(3e-3);
    const f = logitsAt(model, layout, x, readParameters(layout));
    const yv = y.dataSync();
    const sse = f.reduce((s, v, i) => s + (v - yv[i]) ** 2, 0);
    expect(state.stats.sse).toBeCloseTo(sse, 4);
  });
});
