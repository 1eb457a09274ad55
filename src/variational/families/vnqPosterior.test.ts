import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../../runtime/backend.js';
import { BayesianDense } from '../bayesianDense.js';
import { buildFamilyWithVariables, finiteDifference } from './familyTestVariables.js';
import { quantizingPriorKl } from './quantizingPrior.js';
import { vnqFamily, VnqPosterior } from './vnqPosterior.js';

beforeAll(async () => {
  await initBackend();
});

const THETA = [0.19, -0.22, 0.02, 0.09, 0.11, -0.35, 0.004, -0.05];
const LOG_SIGMA2 = [-9, -8, -3, -7, -9, -6, -8, -4];

function family(r = 0.2) {
  const built = buildFamilyWithVariables<VnqPosterior>(vnqFamily(), [2, 4]);
  built.set('kernel_theta', THETA);
  built.set('kernel_log_sigma2', LOG_SIGMA2);
  built.family.setCodebookScale(r);
  return built;
}

describe('VnqPosterior (Achterhold et al. 2018)', () => {
  it('KL is the quantizing-prior approximation at the learned codebook [−r, 0, r]', () => {
    const { family: f } = family(0.21);
    expect(f.codebookValues().map((v) => Number(v.toFixed(6)))).toEqual([-0.21, 0, 0.21]);
    const kl = f.kl();
    const expected = tf.tidy(() =>
      quantizingPriorKl(tf.tensor1d(THETA), tf.tensor1d(LOG_SIGMA2), tf.tensor1d([-0.21, 0.21])),
    );
    expect(Math.abs(kl.dataSync()[0] - expected.dataSync()[0])).toBeLessThan(1e-5 * expected.dataSync()[0]);
    tf.dispose([kl, expected]);
  });

  it('clips log σ² to [−10, 1] wherever it is read', () => {
    const { family: f, set } = family();
    set('kernel_log_sigma2', [-20, 5, -3, -10.5, 0.5, 1, -9.99, 3]);
    const variance = f.variance();
    const expected = [-10, 1, -3, -10, 0.5, 1, -9.99, 1].map(Math.exp);
    variance.dataSync().forEach((v, k) => expect(v / expected[k]).toBeCloseTo(1, 5));
    variance.dispose();
  });

  it('KL gradients match central finite differences (θ, log σ² and the codebook variable)', () => {
    const { family: f, variables } = family();
    const fn = () => f.kl();
    for (const [name, index, h] of [
      ['kernel_theta', 3, 1e-3],
      ['kernel_theta', 4, 1e-3],
      ['kernel_log_sigma2', 2, 1e-2],
      ['kernel_codebook_raw', 0, 0.1],
    ] as const) {
      const { numeric, automatic } = finiteDifference(fn, variables.get(name)!, index, h);
      expect(Math.abs(automatic)).toBeGreaterThan(1e-4);
      expect(Math.abs(numeric - automatic)).toBeLessThan(0.02 * Math.abs(automatic) + 1e-3);
    }
  });

  it('the codebook learns at the learning rate × codebookLrScale under Adam', () => {
    const { family: f } = family(0.2);
    const optimizer = tf.train.adam(0.1);
    optimizer.minimize(() => f.kl());
    const r = f.codebookValues()[2];
    // Adam's first step moves every variable by the learning rate; r = 0.01·raw moves by 0.001.
    expect(Math.abs(Math.abs(r - 0.2) - 0.001)).toBeLessThan(2e-5);
    optimizer.dispose();
  });

  it('post-training quantisation: prune log α ≥ 3 (relative to 0), snap the rest to the nearest codebook value', () => {
    const { family: f } = family(0.2);
    const logAlpha = f.logAlpha();
    const la = logAlpha.dataSync();
    THETA.forEach((t, k) => expect(la[k]).toBeCloseTo(LOG_SIGMA2[k] - Math.log(t * t + 1e-8), 3));
    // log α: 0.02 → 4.8 and 0.004 → 3.0 (pruned), −0.05 → 2.0 (kept, snaps to 0).
    const indices = f.codebookIndices(3);
    expect(Array.from(indices.dataSync())).toEqual([2, 0, 1, 1, 2, 0, 1, 1]);
    const quantized = f.quantizedWeights(3);
    const q = Array.from(quantized.dataSync()).map((v) => Number(v.toFixed(6)));
    expect(q).toEqual([0.2, -0.2, 0, 0, 0.2, -0.2, 0, 0]);
    tf.dispose([logAlpha, indices, quantized]);
  });

  it('options round-trip and invalid values are refused', () => {
    const { family: f } = family();
    expect(f.getOptions()).toMatchObject({
      codebookInit: 0.2,
      codebookLrScale: 0.01,
      tau: 0.075,
      initLogSigma2: -8,
    });
    expect(() => new VnqPosterior({ tau: 0 })).toThrow(/tau/);
    expect(() => new VnqPosterior({ codebookInit: -1 })).toThrow(/codebookInit/);
    expect(() => f.setCodebookScale(0)).toThrow(/codebook/);
  });

  it('inside a Bayesian dense layer: same KL, posterior-mean and pruned-mean predictions', () => {
    const layer = new BayesianDense({ units: 4, useBias: false, family: vnqFamily() });
    layer.build([null, 2]);
    const byName = new Map(layer.weights.map((w) => [w.originalName.split('/').pop()!, w]));
    tf.tidy(() => {
      byName.get('kernel_theta')!.write(tf.tensor2d(THETA, [2, 4]));
      byName.get('kernel_log_sigma2')!.write(tf.tensor2d(LOG_SIGMA2, [2, 4]));
    });
    const { family: reference } = family(0.2);
    const a = layer.kl();
    const b = reference.kl();
    expect(a.dataSync()[0]).toBeCloseTo(b.dataSync()[0], 4);
    const x = tf.tensor2d([[1, 2]]);
    layer.predictionMode = 'pruned-mean';
    const y = layer.apply(x) as tf.Tensor;
    const keep = THETA.map((t, k) => (LOG_SIGMA2[k] - Math.log(t * t + 1e-8) < 3 ? 1 : 0));
    const expected = [0, 1, 2, 3].map((j) => THETA[j] * keep[j] + 2 * THETA[4 + j] * keep[4 + j]);
    y.dataSync().forEach((v, j) => expect(v).toBeCloseTo(expected[j], 5));
    tf.dispose([a, b, x, y]);
  });

  it('does not leak tensors over repeated KL, forward and quantisation calls', () => {
    const layer = new BayesianDense({ units: 3, family: vnqFamily() });
    const x = tf.randomNormal([6, 4]);
    layer.apply(x, { training: true });
    const family = layer.family() as VnqPosterior;
    const before = tf.memory().numTensors;
    for (let i = 0; i < 4; i++) {
      tf.tidy(() => {
        layer.apply(x, { training: true });
        layer.kl();
      });
      tf.dispose([
        family.quantizedWeights(),
        family.codebookIndices(2),
        family.codebook(),
        family.logAlpha(),
      ]);
      family.codebookValues();
    }
    expect(tf.memory().numTensors).toBe(before);
    x.dispose();
  });
});
