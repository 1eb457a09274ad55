import { CholeskyDecomposition, EigenvalueDecomposition, Matrix, inverse } from 'ml-matrix';
import { describe, expect, it } from 'vitest';
import { Random } from '../../runtime/random.js';
import {
  cholesky,
  choleskyInverse,
  choleskyLogDet,
  matMul64,
  solveLower,
  solveUpper,
  symmetricEigen,
  transpose64,
} from './denseFloat64.js';

function randomSpd(n: number, seed: number): Float64Array {
  const r = new Random(seed);
  const b = Float64Array.from({ length: n * n }, () => r.normal());
  const a = matMul64(b, transpose64(b, n, n), n, n, n);
  for (let i = 0; i < n; i++) a[i * n + i] += 0.5;
  return a;
}

function maxAbs(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

describe('float64 dense algebra', () => {
  const n = 7;
  const a = randomSpd(n, 3);
  const ref = new Matrix(Array.from({ length: n }, (_, i) => Array.from(a.subarray(i * n, i * n + n))));

  it('Cholesky reproduces A = L Lᵀ, matches ml-matrix, and its log-determinant equals the eigenvalues’ sum of logs', () => {
    const l = cholesky(a, n);
    expect(maxAbs(matMul64(l, transpose64(l, n, n), n, n, n), a)).toBeLessThan(1e-10);
    const refL = new CholeskyDecomposition(ref).lowerTriangularMatrix;
    expect(maxAbs(l, refL.to1DArray())).toBeLessThan(1e-10);
    const eig = symmetricEigen(a, n);
    expect(choleskyLogDet(l, n)).toBeCloseTo(
      eig.values.reduce((s, v) => s + Math.log(v), 0),
      9,
    );
  });

  it('inverse and triangular solves agree with ml-matrix’s inverse', () => {
    const l = cholesky(a, n);
    const inv = choleskyInverse(l, n);
    expect(maxAbs(inv, inverse(ref).to1DArray())).toBeLessThan(1e-9);
    const b = Float64Array.from({ length: n }, (_, i) => i - 2);
    const x = solveUpper(l, n, solveLower(l, n, b));
    expect(maxAbs(matMul64(a, x, n, n, 1), b)).toBeLessThan(1e-9);
  });

  it('symmetric eigendecomposition reconstructs A with orthonormal eigenvectors', () => {
    const { values, vectors } = symmetricEigen(a, n);
    const scaled = vectors.map((v, idx) => v * values[idx % n]);
    expect(maxAbs(matMul64(scaled, transpose64(vectors, n, n), n, n, n), a)).toBeLessThan(1e-9);
    const qtq = matMul64(transpose64(vectors, n, n), vectors, n, n, n);
    expect(
      maxAbs(
        qtq,
        Float64Array.from({ length: n * n }, (_, i) => (i % (n + 1) === 0 ? 1 : 0)),
      ),
    ).toBeLessThan(1e-10);
  });

  it('rejects a matrix that is not positive definite', () => {
    expect(() => cholesky(Float64Array.from([1, 2, 2, 1]), 2)).toThrow(/not positive definite/);
  });
});

describe('symmetricEigen against ml-matrix', () => {
  it('matches ml-matrix’s eigenvalues and reconstructs rank-deficient, repeated-eigenvalue and diagonal matrices', () => {
    const n = 60;
    const random = new Random(11);
    // Rank 20 Gram matrix (40 zero eigenvalues), a matrix with a repeated eigenvalue, and a diagonal one.
    const b = Float64Array.from({ length: n * 20 }, () => random.normal());
    const lowRank = matMul64(b, transpose64(b, n, 20), n, 20, n);
    const repeated = lowRank.map((v, i) => v + (i % (n + 1) === 0 ? 3 : 0));
    const diagonal = Float64Array.from({ length: n * n }, (_, i) => (i % (n + 1) === 0 ? (i % 7) + 1 : 0));
    for (const a of [lowRank, repeated, diagonal]) {
      const { values, vectors } = symmetricEigen(a, n);
      const ref = new EigenvalueDecomposition(
        new Matrix(Array.from({ length: n }, (_, i) => Array.from(a.subarray(i * n, i * n + n)))),
        { assumeSymmetric: true },
      ).realEigenvalues
        .map((v) => Math.max(v, 0))
        .sort((x, y) => x - y);
      const scale = Math.max(...ref);
      expect(maxAbs(values, Float64Array.from(ref)) / scale).toBeLessThan(1e-12);
      for (let i = 1; i < n; i++) expect(values[i]).toBeGreaterThanOrEqual(values[i - 1]);
      const scaled = vectors.map((v, idx) => v * values[idx % n]);
      expect(maxAbs(matMul64(scaled, transpose64(vectors, n, n), n, n, n), a) / scale).toBeLessThan(1e-12);
      const qtq = matMul64(transpose64(vectors, n, n), vectors, n, n, n);
      const eye = Float64Array.from({ length: n * n }, (_, i) => (i % (n + 1) === 0 ? 1 : 0));
      expect(maxAbs(qtq, eye)).toBeLessThan(1e-12);
    }
  });
});
