import { describe, expect, it } from 'vitest';
import { Random } from '../runtime/random.js';
import { fillZigguratNormal } from './zigguratNormal.js';

/** Standard normal CDF Φ(x) = ½·erfc(−x/√2) (float64; erfc by its series for |z| < 2.5, a continued fraction beyond). */
function normalCdf(x: number): number {
  const z = -x / Math.SQRT2;
  return 0.5 * erfc(z);
}

function erfc(z: number): number {
  if (z < 0) return 2 - erfc(-z);
  if (z < 2.5) {
    // erf(z) = 2/√π Σ (−1)ⁿ z^(2n+1) / (n! (2n+1))
    let term = z;
    let sum = z;
    for (let n = 1; n < 80; n++) {
      term *= (-z * z) / n;
      sum += term / (2 * n + 1);
    }
    return 1 - (2 / Math.sqrt(Math.PI)) * sum;
  }
  // Continued fraction (Lentz) for erfc at larger z.
  let f = 0;
  for (let k = 60; k >= 1; k--) f = k / 2 / (z + f);
  return Math.exp(-z * z) / Math.sqrt(Math.PI) / (z + f);
}

describe('fillZigguratNormal (Marsaglia & Tsang 2000)', () => {
  const n = 1_000_000;
  const draws = fillZigguratNormal(new Float32Array(n), new Random(12345));

  it('has the moments of N(0, 1): mean 0, variance 1, skewness 0, kurtosis 3 (1e6 draws, within 5 standard errors)', () => {
    let m1 = 0;
    let m2 = 0;
    let m3 = 0;
    let m4 = 0;
    for (const x of draws) {
      m1 += x;
      m2 += x * x;
      m3 += x * x * x;
      m4 += x * x * x * x;
    }
    m1 /= n;
    m2 /= n;
    m3 /= n;
    m4 /= n;
    // Standard errors: mean 1/√n, second moment √2/√n, third √15/√n, fourth √96/√n.
    expect(Math.abs(m1)).toBeLessThan(5 / Math.sqrt(n));
    expect(Math.abs(m2 - 1)).toBeLessThan((5 * Math.SQRT2) / Math.sqrt(n));
    expect(Math.abs(m3)).toBeLessThan((5 * Math.sqrt(15)) / Math.sqrt(n));
    expect(Math.abs(m4 - 3)).toBeLessThan((5 * Math.sqrt(96)) / Math.sqrt(n));
  });

  it('passes a Kolmogorov–Smirnov test against Φ (D < 1.63/√n, the 1% level) and has the right tail masses', () => {
    const sorted = Float64Array.from(draws).sort();
    let d = 0;
    for (let i = 0; i < n; i += 7) {
      const cdf = normalCdf(sorted[i]);
      d = Math.max(d, Math.abs(cdf - i / n), Math.abs(cdf - (i + 1) / n));
    }
    expect(d).toBeLessThan(1.63 / Math.sqrt(n));
    // The base layer's tail starts at R ≈ 3.44: its mass must come out right too (P(|x| > 3.5) = 4.65e-4,
    // P(|x| > 4.5) = 6.8e-6).
    for (const [cut, expected] of [
      [2, 2 * normalCdf(-2)],
      [3.5, 2 * normalCdf(-3.5)],
      [4.5, 2 * normalCdf(-4.5)],
    ]) {
      const count = draws.reduce((a, x) => a + (Math.abs(x) > cut ? 1 : 0), 0);
      const sd = Math.sqrt(n * expected);
      expect(Math.abs(count - n * expected)).toBeLessThan(5 * sd + 1);
    }
  });

  it('is reproducible from the seed, differs across seeds, and successive values are uncorrelated', () => {
    const a = fillZigguratNormal(new Float32Array(1000), new Random(7));
    const b = fillZigguratNormal(new Float32Array(1000), new Random(7));
    const c = fillZigguratNormal(new Float32Array(1000), new Random(8));
    expect(Array.from(a)).toEqual(Array.from(b));
    expect(Array.from(a)).not.toEqual(Array.from(c));
    let lag = 0;
    for (let i = 1; i < n; i++) lag += draws[i] * draws[i - 1];
    expect(Math.abs(lag / n)).toBeLessThan(5 / Math.sqrt(n));
  });
});
