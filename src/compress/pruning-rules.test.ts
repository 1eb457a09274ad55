import { describe, expect, it } from 'vitest';
import { computeMasks, keepTopFraction } from './masks.js';
import { criterionStatistic, pruneMask } from './pruning-rules.js';
import type { WeightPosterior } from './weight-posterior.js';

// Hand-built posterior: means and standard deviations chosen so each rule's verdict is known by hand.
//   index:      0     1      2     3      4
//   μ:          1.0   0.1    0.0   -2.0   0.05
//   σ:          0.1   0.5    1.0   1.0    0.01
//   |μ|/σ:      10    0.2    0     2      5
const mu = Float32Array.from([1.0, 0.1, 0.0, -2.0, 0.05]);
const sigma = [0.1, 0.5, 1.0, 1.0, 0.01];
const posterior: WeightPosterior = {
  layer: 'dense',
  name: 'dense/kernel',
  shape: [5],
  mean: mu,
  variance: Float32Array.from(sigma.map((s) => s * s)),
  logAlpha: Float32Array.from(sigma.map((s, i) => Math.log(s * s) - Math.log(mu[i] ** 2 + 1e-8))),
  priorPrecision: 1,
};

describe('pruning rules on a hand-built posterior', () => {
  it('log α ≥ 3 prunes the weights whose noise dominates their mean', () => {
    // log α = log(σ²/μ²): [-4.6, 3.2, 18.4, -1.39, -3.2]
    expect(Array.from(pruneMask(posterior, 'log-alpha', 3))).toEqual([1, 0, 0, 1, 1]);
  });

  it('|μ|/σ < λ prunes low signal-to-noise weights', () => {
    expect(Array.from(criterionStatistic(posterior, 'snr')).map((v) => +v.toFixed(4))).toEqual([
      10, 0.2, 0, 2, 5,
    ]);
    expect(Array.from(pruneMask(posterior, 'snr', 1))).toEqual([1, 0, 0, 1, 1]);
    expect(Array.from(pruneMask(posterior, 'snr', 3))).toEqual([1, 0, 0, 0, 1]);
  });

  it('the density ratio q(0)/q(μ) = exp(−μ²/2σ²) prunes like the equivalent SNR cut', () => {
    const ratio = criterionStatistic(posterior, 'density-ratio');
    expect(ratio[0]).toBeCloseTo(Math.exp(-50), 20);
    expect(ratio[2]).toBeCloseTo(1, 12);
    // exp(−s²/2) ≥ exp(−1/2)  ⇔  s ≤ 1: the same verdict as SNR < 1 (ties aside).
    expect(Array.from(pruneMask(posterior, 'density-ratio', Math.exp(-0.5)))).toEqual([1, 0, 0, 1, 1]);
  });

  it('mass near zero is Φ((ε−μ)/σ) − Φ((−ε−μ)/σ)', () => {
    const mass = criterionStatistic(posterior, 'mass-near-zero', { epsilon: 0.5 });
    // Weight 2: μ=0, σ=1, ε=0.5 → 2Φ(0.5) − 1 = 0.38292492; weight 1: μ=0.1, σ=0.5 → Φ(0.8) − Φ(−1.2) = 0.67307.
    expect(mass[2]).toBeCloseTo(0.382924922548026, 7);
    expect(mass[1]).toBeCloseTo(0.7881446014166034 - 0.11506967022170822, 7);
    // Weight 4 (μ=0.05, σ=0.01) lies entirely inside ±0.5; weight 3 has P = Φ(2.5) − Φ(1.5) ≈ 0.06.
    expect(Array.from(pruneMask(posterior, 'mass-near-zero', 0.3, { epsilon: 0.5 }))).toEqual([
      1, 0, 0, 1, 0,
    ]);
  });

  it('Savage–Dickey log BF₀₁ = ½ log(1/(τσ²)) − μ²/(2σ²) prunes when positive', () => {
    const bf = criterionStatistic(posterior, 'savage-dickey');
    expect(bf[2]).toBeCloseTo(0, 12); // σ = 1, μ = 0, τ = 1: the posterior at 0 equals the prior at 0.
    expect(bf[1]).toBeCloseTo(0.5 * Math.log(1 / 0.25) - 0.01 / 0.5, 6);
    // Weight 4: ½ log(1e4) − 12.5 < 0 (a sharp posterior away from zero); weight 2 sits exactly at 0 (not pruned).
    expect(Array.from(pruneMask(posterior, 'savage-dickey', 0))).toEqual([1, 0, 1, 1, 1]);
  });

  it('magnitude pruning ignores the variance', () => {
    expect(Array.from(pruneMask(posterior, 'magnitude', 0.08))).toEqual([1, 1, 0, 1, 0]);
  });

  it('a target sparsity prunes exactly that many weights, globally or per layer', () => {
    const other: WeightPosterior = {
      ...posterior,
      layer: 'dense_2',
      name: 'dense_2/kernel',
      mean: mu.map((m) => m * 100),
    };
    const global = computeMasks([posterior, other], { criterion: 'magnitude', targetSparsity: 0.5 });
    // Global ranking of |μ| over [1, .1, 0, 2, .05] and [100, 10, 0, 200, 5]: the five smallest are 0, 0, .05, .1, 1.
    expect(Array.from(global.get('dense/kernel')!)).toEqual([0, 0, 0, 1, 0]);
    expect(Array.from(global.get('dense_2/kernel')!)).toEqual([1, 1, 0, 1, 1]);
    const perLayer = computeMasks([posterior, other], {
      criterion: 'magnitude',
      targetSparsity: 0.4,
      scope: 'per-layer',
    });
    expect(Array.from(perLayer.get('dense/kernel')!)).toEqual([1, 1, 0, 1, 0]);
    expect(Array.from(perLayer.get('dense_2/kernel')!)).toEqual([1, 1, 0, 1, 0]);
    expect(Array.from(keepTopFraction(Float64Array.from([1, 1, 1, 1]), 0.5))).toEqual([0, 0, 1, 1]);
  });

  it('per-layer thresholds override the default', () => {
    const masks = computeMasks([posterior], { criterion: 'snr', threshold: { dense: 3 } });
    expect(Array.from(masks.get('dense/kernel')!)).toEqual([1, 0, 0, 0, 1]);
  });
});
