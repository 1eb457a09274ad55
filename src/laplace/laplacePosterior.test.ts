import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { CholeskyDecomposition, Matrix, inverse } from 'ml-matrix';
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../runtime/backend.js';
import { Random } from '../runtime/random.js';
import { fitLaplace, LaplacePosterior } from './laplacePosterior.js';
import { normalCdf } from './pruning.js';
import { maxRelativeError, randomInputs, randomLabels, tinyConvNet, tinyMlp } from './test-utils.js';

beforeAll(async () => {
  await initBackend();
});

/** Bayesian linear regression data and its closed-form posterior (float64). */
function linearRegression(sigma: number, tau: number) {
  const n = 30;
  const r = new Random(4);
  const x = Float64Array.from({ length: n * 3 }, () => r.normal());
  const wTrue = [0.7, -1.2, 0.4];
  const y = Float64Array.from(
    { length: n },
    (_, i) => wTrue.reduce((s, w, k) => s + w * x[i * 3 + k], 0.3) + 0.5 * r.normal(),
  );
  const phi = new Matrix(n, 4);
  for (let i = 0; i < n; i++) {
    for (let k = 0; k < 3; k++) phi.set(i, k, x[i * 3 + k]);
    phi.set(i, 3, 1);
  }
  const precision = (t: number, s: number) =>
    phi
      .transpose()
      .mmul(phi)
      .div(s * s)
      .add(Matrix.eye(4).mul(t));
  const yv = Matrix.columnVector(Array.from(y));
  const mean = inverse(precision(tau, sigma))
    .mmul(phi.transpose().mmul(yv))
    .div(sigma * sigma);
  const model = tf.sequential({ layers: [tf.layers.dense({ inputShape: [3], units: 1 })] });
  model.layers[0].setWeights([
    tf.tensor2d(mean.to1DArray().slice(0, 3), [3, 1]),
    tf.tensor1d([mean.get(3, 0)]),
  ]);
  const data = { x: tf.tensor2d(Float32Array.from(x), [n, 3]), y: tf.tensor2d(Float32Array.from(y), [n, 1]) };
  /** Exact evidence log N(y; 0, σ²I + ΦΦᵀ/τ). */
  const exactEvidence = (t: number, s: number) => {
    const c = phi
      .mmul(phi.transpose())
      .div(t)
      .add(Matrix.eye(n).mul(s * s));
    const l = new CholeskyDecomposition(c).lowerTriangularMatrix;
    let logDet = 0;
    for (let i = 0; i < n; i++) logDet += 2 * Math.log(l.get(i, i));
    const quad = yv.transpose().mmul(inverse(c)).mmul(yv).get(0, 0);
    return -0.5 * (n * Math.log(2 * Math.PI) + logDet + quad);
  };
  /** The Laplace evidence at the fixed θ* (independent float64 computation). */
  const laplaceEvidence = (t: number, s: number) => {
    const theta = mean.to1DArray().map(Math.fround);
    const resid = y.map(
      (v, i) => v - (theta[0] * x[i * 3] + theta[1] * x[i * 3 + 1] + theta[2] * x[i * 3 + 2] + theta[3]),
    );
    const loglik =
      -resid.reduce((a, v) => a + v * v, 0) / (2 * s * s) - 0.5 * n * Math.log(2 * Math.PI * s * s);
    const l = new CholeskyDecomposition(precision(t, s)).lowerTriangularMatrix;
    let logDet = 0;
    for (let i = 0; i < 4; i++) logDet += 2 * Math.log(l.get(i, i));
    return loglik - 0.5 * (logDet - 4 * Math.log(t) + t * theta.reduce((a, v) => a + v * v, 0));
  };
  return { model, data, precision, mean, exactEvidence, laplaceEvidence };
}

describe('Laplace on Bayesian linear regression equals the closed form', () => {
  const sigma = 0.5;
  const tau = 2;
  for (const hessian of ['full', 'kron', 'diag'] as const) {
    it(`${hessian}: posterior variances and log marginal likelihood`, () => {
      const lr = linearRegression(sigma, tau);
      const post = fitLaplace(lr.model, lr.data, { hessian, sigma, priorPrecision: tau });
      const cov = inverse(lr.precision(tau, sigma));
      const variances = post.marginalVariances();
      if (hessian === 'diag') {
        // The diagonal Laplace inverts only the precision's diagonal.
        const p = lr.precision(tau, sigma);
        expect(
          maxRelativeError(
            variances,
            [0, 1, 2, 3].map((i) => 1 / p.get(i, i)),
          ),
        ).toBeLessThan(1e-5);
      } else {
        expect(
          maxRelativeError(
            variances,
            [0, 1, 2, 3].map((i) => cov.get(i, i)),
          ),
        ).toBeLessThan(1e-5);
        expect(post.logMarginalLikelihood()).toBeCloseTo(lr.exactEvidence(tau, sigma), 3);
        // Regression predictive: mean f(x; θ*), variance φᵀΣφ + σ².
        const { mean, variance } = post.predictiveMoments(lr.data.x.slice(0, 2));
        const xs = lr.data.x.slice(0, 2).arraySync() as number[][];
        xs.forEach((row, i) => {
          const phi = Matrix.columnVector([...row, 1]);
          const expected = phi.transpose().mmul(cov).mmul(phi).get(0, 0) + sigma * sigma;
          expect(variance.dataSync()[i]).toBeCloseTo(expected, 5);
          expect(mean.dataSync()[i]).toBeCloseTo(phi.transpose().mmul(lr.mean).get(0, 0), 4);
        });
      }
      post.dispose();
    });
  }

  it('empirical Fisher: precision Σ_n (r_n/σ²)² φ_n φ_nᵀ + τI', () => {
    const lr = linearRegression(sigma, tau);
    const post = fitLaplace(lr.model, lr.data, {
      hessian: 'full',
      curvature: 'ef',
      sigma,
      priorPrecision: tau,
    });
    const xs = lr.data.x.arraySync() as number[][];
    const ys = lr.data.y.dataSync();
    const theta = Array.from(post.mean);
    const p = Matrix.eye(4).mul(tau);
    xs.forEach((row, n) => {
      const phi = [...row, 1];
      const r = ys[n] - phi.reduce((a, v, i) => a + v * theta[i], 0);
      const w = (r / (sigma * sigma)) ** 2;
      for (let i = 0; i < 4; i++) for (let j = 0; j < 4; j++) p.set(i, j, p.get(i, j) + w * phi[i] * phi[j]);
    });
    const cov = inverse(p);
    expect(
      maxRelativeError(
        post.marginalVariances(),
        [0, 1, 2, 3].map((i) => cov.get(i, i)),
      ),
    ).toBeLessThan(1e-4);
  });

  it('fits the same posterior from a Dataset as from tensors', () => {
    const lr = linearRegression(sigma, tau);
    const dataset = {
      x: lr.data.x.dataSync() as Float32Array,
      y: lr.data.y.dataSync() as Float32Array,
      n: 30,
      featureShape: [3],
      targetSize: 1,
    };
    const a = fitLaplace(lr.model, dataset, { hessian: 'kron', sigma, priorPrecision: tau, batchSize: 7 });
    const b = fitLaplace(lr.model, lr.data, { hessian: 'kron', sigma, priorPrecision: tau });
    expect(a.likelihood).toBe('regression');
    expect(a.logMarginalLikelihood()).toBeCloseTo(b.logMarginalLikelihood(), 4);
  });

  it('marginal-likelihood optimisation of λ (and σ) finds the maximiser of the Laplace evidence', async () => {
    const lr = linearRegression(sigma, tau);
    const post = fitLaplace(lr.model, lr.data, { hessian: 'full', sigma, priorPrecision: tau });
    const [found] = await post.optimizePriorPrecision();
    let best = { t: 0, v: -Infinity };
    for (let e = -4; e <= 4; e += 0.001) {
      const v = lr.laplaceEvidence(10 ** e, sigma);
      if (v > best.v) best = { t: 10 ** e, v };
    }
    expect(Math.log10(found)).toBeCloseTo(Math.log10(best.t), 2);
    expect(post.logMarginalLikelihood()).toBeCloseTo(best.v, 5);
    await post.optimizePriorPrecision({ optimizeSigma: true });
    const grid = [-0.01, 0, 0.01];
    const here = lr.laplaceEvidence(post.priorPrecision[0], post.sigma);
    for (const dt of grid)
      for (const ds of grid)
        expect(here).toBeGreaterThanOrEqual(
          lr.laplaceEvidence(post.priorPrecision[0] * 10 ** dt, post.sigma * 10 ** ds) - 1e-6,
        );
    expect(post.sigma).toBeGreaterThan(0.3);
    expect(post.sigma).toBeLessThan(0.8);
  });
});

describe('classification posteriors', () => {
  it('the probit path (diagonal-only variances) equals the diagonal of J Σ Jᵀ and the probit of the full covariance, for kron, diag and a full subnetwork on a conv net', () => {
    const model = tinyConvNet(3);
    const x = randomInputs(24, [6, 6, 2], 7);
    const y = randomLabels(24, 3, 8);
    const xt = randomInputs(5, [6, 6, 2], 9);
    const fits = [
      fitLaplace(model, { x, y }, { hessian: 'kron', priorPrecision: 0.7 }),
      fitLaplace(model, { x, y }, { hessian: 'diag', priorPrecision: 0.7 }),
      fitLaplace(model, { x, y }, { hessian: 'full', subset: { strategy: 'random', count: 40, seed: 1 } }),
    ];
    const before = tf.memory().numTensors;
    for (const post of fits) {
      const { mean, covariance } = post.linearisedLogits(xt);
      const { mean: mean2, variance } = post.linearisedVariance(xt);
      const diag = tf.tidy(() => tf.sum(tf.mul(covariance, tf.eye(3).reshape([1, 3, 3])), 2));
      expect(maxRelativeError(variance.dataSync(), diag.dataSync())).toBeLessThan(1e-4);
      expect(maxRelativeError(mean2.dataSync(), mean.dataSync())).toBe(0);
      const p = post.predict(xt);
      const reference = tf.tidy(() =>
        tf.softmax(tf.div(mean, tf.sqrt(tf.add(1, tf.mul(Math.PI / 8, diag))))),
      );
      expect(maxRelativeError(p.dataSync(), reference.dataSync())).toBeLessThan(1e-5);
      tf.dispose([mean, covariance, mean2, variance, diag, p, reference]);
    }
    fits.forEach((f) => f.dispose()); // frees the structures' cached factor tensors
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose([x, y, xt]);
  });

  const x = randomInputs(40, [3]);
  const y = randomLabels(40, 3);

  it('a subnetwork holding every weight reproduces the full Laplace', () => {
    const model = tinyMlp(3, 4, 3);
    const full = fitLaplace(model, { x, y }, { hessian: 'full', priorPrecision: 0.5 });
    const sub = fitLaplace(
      model,
      { x, y },
      { hessian: 'full', priorPrecision: 0.5, subset: { indices: Array.from({ length: 31 }, (_, i) => i) } },
    );
    expect(maxRelativeError(sub.marginalVariances(), full.marginalVariances())).toBeLessThan(1e-12);
    expect(sub.logMarginalLikelihood()).toBeCloseTo(full.logMarginalLikelihood(), 9);
    const xt = randomInputs(5, [3], 31);
    expect(maxRelativeError(sub.predict(xt).dataSync(), full.predict(xt).dataSync())).toBeLessThan(1e-6);
  });

  it('a subnetwork has the rescaled prior λ·S/D and the dense GGN block of its weights; others stay at MAP', () => {
    const model = tinyMlp(3, 4, 3);
    const full = fitLaplace(model, { x, y }, { hessian: 'full', priorPrecision: 1e-3 });
    const chosen = [2, 5, 17, 20, 28];
    const sub = fitLaplace(
      model,
      { x, y },
      { hessian: 'full', priorPrecision: 2, subset: { indices: chosen } },
    );
    // Reference: H[S,S] + 2·(5/31)·I, with H the full fit's precision minus its prior 1e-3·I.
    const h = full.structure;
    const d = 31;
    const hs = new Matrix(chosen.length, chosen.length);
    const sigmaFull = new Matrix(
      Array.from({ length: d }, (_, i) => {
        const e = new Float64Array(d);
        e[i] = 1;
        return Array.from(h.covarianceTimes(e));
      }),
    );
    const precisionFull = inverse(sigmaFull);
    chosen.forEach((a, i) =>
      chosen.forEach((b, j) =>
        hs.set(i, j, precisionFull.get(a, b) - (a === b ? 1e-3 : 0) + (a === b ? (2 * 5) / 31 : 0)),
      ),
    );
    const expected = inverse(hs);
    expect(
      maxRelativeError(
        sub.marginalVariances(),
        chosen.map((_, i) => expected.get(i, i)),
      ),
    ).toBeLessThan(1e-4);
  });

  it('largest-variance selection passes over weights without curvature (an input that is always zero)', () => {
    const model = tinyMlp(3, 4, 3);
    // Input 0 is zero on every example: the 4 weights from it get no curvature and keep the prior variance, the
    // largest of all, yet they never change an output.
    const dead = tf.tidy(() => tf.concat([tf.zeros([40, 1]), tf.slice(x, [0, 1], [40, 2])], 1));
    const diag = fitLaplace(model, { x: dead, y }, { hessian: 'diag', priorPrecision: 1 });
    const v = diag.marginalVariances();
    const deadWeights = [0, 1, 2, 3]; // kernel row 0 of the first layer in the [kernel; bias] layout
    const largest = Math.max(...v);
    deadWeights.forEach((i) => expect(v[i]).toBeCloseTo(largest, 12));
    const sub = fitLaplace(
      model,
      { x: dead, y },
      { hessian: 'full', priorPrecision: 1, subset: { strategy: 'largestVariance', count: 6 } },
    );
    const withCurvature = Array.from(v.keys())
      .filter((i) => !deadWeights.includes(i))
      .sort((a, b) => v[b] - v[a])
      .slice(0, 6)
      .sort((a, b) => a - b);
    expect(Array.from(sub.indices)).toEqual(withCurvature);
    [diag, sub].forEach((f) => f.dispose());
    dead.dispose();
  });

  it('largest-variance subnetwork selection takes the top diagonal-Laplace variances (seed 002 eq. 12)', () => {
    const model = tinyMlp(3, 4, 3);
    const diag = fitLaplace(model, { x, y }, { hessian: 'diag', priorPrecision: 1 });
    const v = diag.marginalVariances();
    const top = Array.from(v.keys())
      .sort((a, b) => v[b] - v[a])
      .slice(0, 6)
      .sort((a, b) => a - b);
    const sub = fitLaplace(
      model,
      { x, y },
      { hessian: 'full', priorPrecision: 1, subset: { strategy: 'largestVariance', count: 6 } },
    );
    expect(Array.from(sub.indices)).toEqual(top);
    const mag = fitLaplace(
      model,
      { x, y },
      { hessian: 'full', subset: { strategy: 'largestMagnitude', count: 3 } },
    );
    const theta = Array.from(mag.mean).map(Math.abs);
    const all = fitLaplace(model, { x, y }, { hessian: 'diag' });
    const allMag = Array.from(all.mean)
      .map(Math.abs)
      .sort((a, b) => b - a);
    expect(Math.min(...theta)).toBeCloseTo(allMag[2], 6);
    const last = fitLaplace(model, { x, y }, { subset: 'lastLayer' });
    expect(Array.from(last.indices)).toEqual(Array.from({ length: 15 }, (_, i) => 16 + i));
  });

  it('a strategy restricted to named layers chooses among their weights only, with the subnetwork prior scaling', () => {
    const model = tinyMlp(3, 4, 3);
    const diag = fitLaplace(model, { x, y }, { hessian: 'diag', priorPrecision: 1 });
    const v = diag.marginalVariances();
    const lastName = model.layers[model.layers.length - 1].name;
    // The last Dense layer's [kernel; bias] block is indices 16..30 (see the lastLayer check above).
    const top = Array.from({ length: 15 }, (_, i) => 16 + i)
      .sort((a, b) => v[b] - v[a])
      .slice(0, 5)
      .sort((a, b) => a - b);
    const sub = fitLaplace(
      model,
      { x, y },
      {
        hessian: 'full',
        priorPrecision: 1,
        subset: { strategy: 'largestVariance', count: 5, layers: [lastName] },
      },
    );
    expect(Array.from(sub.indices)).toEqual(top);
    expect(sub.fittedState.priorScale).toBeCloseTo(5 / 31, 12);
    const random = fitLaplace(
      model,
      { x, y },
      { hessian: 'full', subset: { strategy: 'random', count: 4, seed: 2, layers: [lastName] } },
    );
    expect(random.indices.length).toBe(4);
    for (const i of random.indices) expect(i).toBeGreaterThanOrEqual(16);
    expect(() =>
      fitLaplace(
        model,
        { x, y },
        { hessian: 'full', subset: { strategy: 'random', count: 16, layers: [lastName] } },
      ),
    ).toThrow(/subnetwork size must be an integer in \[1, 15\]/);
    [diag, sub, random].forEach((f) => f.dispose());
  });

  it('probit, linearised Monte-Carlo and sampled-network predictives sum to 1; linearised MC matches the exact 2-class expectation', () => {
    const model = tinyMlp(3, 4, 2);
    const labels = randomLabels(40, 2);
    const post = fitLaplace(model, { x, y: labels }, { hessian: 'kron', priorPrecision: 1 });
    const xt = randomInputs(4, [3], 41);
    const random = new Random(3);
    const probit = post.predict(xt).arraySync();
    const mc = post.predict(xt, { link: 'mc', samples: 20000, random }).arraySync();
    const nn = post.predict(xt, { method: 'nn', samples: 200, random }).arraySync();
    for (const p of [...probit, ...mc, ...nn]) expect(p[0] + p[1]).toBeCloseTo(1, 5);
    // Exact E[sigmoid(f1 − f2)] for the Gaussian logits, by quadrature on the difference.
    const { mean, covariance } = post.linearisedLogits(xt);
    const mu = mean.arraySync();
    const cov = covariance.arraySync();
    for (let i = 0; i < 4; i++) {
      const m = mu[i][0] - mu[i][1];
      const s = Math.sqrt(cov[i][0][0] + cov[i][1][1] - 2 * cov[i][0][1]);
      let exact = 0;
      const steps = 4000;
      for (let k = 0; k < steps; k++) {
        const lo = -8 + (16 * k) / steps;
        const hi = lo + 16 / steps;
        exact += (normalCdf(hi) - normalCdf(lo)) / (1 + Math.exp(-(m + (s * (lo + hi)) / 2)));
      }
      const se = Math.sqrt((exact * (1 - exact)) / 20000);
      expect(Math.abs(mc[i][0] - exact)).toBeLessThan(4 * se + 1e-4);
      expect(Math.abs(probit[i][0] - exact)).toBeLessThan(0.03);
      expect(Math.abs(nn[i][0] - exact)).toBeLessThan(0.08);
    }
    tf.dispose([mean, covariance]);
  });

  it('save → load reproduces the predictive exactly, and loading for other weights fails', async () => {
    const model = tinyConvNet(3);
    const xc = randomInputs(12, [6, 6, 2]);
    const yc = randomLabels(12, 3);
    const post = fitLaplace(model, { x: xc, y: yc }, { hessian: 'kron', priorPrecision: [1, 2, 3] });
    const dir = await mkdtemp(join(tmpdir(), 'laplace-'));
    try {
      await post.save(dir);
      const loaded = await LaplacePosterior.load(dir, model);
      expect(loaded.priorPrecision).toEqual([1, 2, 3]);
      const xt = randomInputs(3, [6, 6, 2], 51);
      expect(Array.from(loaded.predict(xt).dataSync())).toEqual(Array.from(post.predict(xt).dataSync()));
      expect(loaded.logMarginalLikelihood()).toBe(post.logMarginalLikelihood());
      const other = tinyConvNet(3, 99);
      await expect(LaplacePosterior.load(dir, other)).rejects.toThrow(/differ from the fitted MAP/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('sequential update: fitting D₁ then adding D₂ equals fitting D₁ ∪ D₂', () => {
    const model = tinyMlp(3, 4, 3);
    for (const hessian of ['kron', 'full'] as const) {
      const first = fitLaplace(model, { x: x.slice(0, 25), y: y.slice(0, 25) }, { hessian });
      first.update({ x: x.slice(25), y: y.slice(25) });
      const both = fitLaplace(model, { x, y }, { hessian });
      expect(first.dataSize).toBe(40);
      expect(first.logMarginalLikelihood()).toBeCloseTo(both.logMarginalLikelihood(), 3);
      expect(maxRelativeError(first.marginalVariances(), both.marginalVariances())).toBeLessThan(1e-4);
    }
  });

  it('per-layer prior optimisation raises the evidence over the scalar optimum; grid search picks a validation-NLL minimum', async () => {
    const model = tinyMlp(3, 4, 3);
    const post = fitLaplace(model, { x, y }, { hessian: 'kron' });
    await post.optimizePriorPrecision();
    const scalar = post.logMarginalLikelihood();
    await post.optimizePriorPrecision({ perLayer: true });
    expect(post.priorPrecision.length).toBe(2);
    expect(post.logMarginalLikelihood()).toBeGreaterThanOrEqual(scalar - 1e-9);
    const validation = { x: randomInputs(20, [3], 61), y: randomLabels(20, 3, 62) };
    const grid = [0.01, 0.1, 1, 10, 100];
    await post.optimizePriorPrecision({ method: 'gridsearch', validation, grid });
    const chosen = post.priorPrecision[0];
    const nll = (p: number) => {
      post.setPriorPrecision(p);
      return post.negativeLogLikelihood(validation);
    };
    const values = grid.map(nll);
    expect(values[grid.indexOf(chosen)]).toBeCloseTo(Math.min(...values), 10);
  });

  it('the NLL at several priors in one pass equals one predictive per prior (Kronecker and diagonal, dense and conv)', () => {
    const grid = [0.05, 1, 20, [0.5, 3, 40]];
    for (const hessian of ['kron', 'diag'] as const) {
      const model = tinyConvNet(3);
      const data = { x: randomInputs(12, [6, 6, 2], 81), y: randomLabels(12, 3, 82) };
      const post = fitLaplace(model, data, { hessian, priorPrecision: 2 });
      const validation = { x: randomInputs(10, [6, 6, 2], 83), y: randomLabels(10, 3, 84) };
      const shared = post.negativeLogLikelihoodAtPriors(validation, grid, 4);
      // The structure's prediction tensors are cached by the first call; a second one adds nothing.
      const before = tf.memory().numTensors;
      expect(post.negativeLogLikelihoodAtPriors(validation, grid, 4)).toEqual(shared);
      expect(tf.memory().numTensors).toBe(before);
      const oneByOne = grid.map((prior) => {
        post.setPriorPrecision(prior);
        return post.negativeLogLikelihood(validation);
      });
      // Different priors give different figures, and the shared pass reproduces each one.
      expect(new Set(oneByOne.map((v) => v.toFixed(6))).size).toBe(grid.length);
      shared.forEach((v, i) => expect(v).toBeCloseTo(oneByOne[i], 5));
      post.dispose();
    }
    const full = fitLaplace(tinyMlp(3, 4, 3), { x, y }, { hessian: 'full' });
    expect(() => full.negativeLogLikelihoodAtPriors({ x, y }, [1])).toThrow(/diagonal or Kronecker/);
  });

  it('prediction loops leave no tensors behind', () => {
    const model = tinyConvNet(3);
    const post = fitLaplace(
      model,
      { x: randomInputs(8, [6, 6, 2]), y: randomLabels(8, 3) },
      { hessian: 'kron' },
    );
    const xt = randomInputs(5, [6, 6, 2], 71);
    post.predict(xt, { batchSize: 2 }).dispose();
    const before = tf.memory().numTensors;
    for (let i = 0; i < 3; i++) {
      post.predict(xt, { batchSize: 2 }).dispose();
      post.predict(xt, { method: 'nn', samples: 3 }).dispose();
      post.logMarginalLikelihood(2);
    }
    expect(tf.memory().numTensors).toBe(before);
  });

  it('a fit of a new conv model holds nothing once disposed (no per-layer caches)', () => {
    const model = tinyConvNet(3);
    const x = randomInputs(8, [6, 6, 2]);
    const y = randomLabels(8, 3);
    const before = tf.memory().numTensors;
    const post = fitLaplace(model, { x, y }, { hessian: 'kron' });
    post.predict(x, { batchSize: 4 }).dispose();
    post.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });
});
