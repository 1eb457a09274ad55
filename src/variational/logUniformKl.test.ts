import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../runtime/backend.js';
import { logUniformFamily } from './families/logUniformPosterior.js';
import { buildStandaloneFamily } from './families/testFamily.js';
import { logUniformKl, logUniformKlScalar } from './logUniformKl.js';

beforeAll(async () => {
  await initBackend();
});

/**
 * E log|u| for u ~ N(1, α) by quadrature. With u = ±e^t the integrand t·e^t·(φ(e^t) + φ(−e^t)) is smooth (the log
 * singularity at u = 0 disappears), so a fine trapezoid rule is accurate to ~1e-9.
 */
function expectedLogAbs(alpha: number): number {
  const sd = Math.sqrt(alpha);
  const phi = (u: number) => Math.exp(-0.5 * ((u - 1) / sd) ** 2) / (sd * Math.sqrt(2 * Math.PI));
  const lo = -40;
  const hi = Math.log(1 + 12 * sd) + 1;
  const steps = 40000;
  const h = (hi - lo) / steps;
  let total = 0;
  for (let i = 0; i <= steps; i++) {
    const t = lo + i * h;
    const e = Math.exp(t);
    const f = t * e * (phi(e) + phi(-e));
    total += (i === 0 || i === steps ? 0.5 : 1) * f;
  }
  return total * h;
}

describe('Sparse VD KL approximation (Molchanov et al. 2017, eq. 14)', () => {
  it('matches the numerically integrated KL over log α ∈ [−10, 10] up to a constant (RMS < 0.01)', () => {
    const grid = Array.from({ length: 201 }, (_, i) => -10 + i * 0.1);
    // −KL(q ‖ p) = ½ log α − E_{ε~N(1,α)} log|ε| + C for q = N(θ, αθ²) and p(w) ∝ 1/|w|.
    const exactNegKl = grid.map((la) => 0.5 * la - expectedLogAbs(Math.exp(la)));
    const approxNegKl = grid.map((la) => -logUniformKlScalar(la));
    const diff = grid.map((_, i) => approxNegKl[i] - exactNegKl[i]);
    const constant = diff.reduce((a, b) => a + b, 0) / diff.length;
    const rms = Math.sqrt(diff.reduce((a, d) => a + (d - constant) ** 2, 0) / diff.length);
    console.log(`Sparse VD KL: RMS ${rms.toFixed(5)}, constant ${constant.toFixed(4)}`);
    expect(rms).toBeLessThan(0.01);
    // The approximation is normalised so that the KL vanishes as α → ∞ (the prior's improper constant).
    expect(logUniformKlScalar(10)).toBeLessThan(0.01);
    expect(logUniformKlScalar(10)).toBeGreaterThan(0);
  });

  it('the tensor version agrees with the scalar version and decreases in log α', () => {
    const grid = [-10, -5, -1, 0, 1, 3, 5, 10];
    const values = logUniformKl(tf.tensor1d(grid)).dataSync()[0];
    const expected = grid.reduce((a, la) => a + logUniformKlScalar(la), 0);
    expect(values).toBeCloseTo(expected, 3);
    for (let i = 1; i < grid.length; i++) {
      expect(logUniformKlScalar(grid[i])).toBeLessThan(logUniformKlScalar(grid[i - 1]));
    }
  });

  it('the log-uniform family computes log α = log σ² − log θ², clipped to ±10, and its KL from it', () => {
    const family = buildStandaloneFamily(logUniformFamily(), [4]);
    family.initialise(tf.tensor1d([1, 0.1, 1e-6, -2]), -4);
    const logAlpha = Array.from(family.logAlpha!().dataSync());
    const expected = [-4, -4 - Math.log(0.01), 10, -4 - Math.log(4)];
    logAlpha.forEach((la, i) => expect(la).toBeCloseTo(expected[i], 3));
    const kl = family.kl().dataSync()[0];
    expect(kl).toBeCloseTo(
      expected.reduce((a, la) => a + logUniformKlScalar(la), 0),
      3,
    );
    for (const v of family.variance().dataSync()) expect(v).toBeCloseTo(Math.exp(-4), 6);
  });
});
