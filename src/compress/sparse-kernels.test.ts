import { describe, expect, it } from 'vitest';
import { Random } from '../runtime/random.js';
import { javascriptSparseKernels, simdSparseKernels, type SparseKernels } from './sparse-kernels.js';
import { csrDensity, csrFromDenseKernel } from './sparse-matrix.js';

describe('csrFromDenseKernel', () => {
  it('lists each unit’s kept inputs in order (the transpose of the [inputs, units] kernel)', () => {
    // kernel [3 inputs, 2 units]: unit 0 reads inputs 0 and 2, unit 1 reads input 1.
    const m = csrFromDenseKernel(Float32Array.from([1.5, 0, 0, 4, -2, 0]), 3, 2);
    expect(Array.from(m.rowStart)).toEqual([0, 2, 3]);
    expect(Array.from(m.colIndex)).toEqual([0, 2, 1]);
    expect(Array.from(m.values)).toEqual([1.5, -2, 4]);
    expect(csrDensity(m)).toBeCloseTo(0.5, 12);
    expect(() => csrFromDenseKernel(new Float32Array(5), 3, 2)).toThrow(/not 3×2/);
  });
});

describe('sparse tile product kernels', () => {
  /** Loads a random CSR (density 0.3) and a tile into `k`'s memory, runs the product, returns the output tile. */
  function run(k: SparseKernels, width: number, relu: boolean): Float32Array {
    const r = new Random(11);
    const inputs = 37;
    const units = 9;
    const kernel = Float32Array.from({ length: inputs * units }, () => (r.uniform() < 0.3 ? r.normal() : 0));
    const m = csrFromDenseKernel(kernel, inputs, units);
    const bias = Float32Array.from({ length: units }, () => r.normal());
    const x = Float32Array.from({ length: inputs * width }, () => r.normal());
    const nnz = m.values.length;
    const at = { rowStart: 0, colIndex: 16, values: 16 + nnz, bias: 16 + 2 * nnz };
    const xAt = Math.ceil((at.bias + units) / 4) * 4;
    const yAt = xAt + x.length;
    k.grow(yAt + units * width);
    k.i32().set(m.rowStart, at.rowStart);
    k.i32().set(m.colIndex, at.colIndex);
    k.f32().set(m.values, at.values);
    k.f32().set(bias, at.bias);
    k.f32().set(x, xAt);
    k.product(at.rowStart, at.colIndex, at.values, at.bias, xAt, yAt, units, width, relu);
    const y = k.f32().slice(yAt, yAt + units * width);
    // Independent reference in float64 from the dense kernel.
    for (let j = 0; j < units; j++) {
      for (let t = 0; t < width; t++) {
        let s = bias[j];
        for (let i = 0; i < inputs; i++) s += kernel[i * units + j] * x[i * width + t];
        if (relu) s = Math.max(s, 0);
        expect(Math.abs(y[j * width + t] - s)).toBeLessThan(1e-5);
      }
    }
    return y;
  }

  it('the SIMD module instantiates here, and SIMD and JavaScript agree bit for bit (tiles of 4 and 32)', () => {
    const simd = simdSparseKernels();
    expect(simd?.kind).toBe('simd');
    for (const [width, relu] of [
      [4, false],
      [32, true],
      [48, false],
    ] as const) {
      const a = run(simd!, width, relu);
      const b = run(javascriptSparseKernels(), width, relu);
      expect(Array.from(a)).toEqual(Array.from(b));
    }
  });
});
