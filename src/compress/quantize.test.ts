import { describe, expect, it } from 'vitest';
import { layerPrecision, roundToPrecision, significandBitsForVariance } from './bit-precision.js';
import { codeBits, dequantize, kmeansQuantize, snapToCodebook, uniformQuantize } from './quantize.js';

describe('bit precision from the posterior variance (Louizos 2017)', () => {
  it('gives the largest t with 2·Var < 2^−t', () => {
    expect(significandBitsForVariance(0.5)).toBe(0); // 2·Var = 1: not even 2^−1 fits
    expect(significandBitsForVariance(0.2)).toBe(1); // 0.4 < 0.5 but not < 0.25
    expect(significandBitsForVariance(2 ** -11)).toBe(9); // 2^−10 < 2^−t ⇔ t ≤ 9
    expect(significandBitsForVariance(0)).toBe(23);
  });

  it('sets the layer precision from the mean bits and the exponent range of the kept weights', () => {
    const mean = Float32Array.from([0.75, -0.1, 3.2, 0]);
    const variance = Float32Array.from([2 ** -11, 2 ** -11, 0.2, 1]);
    const p = layerPrecision(mean, variance, Uint8Array.from([1, 1, 1, 0]));
    // t = ceil((9 + 9 + 1)/3) = 7; exponents: floor(log2 3.2) = 1, floor(log2 0.1) = −4 → span 6 → 3 bits.
    expect(p).toEqual({
      significandBits: 7,
      exponentBits: 3,
      minExponent: -4,
      maxExponent: 1,
      bitsPerWeight: 11,
    });
  });

  it('rounds to the nearest representable value with relative error ≤ 2^−(t+1)', () => {
    const p = { significandBits: 3, exponentBits: 3, minExponent: -4, maxExponent: 1, bitsPerWeight: 7 };
    expect(roundToPrecision(0.75, p)).toBe(0.75); // 1.100b · 2^−1 is exact
    expect(roundToPrecision(0.8, p)).toBe(0.8125); // grid 2^−4 around 0.8
    expect(roundToPrecision(-3.3, p)).toBe(-3.25);
    expect(roundToPrecision(100, p)).toBe(3.75); // saturates at the largest value (2 − 2^−3)·2^1
    for (let w = 0.0625; w < 3.7; w *= 1.07) {
      expect(Math.abs(roundToPrecision(w, p) - w) / w).toBeLessThanOrEqual(2 ** -4 + 1e-12);
    }
  });
});

describe('codebook quantisation', () => {
  const values = Float32Array.from([-1, -0.9, -0.05, 0.02, 0.1, 0.95, 1.1]);

  it('snaps each value to the nearest codebook entry (VNQ ternary)', () => {
    const q = snapToCodebook(values, Float32Array.from([-1, 0, 1]));
    expect(Array.from(q.codes)).toEqual([0, 0, 1, 1, 1, 2, 2]);
    expect(Array.from(dequantize(q))).toEqual([-1, -1, 0, 0, 0, 1, 1]);
  });

  it('uniform quantisation has 2^bits levels and error at most half a step', () => {
    const q = uniformQuantize(values, 2);
    expect(q.codebook.length).toBe(4);
    const step = (1.1 - -1) / 3;
    const d = dequantize(q);
    values.forEach((v, i) => expect(Math.abs(d[i] - v)).toBeLessThanOrEqual(step / 2 + 1e-6));
  });

  it('k-means finds the cluster means of well-separated groups', () => {
    const q = kmeansQuantize(values, 2);
    const sortedBook = Array.from(q.codebook).sort((a, b) => a - b);
    // Three groups {−1, −0.9}, {−0.05, 0.02, 0.1}, {0.95, 1.1} and a fourth centroid that splits one of them.
    expect(sortedBook[0]).toBeLessThan(-0.89);
    expect(sortedBook[3]).toBeGreaterThan(0.94);
    const mse = dequantize(q).reduce((s, d, i) => s + (d - values[i]) ** 2, 0) / values.length;
    expect(mse).toBeLessThan(0.003);
    expect(mse).toBeLessThan(
      dequantize(uniformQuantize(values, 2)).reduce((s, d, i) => s + (d - values[i]) ** 2, 0) / 7,
    );
    expect(codeBits(3)).toBe(2);
    expect(codeBits(1)).toBe(0);
  });
});
