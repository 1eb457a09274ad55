import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../../runtime/backend.js';
import { Random } from '../../runtime/random.js';
import { BayesianConv2D } from '../bayesianConv2d.js';
import { BayesianDense } from '../bayesianDense.js';
import { logUniformKlScalar } from '../logUniformKl.js';
import { withNoiseSource } from '../noise.js';
import { buildFamilyWithVariables, finiteDifference } from './familyTestVariables.js';
import { groupNormalJeffreysFamily, GroupNormalJeffreysPosterior } from './groupNormalJeffreys.js';
import { groupWeightMask } from './groupStructure.js';
import { buildStandaloneFamily } from './testFamily.js';

beforeAll(async () => {
  await initBackend();
});

const IN = 4;
const OUT = 3;
// Group parameters chosen to span log α from about −4 to +3 (kept to pruned groups).
const Z_MU = [1, 0.5, -0.8, 0.05];
const Z_LOG_SIGMA2 = [-4, -2, -1, -3];

function weightParams(seed: number): { mu: number[]; logSigma2: number[] } {
  const random = new Random(seed);
  const mu = Array.from({ length: IN * OUT }, () => random.normal() * 0.7);
  const logSigma2 = Array.from({ length: IN * OUT }, () => -3 + 3 * random.uniform());
  return { mu, logSigma2 };
}

function denseFamily(seed = 1) {
  const built = buildFamilyWithVariables<GroupNormalJeffreysPosterior>(groupNormalJeffreysFamily(), [
    IN,
    OUT,
  ]);
  const { mu, logSigma2 } = weightParams(seed);
  built.set('kernel_mu', mu);
  built.set('kernel_log_sigma2', logSigma2);
  built.set('kernel_z_mu', Z_MU);
  built.set('kernel_z_log_sigma2', Z_LOG_SIGMA2);
  return { ...built, mu, logSigma2 };
}

/** E[w] and Var[w] of eq. 10–11 written out in float64 (row-major [IN, OUT], groups over rows). */
function closedMoments(mu: number[], logSigma2: number[]): { mean: number[]; variance: number[] } {
  const mean: number[] = [];
  const variance: number[] = [];
  for (let i = 0; i < IN; i++) {
    const zm = Z_MU[i];
    const zv = Math.exp(Z_LOG_SIGMA2[i]);
    for (let j = 0; j < OUT; j++) {
      const m = mu[i * OUT + j];
      const s2 = Math.exp(logSigma2[i * OUT + j]);
      mean.push(zm * m);
      variance.push(zm * zm * s2 + zv * m * m + zv * s2);
    }
  }
  return { mean, variance };
}

describe('GroupNormalJeffreysPosterior (Louizos et al. 2017, §3.1)', () => {
  it('KL = Σ groups of the Sparse VD approximation at the group log α + Σ weights KL(N(μ, σ²) ‖ N(0, 1))', () => {
    const { family, mu, logSigma2 } = denseFamily();
    let expected = 0;
    for (let i = 0; i < IN; i++)
      expected += logUniformKlScalar(Z_LOG_SIGMA2[i] - Math.log(Z_MU[i] ** 2 + 1e-8));
    for (let k = 0; k < mu.length; k++)
      expected += 0.5 * (-logSigma2[k] + Math.exp(logSigma2[k]) + mu[k] ** 2 - 1);
    const kl = family.kl();
    expect(Math.abs(kl.dataSync()[0] - expected) / expected).toBeLessThan(1e-5);
    kl.dispose();
    const groupLogAlpha = family.groupLogAlpha();
    const logAlpha = Array.from(groupLogAlpha.dataSync());
    groupLogAlpha.dispose();
    logAlpha.forEach((la, i) => expect(la).toBeCloseTo(Z_LOG_SIGMA2[i] - Math.log(Z_MU[i] ** 2), 4));
  });

  it('the weight part equals a Monte-Carlo estimate of E_q(z) KL(q(w|z) ‖ p(w|z)) with p(w|z) = N(0, z²) (1e5 draws, < 1%)', () => {
    const { mu, logSigma2 } = weightParams(1);
    const random = new Random(3);
    const draws = 100_000;
    let sum = 0;
    let sumSq = 0;
    for (let d = 0; d < draws; d++) {
      let logRatio = 0;
      for (let i = 0; i < IN; i++) {
        const z = Z_MU[i] + Math.exp(0.5 * Z_LOG_SIGMA2[i]) * random.normal();
        for (let j = 0; j < OUT; j++) {
          const m = mu[i * OUT + j];
          const s2 = Math.exp(logSigma2[i * OUT + j]);
          const w = z * (m + Math.sqrt(s2) * random.normal());
          // log N(w; zμ, z²σ²) − log N(w; 0, z²); the ½ log 2π and log|z| terms cancel.
          logRatio += -0.5 * Math.log(s2) - (w - z * m) ** 2 / (2 * z * z * s2) + (w * w) / (2 * z * z);
        }
      }
      sum += logRatio;
      sumSq += logRatio * logRatio;
    }
    const estimate = sum / draws;
    const standardError = Math.sqrt((sumSq / draws - estimate ** 2) / draws);
    let exact = 0;
    for (let k = 0; k < mu.length; k++)
      exact += 0.5 * (-logSigma2[k] + Math.exp(logSigma2[k]) + mu[k] ** 2 - 1);
    expect(Math.abs(estimate - exact)).toBeLessThan(Math.max(0.01 * exact, 4 * standardError));
  });

  it('the group part tracks the exact KL(q(z) ‖ p(z) ∝ 1/|z|) up to one constant (Monte-Carlo, spread < 0.02)', () => {
    // −KL = E_q log p(z) + H(q) = −E_q log|z| + ½ log(2πe σ_z²) + C; the approximation must differ from it by the same
    // C for every group.
    const random = new Random(5);
    const draws = 200_000;
    const offsets = Z_MU.map((m, i) => {
      const sd = Math.exp(0.5 * Z_LOG_SIGMA2[i]);
      let logAbs = 0;
      for (let d = 0; d < draws; d++) logAbs += Math.log(Math.abs(m + sd * random.normal()));
      const exactNegKl = -logAbs / draws + 0.5 * (Math.log(2 * Math.PI * Math.E) + Z_LOG_SIGMA2[i]);
      const approxNegKl = -logUniformKlScalar(Z_LOG_SIGMA2[i] - Math.log(m * m));
      return approxNegKl - exactNegKl;
    });
    expect(Math.max(...offsets) - Math.min(...offsets)).toBeLessThan(0.02);
  });

  it('marginal mean and variance match eq. 10–11 and Monte-Carlo of the hierarchical sampler (1e5 draws)', () => {
    const { family, mu, logSigma2 } = denseFamily();
    const closed = closedMoments(mu, logSigma2);
    const mean = family.mean();
    const variance = family.variance();
    const m = Array.from(mean.dataSync());
    const v = Array.from(variance.dataSync());
    tf.dispose([mean, variance]);
    closed.mean.forEach((x, k) => expect(m[k]).toBeCloseTo(x, 5));
    closed.variance.forEach((x, k) => expect(Math.abs(v[k] - x) / x).toBeLessThan(1e-5));

    // Hierarchical sampler in float64: z ~ N(μ_z, σ_z²) per row, w = z·w̃, w̃ ~ N(μ, σ²).
    const random = new Random(9);
    const draws = 100_000;
    const s1 = new Float64Array(IN * OUT);
    const s2 = new Float64Array(IN * OUT);
    for (let d = 0; d < draws; d++) {
      for (let i = 0; i < IN; i++) {
        const z = Z_MU[i] + Math.exp(0.5 * Z_LOG_SIGMA2[i]) * random.normal();
        for (let j = 0; j < OUT; j++) {
          const k = i * OUT + j;
          const w = z * (mu[k] + Math.exp(0.5 * logSigma2[k]) * random.normal());
          s1[k] += w;
          s2[k] += w * w;
        }
      }
    }
    for (let k = 0; k < IN * OUT; k++) {
      const mcMean = s1[k] / draws;
      const mcVar = s2[k] / draws - mcMean * mcMean;
      expect(Math.abs(mcMean - m[k])).toBeLessThan(4 * Math.sqrt(v[k] / draws));
      expect(Math.abs(mcVar - v[k]) / v[k]).toBeLessThan(0.03);
    }
  });

  it('sample() draws from the same hierarchical distribution (3000 draws)', () => {
    const { family } = denseFamily();
    const random = new Random(13);
    const draws = 3000;
    const s1 = new Float64Array(IN * OUT);
    const s2 = new Float64Array(IN * OUT);
    // Products within a row share z: check the row correlation too (w_i0·w_i1 has mean E[z²]μ_i0μ_i1).
    let cross = 0;
    for (let d = 0; d < draws; d++) {
      const w = family.sample(random);
      const values = w.dataSync();
      w.dispose();
      for (let k = 0; k < IN * OUT; k++) {
        s1[k] += values[k];
        s2[k] += values[k] * values[k];
      }
      cross += values[2 * OUT] * values[2 * OUT + 1];
    }
    const mean = family.mean();
    const variance = family.variance();
    const m = mean.dataSync();
    const v = variance.dataSync();
    for (let k = 0; k < IN * OUT; k++) {
      expect(Math.abs(s1[k] / draws - m[k])).toBeLessThan(4.5 * Math.sqrt(v[k] / draws));
      expect(Math.abs((s2[k] / draws - (s1[k] / draws) ** 2) / v[k] - 1)).toBeLessThan(0.12);
    }
    const { mu } = weightParams(1);
    const ez2 = Z_MU[2] ** 2 + Math.exp(Z_LOG_SIGMA2[2]);
    const expectedCross = ez2 * mu[2 * OUT] * mu[2 * OUT + 1];
    expect(Math.abs(cross / draws - expectedCross)).toBeLessThan(0.1 * Math.abs(expectedCross) + 0.02);
    tf.dispose([mean, variance]);
  });

  it('KL gradients match central finite differences', () => {
    const { family, variables } = denseFamily();
    const f = () => family.kl();
    for (const [name, index, h] of [
      ['kernel_z_mu', 1, 1e-3],
      ['kernel_z_log_sigma2', 2, 1e-2],
      ['kernel_mu', 5, 1e-2],
      ['kernel_log_sigma2', 7, 1e-2],
    ] as const) {
      const { numeric, automatic } = finiteDifference(f, variables.get(name)!, index, h);
      expect(Math.abs(numeric - automatic)).toBeLessThan(0.01 * Math.abs(automatic) + 2e-3);
    }
  });

  it('groups: input neurons for dense kernels, output filters for conv kernels; biases are refused', () => {
    const dense = buildStandaloneFamily(groupNormalJeffreysFamily(), [5, 3]) as GroupNormalJeffreysPosterior;
    expect(dense.layout()).toMatchObject({ side: 'input', axis: 0, count: 5 });
    const conv = buildStandaloneFamily(
      groupNormalJeffreysFamily(),
      [3, 3, 2, 4],
    ) as GroupNormalJeffreysPosterior;
    expect(conv.layout()).toMatchObject({ side: 'output', axis: 3, count: 4 });
    const convIn = buildStandaloneFamily(
      groupNormalJeffreysFamily({ groupAxis: 'input' }),
      [3, 3, 2, 4],
    ) as GroupNormalJeffreysPosterior;
    expect(convIn.layout()).toMatchObject({ side: 'input', axis: 2, count: 2 });
    expect(() => buildStandaloneFamily(groupNormalJeffreysFamily(), [4])).toThrow(/flat family/);
    // Initialisation of the paper: μ_z ≈ 1, log σ_z² ≈ −9, log σ² ≈ −9.
    const zMean = dense.groupScaleMean();
    for (const value of zMean.dataSync()) expect(Math.abs(value - 1)).toBeLessThan(0.05);
    const logAlpha = dense.groupLogAlpha();
    for (const value of logAlpha.dataSync()) expect(Math.abs(value + 9)).toBeLessThan(0.1);
    tf.dispose([zMean, logAlpha]);
  });

  it('pruning: log α is the group log α over the kernel; pruned-mean removes whole rows; outer-product masks', () => {
    const { family } = denseFamily();
    const logAlpha = family.logAlpha();
    const la = logAlpha.dataSync();
    for (let i = 0; i < IN; i++)
      for (let j = 0; j < OUT; j++)
        expect(la[i * OUT + j]).toBeCloseTo(Z_LOG_SIGMA2[i] - Math.log(Z_MU[i] ** 2), 4);
    // Group log α ≈ −4, −0.61, −0.55, 2.99: only the last group (μ_z = 0.05) is pruned at threshold 0.
    const keep = family.groupKeepMask(0);
    expect(Array.from(keep.dataSync())).toEqual([1, 1, 1, 0]);
    const mask = groupWeightMask(
      [IN, OUT],
      { input: 0, output: 1 },
      { input: keep, output: tf.tensor1d([1, 0, 1]) },
    );
    expect(Array.from(mask.dataSync())).toEqual([1, 0, 1, 1, 0, 1, 1, 0, 1, 0, 0, 0]);
    tf.dispose([logAlpha, keep, mask]);
  });

  it('initialise() sets E[w] to the given weights', () => {
    const { family } = denseFamily();
    const values = tf.tensor2d([0.1, -0.2, 0.3, 0.4, 0, -1, 2, 0.5, 0.25, -0.3, 0.7, 0.01], [IN, OUT]);
    family.initialise(values, -12);
    const mean = family.mean();
    const variance = family.variance();
    const v = values.dataSync();
    mean.dataSync().forEach((x, k) => expect(x).toBeCloseTo(v[k], 6));
    variance.dataSync().forEach((x, k) => expect(x).toBeLessThan(Math.exp(-12) + 2e-4 * v[k] * v[k] + 1e-7));
    tf.dispose([values, mean, variance]);
  });
});

describe('group normal-Jeffreys inside the Bayesian layers', () => {
  it('dense, local reparameterisation (and Flipout mean): pre-activation mean x·E[W], variance x²·Var[W] (2·10⁴ examples)', () => {
    const { family, mu, logSigma2 } = denseFamily();
    const layer = new BayesianDense({ units: OUT, useBias: false, family: groupNormalJeffreysFamily() });
    const x0 = [0.8, -1.2, 0.5, 2];
    const n = 20_000;
    const x = tf.tile(tf.tensor2d([x0]), [n, 1]);
    layer.build([null, IN]);
    // Copy the test parameters into the layer's family.
    const layerFamily = layer.family() as GroupNormalJeffreysPosterior;
    const byName = new Map(layer.weights.map((w) => [w.originalName.split('/').pop()!, w]));
    tf.tidy(() => {
      byName.get('kernel_mu')!.write(tf.tensor2d(mu, [IN, OUT]));
      byName.get('kernel_log_sigma2')!.write(tf.tensor2d(logSigma2, [IN, OUT]));
      byName.get('kernel_z_mu')!.write(tf.tensor1d(Z_MU));
      byName.get('kernel_z_log_sigma2')!.write(tf.tensor1d(Z_LOG_SIGMA2));
    });
    const closed = closedMoments(mu, logSigma2);
    for (const mode of ['local', 'flipout'] as const) {
      layer.reparameterisation = mode;
      const y = withNoiseSource(new Random(21), () => layer.apply(x, { training: true }) as tf.Tensor);
      const { mean, variance } = tf.moments(y, 0);
      const m = mean.dataSync();
      const v = variance.dataSync();
      for (let j = 0; j < OUT; j++) {
        let em = 0;
        let ev = 0;
        for (let i = 0; i < IN; i++) {
          em += x0[i] * closed.mean[i * OUT + j];
          ev += x0[i] ** 2 * closed.variance[i * OUT + j];
        }
        expect(Math.abs(m[j] - em)).toBeLessThan(4 * Math.sqrt(ev / n));
        // Flipout shares one perturbation per batch, so only its mean is checked across a batch.
        if (mode === 'local') expect(Math.abs(v[j] / ev - 1)).toBeLessThan(0.06);
      }
      tf.dispose([y, mean, variance]);
    }
    // The family inside the layer reports the same marginals as the standalone one.
    const a = layerFamily.variance();
    const b = family.variance();
    expect(tf.max(tf.abs(tf.sub(a, b))).dataSync()[0]).toBeLessThan(1e-6);
    tf.dispose([a, b, x]);
  });

  it('local reparameterisation with sampled scales matches explicit weight sampling (shared mode, 3000 passes)', () => {
    const { mu, logSigma2 } = denseFamily();
    const layer = new BayesianDense({ units: OUT, useBias: false, family: groupNormalJeffreysFamily() });
    layer.build([null, IN]);
    const byName = new Map(layer.weights.map((w) => [w.originalName.split('/').pop()!, w]));
    tf.tidy(() => {
      byName.get('kernel_mu')!.write(tf.tensor2d(mu, [IN, OUT]));
      byName.get('kernel_log_sigma2')!.write(tf.tensor2d(logSigma2, [IN, OUT]));
      byName.get('kernel_z_mu')!.write(tf.tensor1d(Z_MU));
      byName.get('kernel_z_log_sigma2')!.write(tf.tensor1d(Z_LOG_SIGMA2));
    });
    const x0 = tf.tensor2d([[0.8, -1.2, 0.5, 2]]);
    const passes = 3000;
    // Explicit: one weight draw w = z·w̃ per forward pass.
    layer.reparameterisation = 'shared';
    const explicit: number[][] = [];
    withNoiseSource(new Random(51), () => {
      for (let p = 0; p < passes; p++)
        explicit.push(
          tf.tidy(() => Array.from((layer.apply(x0, { training: true }) as tf.Tensor).dataSync())),
        );
    });
    // Local: z drawn per example, then N((x⊙z)·μ, (x⊙z)²·σ²).
    layer.reparameterisation = 'local';
    const local = withNoiseSource(new Random(52), () =>
      tf.tidy(() => {
        const y = layer.apply(tf.tile(x0, [passes, 1]), { training: true }) as tf.Tensor;
        const values = y.arraySync() as number[][];
        return values;
      }),
    );
    for (let j = 0; j < OUT; j++) {
      const stats = (rows: number[][]) => {
        const m = rows.reduce((a, r) => a + r[j], 0) / rows.length;
        const v = rows.reduce((a, r) => a + (r[j] - m) ** 2, 0) / rows.length;
        return { m, v };
      };
      const a = stats(explicit);
      const b = stats(local);
      expect(Math.abs(a.m - b.m)).toBeLessThan(4 * Math.sqrt((a.v + b.v) / passes));
      expect(Math.abs(a.v / b.v - 1)).toBeLessThan(0.15);
    }
    x0.dispose();
  });

  it('conv with one scale per output filter: y = z_f·(x ⋆ w̃) has the hierarchical mean and variance', () => {
    const layer = new BayesianConv2D({
      filters: 2,
      kernelSize: 2,
      useBias: false,
      family: groupNormalJeffreysFamily(),
    });
    layer.build([null, 3, 3, 2]);
    const random = new Random(4);
    const kernelMu = Array.from({ length: 2 * 2 * 2 * 2 }, () => random.normal() * 0.5);
    const kernelLogSigma2 = Array.from({ length: 16 }, () => -2 + random.uniform());
    const zMu = [0.9, -0.6];
    const zLogSigma2 = [-2, -1.5];
    const byName = new Map(layer.weights.map((w) => [w.originalName.split('/').pop()!, w]));
    tf.tidy(() => {
      byName.get('kernel_mu')!.write(tf.tensor4d(kernelMu, [2, 2, 2, 2]));
      byName.get('kernel_log_sigma2')!.write(tf.tensor4d(kernelLogSigma2, [2, 2, 2, 2]));
      byName.get('kernel_z_mu')!.write(tf.tensor1d(zMu));
      byName.get('kernel_z_log_sigma2')!.write(tf.tensor1d(zLogSigma2));
    });
    const image = tf.tensor4d(
      Array.from({ length: 18 }, () => random.normal()),
      [1, 3, 3, 2],
    );
    const n = 20_000;
    const y = withNoiseSource(
      new Random(8),
      () => layer.apply(tf.tile(image, [n, 1, 1, 1]), { training: true }) as tf.Tensor,
    );
    const { mean, variance } = tf.moments(y, 0);
    // Conditional on z_f the output is N(z_f·m, z_f²·s²) with m = x ⋆ μ and s² = x² ⋆ σ².
    const m = tf.conv2d(image, tf.tensor4d(kernelMu, [2, 2, 2, 2]), 1, 'valid').dataSync();
    const s2 = tf
      .conv2d(tf.square(image), tf.exp(tf.tensor4d(kernelLogSigma2, [2, 2, 2, 2])), 1, 'valid')
      .dataSync();
    const em = mean.dataSync();
    const ev = variance.dataSync();
    for (let k = 0; k < m.length; k++) {
      const f = k % 2;
      const zv = Math.exp(zLogSigma2[f]);
      const expectedMean = zMu[f] * m[k];
      const expectedVar = (zMu[f] ** 2 + zv) * (m[k] ** 2 + s2[k]) - zMu[f] ** 2 * m[k] ** 2;
      expect(Math.abs(em[k] - expectedMean)).toBeLessThan(4 * Math.sqrt(expectedVar / n));
      expect(Math.abs(ev[k] / expectedVar - 1)).toBeLessThan(0.06);
    }
    tf.dispose([image, y, mean, variance]);
  });

  it('does not leak tensors over repeated forward passes and KL evaluations', () => {
    const layer = new BayesianDense({ units: 3, family: groupNormalJeffreysFamily() });
    const x = tf.randomNormal([8, 5]);
    layer.apply(x, { training: true });
    const before = tf.memory().numTensors;
    for (let i = 0; i < 5; i++) {
      tf.tidy(() => {
        layer.apply(x, { training: true });
        layer.kl();
      });
      const family = layer.family() as GroupNormalJeffreysPosterior;
      const weights = layer.meanWeights(true);
      tf.dispose([family.logAlpha(), family.groupKeepMask(-3), weights.kernel, weights.bias ?? []]);
    }
    expect(tf.memory().numTensors).toBe(before);
    x.dispose();
  });
});
