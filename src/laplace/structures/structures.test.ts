import * as tf from '@tensorflow/tfjs';
import { Matrix, inverse, determinant } from 'ml-matrix';
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../../runtime/backend.js';
import { Random } from '../../runtime/random.js';
import { emptyCurvature } from '../curvature/curvature.js';
import { accumulateFromBatches, emptyStats } from '../curvature/curvatureFromBatches.js';
import type { KroneckerCurvature } from '../curvature/kroneckerCurvature.js';
import { splitByLayer, subsetJacobian } from '../curvature/layerJacobian.js';
import { unitCotangents } from '../likelihood.js';
import { matMul64, transpose64 } from '../matrix/denseFloat64.js';
import { laplaceLayout } from '../model/laplaceLayers.js';
import { disposeQuantities, preactivationGradients } from '../model/preactivationGradients.js';
import {
  finiteDifferenceJacobian,
  maxRelativeError,
  randomInputs,
  randomLabels,
  tinyConvNet,
} from '../test-utils.js';
import { diagonalPosterior } from './diagonalPosterior.js';
import { fullPosterior } from './fullPosterior.js';
import { kroneckerEigen, kroneckerPosterior } from './kroneckerPosterior.js';
import { layerBasisCovariance, layerBasisVariance } from './layerBasisCovariance.js';
import type { PosteriorStructure } from './posteriorStructure.js';

beforeAll(async () => {
  await initBackend();
});

function toMatrix(a: Float64Array, n: number): Matrix {
  return new Matrix(Array.from({ length: n }, (_, i) => Array.from(a.subarray(i * n, i * n + n))));
}

function randomGram(n: number, rank: number, seed: number): Float64Array {
  const r = new Random(seed);
  const b = Float64Array.from({ length: n * rank }, () => r.normal());
  return matMul64(b, transpose64(b, n, rank), n, rank, n);
}

function kronDense(a: Float64Array, ra: number, g: Float64Array, rg: number): Float64Array {
  const d = ra * rg;
  const out = new Float64Array(d * d);
  for (let i = 0; i < ra; i++)
    for (let j = 0; j < ra; j++)
      for (let k = 0; k < rg; k++)
        for (let l = 0; l < rg; l++) out[(i * rg + k) * d + j * rg + l] = a[i * ra + j] * g[k * rg + l];
  return out;
}

const eye = (n: number, s: number) =>
  Float64Array.from({ length: n * n }, (_, i) => (i % (n + 1) === 0 ? s : 0));
const add = (a: Float64Array, b: Float64Array) => a.map((v, i) => v + b[i]);
const scaleBy = (a: Float64Array, s: number) => a.map((v) => v * s);

/** A fake one-layer Kronecker curvature with rank-deficient factors (as real KFAC factors often are). */
function fakeKron(
  r: number,
  o: number,
  count: number,
): { curvature: KroneckerCurvature; parts: ReturnType<typeof splitByLayer> } {
  const layer = { name: 'l', rows: r, outputSize: o, paramCount: r * o, offset: 0 } as never;
  const parts = splitByLayer(
    [layer],
    Int32Array.from({ length: r * o }, (_, i) => i),
  );
  const sumA = randomGram(r, r - 1, 1).map((v) => v * count);
  const sumG = randomGram(o, 2, 2);
  return {
    curvature: { structure: 'kron', factors: [{ layerName: 'l', sumA, sumG, count, locations: 1 }] },
    parts,
  };
}

function checkAgainstDense(post: PosteriorStructure, precision: Float64Array, d: number) {
  const pm = toMatrix(precision, d);
  const cov = inverse(pm).to1DArray();
  expect(post.logDetPrecision()).toBeCloseTo(Math.log(determinant(pm)), 6);
  expect(
    maxRelativeError(
      post.marginalVariances(),
      Float64Array.from({ length: d }, (_, i) => cov[i * d + i]),
    ),
  ).toBeLessThan(1e-9);
  const v = Float64Array.from({ length: d }, (_, i) => Math.sin(i + 1));
  expect(
    maxRelativeError(post.covarianceTimes(v), matMul64(Float64Array.from(cov), v, d, d, 1)),
  ).toBeLessThan(1e-9);
  // Sample covariance within Monte-Carlo error of Σ (4000 draws: relative s.e. of a variance ≈ 2%).
  const random = new Random(5);
  const draws = 4000;
  const second = new Float64Array(d * d);
  for (let s = 0; s < draws; s++) {
    const x = post.sampleDeviation(random);
    for (let i = 0; i < d; i++) for (let j = 0; j < d; j++) second[i * d + j] += (x[i] * x[j]) / draws;
  }
  let worst = 0;
  for (let i = 0; i < d; i++)
    for (let j = 0; j < d; j++) {
      const se = Math.sqrt((cov[i * d + i] * cov[j * d + j] + cov[i * d + j] ** 2) / draws);
      worst = Math.max(worst, Math.abs(second[i * d + j] - cov[i * d + j]) / se);
    }
  expect(worst).toBeLessThan(4.5);
}

describe('posterior structures against dense linear algebra', () => {
  const r = 4;
  const o = 3;
  const count = 20;
  const tau = 0.7;
  const scale = 1.3;

  it('Kronecker with the exact prior in the eigenbasis: P = s·A⊗G + τI (log det, inverse, variances, samples)', () => {
    const { curvature, parts } = fakeKron(r, o, count);
    const f = curvature.factors[0];
    const post = kroneckerPosterior(kroneckerEigen(curvature), parts, [tau], scale, 'exact');
    const precision = add(
      scaleBy(kronDense(scaleBy(f.sumA, 1 / count), r, f.sumG, o), scale),
      eye(r * o, tau),
    );
    checkAgainstDense(post, precision, r * o);
    post.dispose();
  });

  it('Kronecker with Ritter damping: P = (√N·A + √τ·I) ⊗ (√N·Ḡ + √τ·I), marginal variance U_ii·V_jj', () => {
    const { curvature, parts } = fakeKron(r, o, count);
    const f = curvature.factors[0];
    const post = kroneckerPosterior(kroneckerEigen(curvature), parts, [tau], scale, 'damped');
    const left = add(scaleBy(f.sumA, Math.sqrt(count) / count), eye(r, Math.sqrt(tau)));
    const right = add(scaleBy(f.sumG, (scale * Math.sqrt(count)) / count), eye(o, Math.sqrt(tau)));
    checkAgainstDense(post, kronDense(left, r, right, o), r * o);
    const u = inverse(toMatrix(left, r));
    const v = inverse(toMatrix(right, o));
    const variances = post.marginalVariances();
    expect(variances[2 * o + 1]).toBeCloseTo(u.get(2, 2) * v.get(1, 1), 10);
    post.dispose();
  });

  it('diagonal and full posteriors: P = s·H + τI', () => {
    const d = 5;
    const h = randomGram(d, 3, 9);
    const layer = { name: 'l', rows: 5, outputSize: 1, paramCount: 5, offset: 0 } as never;
    const parts = splitByLayer([layer], Int32Array.from([0, 1, 2, 3, 4]));
    const full = fullPosterior({ structure: 'full', size: d, matrix: h }, parts, [tau], scale);
    checkAgainstDense(full, add(scaleBy(h, scale), eye(d, tau)), d);
    const diagH = Float64Array.from({ length: d }, (_, i) => h[i * d + i]);
    const diag = diagonalPosterior({ structure: 'diag', values: diagH }, parts, [tau], scale);
    const dense = new Float64Array(d * d);
    for (let i = 0; i < d; i++) dense[i * d + i] = scale * diagH[i] + tau;
    checkAgainstDense(diag, dense, d);
  });

  it('functional covariance J Σ Jᵀ from layer factors equals the dense product, for Kronecker and diagonal, on a conv net', () => {
    const model = tinyConvNet(3);
    const layout = laplaceLayout(model);
    const parts = splitByLayer(
      layout.layers,
      Int32Array.from({ length: layout.totalParams }, (_, i) => i),
    );
    const x = randomInputs(8, [6, 6, 2]);
    const y = randomLabels(8, 3);
    const kron = { curvature: emptyCurvature('kron', parts), stats: emptyStats() };
    accumulateFromBatches(
      model,
      layout,
      parts,
      [{ x: x.clone(), y: y.clone(), size: 8 }],
      { likelihood: 'classification', type: 'ggn' },
      kron,
    );
    const diag = { curvature: emptyCurvature('diag', parts), stats: emptyStats() };
    accumulateFromBatches(
      model,
      layout,
      parts,
      [{ x: x.clone(), y: y.clone(), size: 8 }],
      { likelihood: 'classification', type: 'ggn' },
      diag,
    );
    const prior = layout.layers.map((_, i) => 0.5 + i);
    const posts = [
      kroneckerPosterior(kroneckerEigen(kron.curvature as KroneckerCurvature), parts, prior, 1, 'exact'),
      kroneckerPosterior(kroneckerEigen(kron.curvature as KroneckerCurvature), parts, prior, 1, 'damped'),
      diagonalPosterior(diag.curvature as never, parts, prior),
    ];
    const xt = randomInputs(3, [6, 6, 2], 21);
    const q = preactivationGradients(model, layout, layout.layers, xt, unitCotangents);
    const jac = subsetJacobian(q, parts); // [C, M, D]
    const jv = jac.dataSync();
    const d = layout.totalParams;
    for (const post of posts) {
      const got = post.functionalCovariance(q);
      expect(got.shape).toEqual([3, 3, 3]);
      const gv = got.dataSync();
      // Reference: Σ column by column via covarianceTimes, then J Σ Jᵀ per example in float64.
      const expected = new Float64Array(27);
      for (let m = 0; m < 3; m++)
        for (let c = 0; c < 3; c++) {
          const row = Float64Array.from({ length: d }, (_, p) => jv[(c * 3 + m) * d + p]);
          const sj = post.covarianceTimes(row);
          for (let c2 = 0; c2 < 3; c2++) {
            let s = 0;
            for (let p = 0; p < d; p++) s += jv[(c2 * 3 + m) * d + p] * sj[p];
            expected[(m * 3 + c) * 3 + c2] = s;
          }
        }
      expect(maxRelativeError(gv, expected)).toBeLessThan(1e-4);
      // The probit path's diagonal-only variance equals the diagonal of the same reference.
      const variance = post.functionalVariance(q);
      expect(variance.shape).toEqual([3, 3]);
      const diagExpected = Float64Array.from(
        { length: 9 },
        (_, i) => expected[(Math.floor(i / 3) * 3 + (i % 3)) * 3 + (i % 3)],
      );
      expect(maxRelativeError(variance.dataSync(), diagExpected)).toBeLessThan(1e-4);
      variance.dispose();
      got.dispose();
      post.dispose();
    }
    jac.dispose();
    disposeQuantities(q);
  });
});

describe('layerBasisVariance', () => {
  it('equals the diagonal of layerBasisCovariance for convolutions (several chunks; P < R and P > R) and dense layers', () => {
    const shapes: [number, number, number, number, number][] = [
      // [M, P, R, C, O]: 10·300·80 values per example → chunks of 8 examples
      [20, 5, 300, 10, 80],
      // more locations than input rows (G rotated after the product, as for LeNet-5's first convolution)
      [9, 40, 6, 4, 7],
      [6, 1, 7, 3, 5],
    ];
    for (const [m, p, r, c, o] of shapes) {
      const a = tf.randomNormal([m, p, r], 0, 1, 'float32', 1) as tf.Tensor3D;
      const g = tf.randomNormal([c, m, p, o], 0, 1, 'float32', 2) as tf.Tensor4D;
      const qa = tf.randomNormal([r, r], 0, 1, 'float32', 3) as tf.Tensor2D;
      const qg = tf.randomNormal([o, o], 0, 1, 'float32', 4) as tf.Tensor2D;
      const dinv = tf.randomUniform([r, o], 0.1, 1, 'float32', 5) as tf.Tensor2D;
      const before = tf.memory().numTensors;
      for (const [ra, rg] of [
        [qa, qg],
        [undefined, undefined],
      ] as const) {
        const full = layerBasisCovariance(a, g, ra, rg, dinv);
        const diag = tf.tidy(() => tf.sum(tf.mul(full, tf.eye(c).reshape([1, c, c])), 2));
        const got = layerBasisVariance(a, g, ra, rg, dinv);
        expect(got.shape).toEqual([m, c]);
        expect(maxRelativeError(got.dataSync(), diag.dataSync())).toBeLessThan(1e-4);
        tf.dispose([full, diag, got]);
      }
      expect(tf.memory().numTensors).toBe(before);
      tf.dispose([a, g, qa, qg, dinv]);
    }
  });
});

describe('GLM variance on a ReLU/max-pool conv net (the hand-written pullback and per-example products)', () => {
  it('equals diag(J Σ Jᵀ) with J from central finite differences and Σ the dense Kronecker covariance', () => {
    const init = (seed: number) => tf.initializers.glorotNormal({ seed });
    const bias = (seed: number) => tf.initializers.randomNormal({ mean: 0.1, stddev: 0.1, seed });
    const model = tf.sequential({
      layers: [
        tf.layers.conv2d({
          inputShape: [10, 10, 1],
          filters: 3,
          kernelSize: 3,
          activation: 'relu',
          kernelInitializer: init(1),
          biasInitializer: bias(2),
        }),
        tf.layers.maxPooling2d({ poolSize: 2 }),
        tf.layers.conv2d({
          filters: 4,
          kernelSize: 3,
          activation: 'relu',
          kernelInitializer: init(3),
          biasInitializer: bias(4),
        }),
        tf.layers.maxPooling2d({ poolSize: 2 }),
        tf.layers.flatten(),
        tf.layers.dense({
          units: 5,
          activation: 'relu',
          kernelInitializer: init(5),
          biasInitializer: bias(6),
        }),
        tf.layers.dense({ units: 3, activation: 'softmax', kernelInitializer: init(7) }),
      ],
    });
    const layout = laplaceLayout(model);
    const d = layout.totalParams;
    const parts = splitByLayer(
      layout.layers,
      Int32Array.from({ length: d }, (_, i) => i),
    );
    const kron = { curvature: emptyCurvature('kron', parts), stats: emptyStats() };
    accumulateFromBatches(
      model,
      layout,
      parts,
      [{ x: randomInputs(12, [10, 10, 1], 3), y: randomLabels(12, 3, 4), size: 12 }],
      { likelihood: 'classification', type: 'ggn' },
      kron,
    );
    const post = kroneckerPosterior(
      kroneckerEigen(kron.curvature as KroneckerCurvature),
      parts,
      layout.layers.map((_, i) => 0.3 + i),
    );
    const m = 4;
    const xt = randomInputs(m, [10, 10, 1], 22);
    const fd = finiteDifferenceJacobian(model, layout, xt, 1e-3); // [M][C][D]
    const q = preactivationGradients(model, layout, layout.layers, xt, unitCotangents);
    const got = post.functionalVariance(q).dataSync();
    const expected = new Float64Array(m * 3);
    for (let n = 0; n < m; n++)
      for (let c = 0; c < 3; c++) {
        const row = fd.jac.subarray((n * 3 + c) * d, (n * 3 + c + 1) * d);
        const sj = post.covarianceTimes(Float64Array.from(row));
        let s = 0;
        for (let p = 0; p < d; p++) s += row[p] * sj[p];
        expected[n * 3 + c] = s;
      }
    expect(maxRelativeError(got, expected)).toBeLessThan(5e-3);
    disposeQuantities(q);
    post.dispose();
  });
});
