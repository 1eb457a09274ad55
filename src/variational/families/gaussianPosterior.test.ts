import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../../runtime/backend.js';
import { Random } from '../../runtime/random.js';
import { gaussianFamily, GaussianPosterior } from './gaussianPosterior.js';
import { buildStandaloneFamily } from './testFamily.js';

beforeAll(async () => {
  await initBackend();
});

/** KL(N(m, v) ‖ N(pm, pv)) in float64, the closed form written out independently. */
function klClosed(m: number[], v: number[], pm: number, pv: number): number {
  let total = 0;
  for (let i = 0; i < m.length; i++)
    total += 0.5 * (Math.log(pv / v[i]) + (v[i] + (m[i] - pm) ** 2) / pv - 1);
  return total;
}

function setParams(family: GaussianPosterior, mu: number[], logSigma2: number[]): void {
  family.initialise(tf.tensor1d(mu), tf.tensor1d(logSigma2));
}

describe('GaussianPosterior', () => {
  const random = new Random(7);
  const n = 40;
  const mu = Array.from({ length: n }, () => random.normal() * 0.5);
  const logSigma2 = Array.from({ length: n }, () => -3 + random.normal());
  const variance = logSigma2.map(Math.exp);

  it('has the closed-form Gaussian–Gaussian KL (softplus and exp parametrisations)', () => {
    for (const sigma of ['softplus', 'exp'] as const) {
      const family = buildStandaloneFamily(gaussianFamily({ sigma, priorMean: 0.1, priorStd: 0.7 }), [
        n,
      ]) as GaussianPosterior;
      setParams(family, mu, logSigma2);
      const kl = family.kl().dataSync()[0];
      const expected = klClosed(mu, variance, 0.1, 0.49);
      expect(Math.abs(kl - expected) / expected).toBeLessThan(1e-5);
      const v = family.variance().dataSync();
      for (let i = 0; i < n; i++) expect(v[i]).toBeCloseTo(variance[i], 6);
    }
  });

  it('Monte-Carlo KL (mean of log q − log p over draws) converges to the closed form', () => {
    const family = buildStandaloneFamily(gaussianFamily({ priorStd: 0.7 }), [n]) as GaussianPosterior;
    setParams(family, mu, logSigma2);
    const exact = family.kl().dataSync()[0];
    const draws = 4000;
    const rng = new Random(11);
    const values: number[] = [];
    for (let s = 0; s < draws; s++) {
      values.push(
        tf.tidy(() => {
          const w = family.sample(rng);
          return tf.sub(family.logPosterior(w), family.logPrior(w)).dataSync()[0];
        }),
      );
    }
    const mean = values.reduce((a, b) => a + b, 0) / draws;
    const sd = Math.sqrt(values.reduce((a, b) => a + (b - mean) ** 2, 0) / (draws - 1));
    const se = sd / Math.sqrt(draws);
    expect(Math.abs(mean - exact)).toBeLessThan(4 * se);
    // With fewer draws the estimate is further off on average: the error shrinks like 1/√draws.
    expect(se).toBeLessThan(0.05 * exact);
  });

  it('draws samples with the posterior mean and variance', () => {
    const family = buildStandaloneFamily(gaussianFamily(), [3]) as GaussianPosterior;
    setParams(family, [0.5, -1, 2], [Math.log(0.04), Math.log(0.25), Math.log(1)]);
    const rng = new Random(3);
    const draws = tf.tidy(() => tf.stack(Array.from({ length: 20000 }, () => family.sample(rng))));
    const { mean, variance: v } = tf.moments(draws, 0);
    const m = mean.dataSync();
    const vv = v.dataSync();
    const expectedVar = [0.04, 0.25, 1];
    [0.5, -1, 2].forEach((target, i) => {
      expect(Math.abs(m[i] - target)).toBeLessThan(4 * Math.sqrt(expectedVar[i] / 20000));
      expect(Math.abs(vv[i] / expectedVar[i] - 1)).toBeLessThan(0.04);
    });
    tf.dispose([draws, mean, v]);
  });

  it('empirical Bayes: moments, evidence and evidence-with-mean rules', () => {
    const meanOf = (a: number[]) => a.reduce((x, y) => x + y, 0) / a.length;
    const muMean = meanOf(mu);
    const spread = meanOf(mu.map((m) => (m - muMean) ** 2));
    const cases = [
      { rule: 'moments', mean: muMean, variance: spread },
      { rule: 'evidence', mean: 0.2, variance: meanOf(mu.map((m, i) => (m - 0.2) ** 2 + variance[i])) },
      { rule: 'evidence-with-mean', mean: muMean, variance: spread + meanOf(variance) },
    ] as const;
    for (const c of cases) {
      const family = buildStandaloneFamily(gaussianFamily({ empiricalBayes: c.rule, priorMean: 0.2 }), [
        n,
      ]) as GaussianPosterior;
      setParams(family, mu, logSigma2);
      family.updatePrior();
      const prior = family.prior();
      expect(prior.mean.dataSync()[0]).toBeCloseTo(c.mean, 5);
      expect(prior.variance.dataSync()[0]).toBeCloseTo(c.variance, 5);
      if (c.rule !== 'moments') {
        // The evidence rules set the KL-minimising prior: perturbing σp² either way increases the KL.
        const best = family.kl().dataSync()[0];
        for (const factor of [0.97, 1.03]) {
          expect(klClosed(mu, variance, c.mean, c.variance * factor)).toBeGreaterThan(best);
        }
      }
    }
  });

  it('initialises from given weights with a small variance', () => {
    const family = buildStandaloneFamily(gaussianFamily(), [2, 2]);
    family.initialise(
      tf.tensor2d([
        [1, 2],
        [3, 4],
      ]),
      -12,
    );
    expect(Array.from(family.mean().dataSync())).toEqual([1, 2, 3, 4]);
    for (const v of family.variance().dataSync()) expect(Math.log(v)).toBeCloseTo(-12, 4);
  });
});
