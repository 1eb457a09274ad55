import { describe, expect, it } from 'vitest';
import { symmetricEigen } from './matrix/denseFloat64.js';
import { psdCholesky } from './predictive/outputSamplers.js';

/**
 * Numerical safeguards of the Laplace code on matrices that are PSD only up to rounding: Kronecker factors whose
 * eigenvalues come out slightly negative are clamped to zero, and the functional covariance's Cholesky factor adds
 * diagonal jitter (or treats a rounding-size negative pivot as zero) instead of failing.
 */

/** A = Q diag(λ) Qᵀ with Q the rotation by `angle` in the (0, 1) plane plus the identity elsewhere. */
function withEigenvalues(values: readonly number[], angle: number): Float64Array {
  const n = values.length;
  const q = new Float64Array(n * n);
  for (let i = 0; i < n; i++) q[i * n + i] = 1;
  q[0] = Math.cos(angle);
  q[1] = -Math.sin(angle);
  q[n] = Math.sin(angle);
  q[n + 1] = Math.cos(angle);
  const a = new Float64Array(n * n);
  for (let i = 0; i < n; i++)
    for (let j = 0; j < n; j++) {
      let s = 0;
      for (let k = 0; k < n; k++) s += q[i * n + k] * values[k] * q[j * n + k];
      a[i * n + j] = s;
    }
  return a;
}

function reconstructionError(l: Float64Array, a: Float64Array, n: number): number {
  let worst = 0;
  for (let i = 0; i < n; i++)
    for (let j = 0; j < n; j++) {
      let s = 0;
      for (let k = 0; k < n; k++) s += l[i * n + k] * l[j * n + k];
      worst = Math.max(worst, Math.abs(s - a[i * n + j]));
    }
  return worst;
}

describe('Laplace numerical safeguards', () => {
  it('a Kronecker factor with eigenvalue −1e-9 (rounding) gets eigenvalue exactly 0; the others are kept to 1e-12', () => {
    const a = withEigenvalues([-1e-9, 2, 5], 0.3);
    const { values } = symmetricEigen(a, 3);
    const sorted = Array.from(values).sort((x, y) => x - y);
    expect(sorted[0]).toBe(0);
    expect(sorted[1]).toBeCloseTo(2, 12);
    expect(sorted[2]).toBeCloseTo(5, 12);
  });

  it('Cholesky of a rank-1 3×3 covariance (singular) and of one with eigenvalue −1e-9: L Lᵀ = A within 1e-8', () => {
    const v = [1, 2, 3];
    const rank1 = Float64Array.from({ length: 9 }, (_, k) => v[Math.floor(k / 3)] * v[k % 3]);
    const l1 = psdCholesky(rank1, 3);
    expect(l1.every(Number.isFinite)).toBe(true);
    expect(reconstructionError(l1, rank1, 3)).toBeLessThan(1e-8);
    const slightlyNegative = withEigenvalues([-1e-9, 1, 4], 0.7);
    const l2 = psdCholesky(slightlyNegative, 3);
    expect(l2.every(Number.isFinite)).toBe(true);
    expect(reconstructionError(l2, slightlyNegative, 3)).toBeLessThan(1e-8);
  });
});
