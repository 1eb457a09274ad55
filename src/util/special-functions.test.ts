import { describe, expect, it } from 'vitest';
import { erfc, normalCdf, normalLogPdf } from './special-functions.js';

describe('special functions', () => {
  it('erfc matches reference values to 1e-7 relative', () => {
    // Reference values of erfc (Abramowitz & Stegun Table 7.1 / high-precision tables).
    const table: [number, number][] = [
      [0, 1],
      [0.5, 0.4795001221869535],
      [1, 0.15729920705028513],
      [2, 0.004677734981047266],
      [3, 2.209049699858544e-5],
      [5, 1.5374597944280349e-12],
      [-1, 1.8427007929497148],
    ];
    for (const [x, v] of table) expect(Math.abs(erfc(x) - v) / v).toBeLessThan(1.2e-7);
  });

  it('normalCdf is symmetric and hits known quantiles', () => {
    expect(normalCdf(0)).toBeCloseTo(0.5, 12);
    expect(normalCdf(1.959963984540054)).toBeCloseTo(0.975, 7);
    expect(normalCdf(-1.3) + normalCdf(1.3)).toBeCloseTo(1, 12);
  });

  it('normalLogPdf integrates to one (trapezoid rule)', () => {
    let s = 0;
    const h = 1e-3;
    for (let x = -10; x <= 12; x += h) s += Math.exp(normalLogPdf(x, 1, 4)) * h;
    expect(s).toBeCloseTo(1, 5);
  });
});
