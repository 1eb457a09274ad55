import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../../runtime/backend.js';
import { Random } from '../../runtime/random.js';
import {
  logGamma,
  logNormalGammaKl,
  logNormalGammaKlScalar,
  logNormalInverseGammaKl,
  logNormalInverseGammaKlScalar,
} from './logNormalKl.js';

beforeAll(async () => {
  await initBackend();
});

type Prior = { kind: 'gamma' | 'inverse-gamma'; shape: number; scale: number };

/** log density of the prior in float64, written from the textbook shape–scale forms. */
function logPrior(x: number, prior: Prior): number {
  const { shape: a, scale: b } = prior;
  const logX = Math.log(x);
  return prior.kind === 'gamma'
    ? -logGamma(a) - a * Math.log(b) + (a - 1) * logX - x / b
    : -logGamma(a) + a * Math.log(b) - (a + 1) * logX - b / x;
}

/** Monte-Carlo KL(LN(μ, σ²) ‖ prior) = E_q[log q(x) − log p(x)] with its standard error. */
function monteCarloKl(mu: number, sigma2: number, prior: Prior, draws: number, random: Random) {
  const sd = Math.sqrt(sigma2);
  let sum = 0;
  let sumSq = 0;
  for (let d = 0; d < draws; d++) {
    const e = random.normal();
    const logX = mu + sd * e;
    const logQ = -logX - 0.5 * Math.log(2 * Math.PI * sigma2) - 0.5 * e * e;
    const value = logQ - logPrior(Math.exp(logX), prior);
    sum += value;
    sumSq += value * value;
  }
  const mean = sum / draws;
  return { mean, standardError: Math.sqrt((sumSq / draws - mean * mean) / draws) };
}

describe('KL between a log-normal posterior and (inverse) gamma priors', () => {
  it('logGamma matches known values', () => {
    expect(logGamma(0.5)).toBeCloseTo(0.5 * Math.log(Math.PI), 12);
    expect(logGamma(5)).toBeCloseTo(Math.log(24), 12);
    expect(logGamma(1)).toBeCloseTo(0, 12);
    expect(logGamma(0.1)).toBeCloseTo(2.252712651734206, 10);
  });

  const tau2 = 1e-10;
  const cases: { mu: number; sigma2: number; prior: Prior }[] = [
    { mu: -0.7, sigma2: 2, prior: { kind: 'gamma', shape: 0.5, scale: 1 } },
    { mu: 0.5, sigma2: 0.3, prior: { kind: 'gamma', shape: 0.5, scale: 1 } },
    { mu: -2, sigma2: 0.05, prior: { kind: 'gamma', shape: 0.5, scale: 1 } },
    { mu: Math.log(0.5 * tau2), sigma2: 0.5, prior: { kind: 'gamma', shape: 0.5, scale: tau2 } },
    { mu: -25, sigma2: 1, prior: { kind: 'gamma', shape: 0.5, scale: tau2 } },
    { mu: 0.7, sigma2: 2, prior: { kind: 'inverse-gamma', shape: 0.5, scale: 1 } },
    { mu: -0.5, sigma2: 0.3, prior: { kind: 'inverse-gamma', shape: 0.5, scale: 1 } },
    { mu: 3, sigma2: 0.1, prior: { kind: 'inverse-gamma', shape: 0.5, scale: 1 } },
    { mu: 0.2, sigma2: 0.4, prior: { kind: 'gamma', shape: 2, scale: 0.5 } },
    { mu: -0.3, sigma2: 0.2, prior: { kind: 'inverse-gamma', shape: 3, scale: 2 } },
  ];

  it('closed forms agree with Monte-Carlo estimates of E_q[log q − log p] (2·10⁵ draws, ~1%)', () => {
    const random = new Random(17);
    for (const { mu, sigma2, prior } of cases) {
      const closed =
        prior.kind === 'gamma'
          ? logNormalGammaKlScalar(mu, sigma2, prior.shape, prior.scale)
          : logNormalInverseGammaKlScalar(mu, sigma2, prior.shape, prior.scale);
      const mc = monteCarloKl(mu, sigma2, prior, 200_000, random);
      expect(closed).toBeGreaterThan(0);
      expect(Math.abs(closed - mc.mean)).toBeLessThan(Math.max(0.01 * closed, 4 * mc.standardError, 0.005));
    }
  });

  it('tensor versions sum the element-wise closed forms (float32, 1e-5 relative)', () => {
    for (const kind of ['gamma', 'inverse-gamma'] as const) {
      const subset = cases.filter(
        (c) => c.prior.kind === kind && c.prior.shape === 0.5 && c.prior.scale === 1,
      );
      const mu = tf.tensor1d(subset.map((c) => c.mu));
      const logSigma2 = tf.tensor1d(subset.map((c) => Math.log(c.sigma2)));
      const kl =
        kind === 'gamma'
          ? logNormalGammaKl(mu, logSigma2, 0.5, 1)
          : logNormalInverseGammaKl(mu, logSigma2, 0.5, 1);
      const expected = subset.reduce(
        (total, c) =>
          total +
          (kind === 'gamma'
            ? logNormalGammaKlScalar(c.mu, c.sigma2, 0.5, 1)
            : logNormalInverseGammaKlScalar(c.mu, c.sigma2, 0.5, 1)),
        0,
      );
      expect(Math.abs(kl.dataSync()[0] - expected) / expected).toBeLessThan(1e-5);
      tf.dispose([mu, logSigma2, kl]);
    }
    // The global-scale prior G(½, τ₀² = 1e-10) stays finite in float32.
    const kl = logNormalGammaKl(tf.scalar(Math.log(0.5 * tau2)), tf.scalar(Math.log(0.5)), 0.5, tau2);
    const expected = logNormalGammaKlScalar(Math.log(0.5 * tau2), 0.5, 0.5, tau2);
    expect(Math.abs(kl.dataSync()[0] - expected)).toBeLessThan(1e-4 * Math.abs(expected) + 1e-4);
    kl.dispose();
  });

  it('the KL is minimised in μ where E_q matches the prior (E[x] = aθ for gamma, E[1/x] = a/b for inverse gamma)', () => {
    const sigma2 = 0.7;
    const grid = Array.from({ length: 2001 }, (_, i) => -5 + i * 0.005);
    const argmin = (f: (mu: number) => number) =>
      grid.reduce((best, mu) => (f(mu) < f(best) ? mu : best), grid[0]);
    const gammaBest = argmin((mu) => logNormalGammaKlScalar(mu, sigma2, 0.5, 2));
    expect(gammaBest).toBeCloseTo(Math.log(0.5 * 2) - sigma2 / 2, 2);
    const inverseBest = argmin((mu) => logNormalInverseGammaKlScalar(mu, sigma2, 0.5, 3));
    expect(inverseBest).toBeCloseTo(-Math.log(0.5 / 3) + sigma2 / 2, 2);
  });
});
