import { describe, expect, it } from 'vitest';
import { Random } from './random.js';

describe('Random', () => {
  it('is reproducible from its seed and differs across seeds', () => {
    const a = new Random(42);
    const b = new Random(42);
    const c = new Random(43);
    const da = Array.from({ length: 5 }, () => a.nextUint32());
    expect(Array.from({ length: 5 }, () => b.nextUint32())).toEqual(da);
    expect(Array.from({ length: 5 }, () => c.nextUint32())).not.toEqual(da);
  });

  it('draws uniforms and normals with the right moments', () => {
    const r = new Random(1);
    const n = 200_000;
    let su = 0;
    let sn = 0;
    let sn2 = 0;
    for (let i = 0; i < n; i++) {
      su += r.uniform();
      const z = r.normal();
      sn += z;
      sn2 += z * z;
    }
    // Standard errors: uniform mean 0.29/sqrt(n) ≈ 6.5e-4, normal mean 2.2e-3, normal variance 3.2e-3.
    expect(su / n).toBeCloseTo(0.5, 2);
    expect(Math.abs(sn / n)).toBeLessThan(0.01);
    expect(Math.abs(sn2 / n - 1)).toBeLessThan(0.015);
  });

  it('fills arrays with normals of the right moments, reproducibly', () => {
    const a = new Random(9).fillNormal(new Float32Array(100_001));
    const b = new Random(9).fillNormal(new Float32Array(100_001));
    expect(a).toEqual(b);
    const mean = a.reduce((s, v) => s + v, 0) / a.length;
    const variance = a.reduce((s, v) => s + (v - mean) ** 2, 0) / a.length;
    expect(Math.abs(mean)).toBeLessThan(0.01);
    expect(Math.abs(variance - 1)).toBeLessThan(0.015);
  });

  it('permutes every index exactly once and restores state', () => {
    const r = new Random(7);
    const p = Array.from(r.permutation(1000)).sort((x, y) => x - y);
    expect(p).toEqual(Array.from({ length: 1000 }, (_, i) => i));
    r.normal(); // an odd number of normal draws must not leave hidden state behind
    const state = r.getState();
    const next = [r.normal(), r.nextUint32()];
    r.setState(state);
    expect([r.normal(), r.nextUint32()]).toEqual(next);
  });
});
