import { EigenvalueDecomposition, Matrix } from 'ml-matrix';
import { BayescompError } from '../../util/errors.js';

/**
 * Small dense linear algebra in float64 on row-major `Float64Array`s, for curvature factors and subnetwork
 * covariances (TF.js has no Cholesky or eigendecomposition, and float32 is too coarse for log-determinants).
 */

/** Eigendecomposition of a symmetric n × n matrix: A = Q diag(values) Qᵀ, Q row-major with eigenvectors as columns. */
export interface SymmetricEigen {
  readonly n: number;
  readonly values: Float64Array;
  readonly vectors: Float64Array;
}

/**
 * Eigendecomposition of a symmetric positive semi-definite matrix (a Kronecker factor), via ml-matrix's symmetric
 * solver (Householder tridiagonalisation + QL). Eigenvalues below zero from rounding are clamped to zero.
 */
export function symmetricEigen(a: Float64Array, n: number): SymmetricEigen {
  const m = new Matrix(n, n);
  for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) m.set(i, j, 0.5 * (a[i * n + j] + a[j * n + i]));
  const evd = new EigenvalueDecomposition(m, { assumeSymmetric: true });
  const values = Float64Array.from(evd.realEigenvalues, (v) => Math.max(v, 0));
  const q = evd.eigenvectorMatrix;
  const vectors = new Float64Array(n * n);
  for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) vectors[i * n + j] = q.get(i, j);
  return { n, values, vectors };
}

/**
 * Lower-triangular L with A = L Lᵀ for a symmetric positive-definite n × n matrix (row-major). Throws a
 * `bad-config` error naming the failing pivot when A is not positive definite (e.g. a zero prior precision).
 */
export function cholesky(a: Float64Array, n: number): Float64Array {
  const l = new Float64Array(n * n);
  for (let j = 0; j < n; j++) {
    const rowJ = j * n;
    let d = a[rowJ + j];
    for (let k = 0; k < j; k++) d -= l[rowJ + k] * l[rowJ + k];
    if (!(d > 0)) {
      throw new BayescompError('bad-config', `precision matrix is not positive definite (pivot ${j}: ${d})`);
    }
    const ljj = Math.sqrt(d);
    l[rowJ + j] = ljj;
    for (let i = j + 1; i < n; i++) {
      const rowI = i * n;
      let s = a[rowI + j];
      for (let k = 0; k < j; k++) s -= l[rowI + k] * l[rowJ + k];
      l[rowI + j] = s / ljj;
    }
  }
  return l;
}

/** log det A = 2 Σ log L_ii from A's Cholesky factor. */
export function choleskyLogDet(l: Float64Array, n: number): number {
  let s = 0;
  for (let i = 0; i < n; i++) s += Math.log(l[i * n + i]);
  return 2 * s;
}

/** Solves L x = b (forward substitution), in place on a copy of b. */
export function solveLower(l: Float64Array, n: number, b: ArrayLike<number>): Float64Array {
  const x = Float64Array.from(b);
  for (let i = 0; i < n; i++) {
    let s = x[i];
    for (let k = 0; k < i; k++) s -= l[i * n + k] * x[k];
    x[i] = s / l[i * n + i];
  }
  return x;
}

/** Solves Lᵀ x = b (back substitution). */
export function solveUpper(l: Float64Array, n: number, b: ArrayLike<number>): Float64Array {
  const x = Float64Array.from(b);
  for (let i = n - 1; i >= 0; i--) {
    let s = x[i];
    for (let k = i + 1; k < n; k++) s -= l[k * n + i] * x[k];
    x[i] = s / l[i * n + i];
  }
  return x;
}

/** L⁻¹ for a lower-triangular L (row-major, lower-triangular). */
export function lowerInverse(l: Float64Array, n: number): Float64Array {
  const inv = new Float64Array(n * n);
  for (let j = 0; j < n; j++) {
    inv[j * n + j] = 1 / l[j * n + j];
    for (let i = j + 1; i < n; i++) {
      let s = 0;
      for (let k = j; k < i; k++) s -= l[i * n + k] * inv[k * n + j];
      inv[i * n + j] = s / l[i * n + i];
    }
  }
  return inv;
}

/** A⁻¹ = L⁻ᵀ L⁻¹ from A's Cholesky factor (symmetric, row-major). */
export function choleskyInverse(l: Float64Array, n: number): Float64Array {
  const li = lowerInverse(l, n);
  const out = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j <= i; j++) {
      let s = 0;
      for (let k = i; k < n; k++) s += li[k * n + i] * li[k * n + j];
      out[i * n + j] = s;
      out[j * n + i] = s;
    }
  }
  return out;
}

/** C = A B for row-major A (n × k) and B (k × m). */
export function matMul64(a: Float64Array, b: Float64Array, n: number, k: number, m: number): Float64Array {
  const c = new Float64Array(n * m);
  for (let i = 0; i < n; i++) {
    for (let p = 0; p < k; p++) {
      const aip = a[i * k + p];
      if (aip === 0) continue;
      const rowB = p * m;
      const rowC = i * m;
      for (let j = 0; j < m; j++) c[rowC + j] += aip * b[rowB + j];
    }
  }
  return c;
}

/** Aᵀ for a row-major n × m matrix. */
export function transpose64(a: Float64Array, n: number, m: number): Float64Array {
  const t = new Float64Array(n * m);
  for (let i = 0; i < n; i++) for (let j = 0; j < m; j++) t[j * n + i] = a[i * m + j];
  return t;
}
