import * as tf from '@tensorflow/tfjs';
import type { Random } from '../../runtime/random.js';
import type { KroneckerCurvature } from '../curvature/kroneckerCurvature.js';
import type { LayerSubset } from '../curvature/layerJacobian.js';
import { matMul64, type SymmetricEigen, symmetricEigen, transpose64 } from '../matrix/denseFloat64.js';
import type { LayerQuantities } from '../model/preactivationGradients.js';
import { layerBasisCovariance, sumCovariances, summedLayerVariances } from './layerBasisCovariance.js';
import type { PosteriorStructure } from './posteriorStructure.js';

/** Eigendecompositions of one layer's Kronecker factors A = ΣA/(N·P) (= E[a aᵀ]) and G = ΣG (summed). */
export interface KroneckerEigen {
  readonly a: SymmetricEigen;
  readonly g: SymmetricEigen;
  /** Examples N behind the factors. */
  readonly count: number;
}

/** Decomposes every layer's factors once (float64); the prior precision can then change cheaply. */
export function kroneckerEigen(curvature: KroneckerCurvature): KroneckerEigen[] {
  return curvature.factors.map((f) => {
    const r = Math.round(Math.sqrt(f.sumA.length));
    const o = Math.round(Math.sqrt(f.sumG.length));
    const norm = 1 / Math.max(1, f.count * f.locations);
    return {
      a: symmetricEigen(
        f.sumA.map((v) => v * norm),
        r,
      ),
      g: symmetricEigen(f.sumG, o),
      count: f.count,
    };
  });
}

/**
 * How the prior enters a Kronecker-factored precision:
 * - `exact`: in the eigenbasis, P = (Q_A ⊗ Q_G) diag(s·λ_A ⊗ λ_G + τ) (Q_A ⊗ Q_G)ᵀ — the exact sum of the KFAC
 *   curvature and an isotropic prior (laplace-torch's KronDecomposed);
 * - `damped`: Ritter et al. 2018 (eq. 9): P ≈ (√N·A + √τ·I) ⊗ (√N·Ḡ + √τ·I) with Ḡ = s·G/N the mean factor; a matrix
 *   normal with row covariance (√N·A + √τ·I)⁻¹ and column covariance (√N·Ḡ + √τ·I)⁻¹. It has the same eigenvectors, with
 *   eigenvalues (√N λ_A + √τ)(s λ_G/√N + √τ).
 */
export type KroneckerPrior = 'exact' | 'damped';

/** Precision eigenvalues D `[R × O]` (row-major) of one layer. */
export function kroneckerEigenvalues(
  e: KroneckerEigen,
  tau: number,
  scale: number,
  prior: KroneckerPrior,
): Float64Array {
  const r = e.a.n;
  const o = e.g.n;
  const d = new Float64Array(r * o);
  const sqrtN = Math.sqrt(Math.max(1, e.count));
  const sqrtTau = Math.sqrt(tau);
  for (let i = 0; i < r; i++) {
    const la = e.a.values[i];
    for (let j = 0; j < o; j++) {
      const lg = scale * e.g.values[j];
      d[i * o + j] = prior === 'exact' ? la * lg + tau : (sqrtN * la + sqrtTau) * (lg / sqrtN + sqrtTau);
    }
  }
  return d;
}

/**
 * Kronecker-factored Laplace posterior over whole layers (block-diagonal across layers). The marginal variance of W_ij
 * is Σ_kl Q_A[i,k]² Q_G[j,l]² / D_kl, which for the damped form is U_ii·V_jj (row and column covariance diagonals);
 * samples are W* + Q_A (Z ⊙ D^{-1/2}) Q_Gᵀ, i.e. the matrix normal MN(W*, U, V) for the damped form.
 */
export function kroneckerPosterior(
  eigens: readonly KroneckerEigen[],
  parts: readonly LayerSubset[],
  layerPrior: readonly number[],
  scale = 1,
  prior: KroneckerPrior = 'exact',
): PosteriorStructure {
  const d = eigens.map((e, i) => kroneckerEigenvalues(e, layerPrior[i], scale, prior));
  const size = parts.reduce((s, p) => s + p.local.length, 0);
  let cached: { qa: tf.Tensor2D; qg: tf.Tensor2D; dinv: tf.Tensor2D; sd: tf.Tensor2D }[] | undefined;
  const tensors = () =>
    (cached ??= eigens.map((e, i) =>
      tf.tidy(() => {
        const r = e.a.n;
        const o = e.g.n;
        return {
          qa: tf.keep(tf.tensor2d(Float32Array.from(e.a.vectors), [r, r])),
          qg: tf.keep(tf.tensor2d(Float32Array.from(e.g.vectors), [o, o])),
          dinv: tf.keep(
            tf.tensor2d(
              Float32Array.from(d[i], (v) => 1 / v),
              [r, o],
            ),
          ),
          sd: tf.keep(
            tf.tensor2d(
              Float32Array.from(d[i], (v) => 1 / Math.sqrt(v)),
              [r, o],
            ),
          ),
        };
      }),
    ));
  const forEachLayer = (fn: (i: number, offset: number, r: number, o: number) => void) => {
    let offset = 0;
    eigens.forEach((e, i) => {
      fn(i, offset, e.a.n, e.g.n);
      offset += e.a.n * e.g.n;
    });
  };
  return {
    structure: 'kron',
    size,
    logDetPrecision: () => d.reduce((s, di) => s + di.reduce((t, v) => t + Math.log(v), 0), 0),
    marginalVariances: () => {
      const out = new Float64Array(size);
      forEachLayer((i, offset, r, o) => {
        const qa2 = eigens[i].a.vectors.map((v) => v * v);
        const qg2t = transpose64(
          eigens[i].g.vectors.map((v) => v * v),
          o,
          o,
        );
        const inv = d[i].map((v) => 1 / v);
        out.set(matMul64(matMul64(qa2, inv, r, r, o), qg2t, r, o, o), offset);
      });
      return out;
    },
    covarianceTimes: (v) => {
      const out = new Float64Array(size);
      forEachLayer((i, offset, r, o) => {
        const qa = eigens[i].a.vectors;
        const qg = eigens[i].g.vectors;
        const block = Float64Array.from({ length: r * o }, (_, j) => v[offset + j]);
        const rotated = matMul64(matMul64(transpose64(qa, r, r), block, r, r, o), qg, r, o, o);
        for (let j = 0; j < rotated.length; j++) rotated[j] /= d[i][j];
        out.set(matMul64(matMul64(qa, rotated, r, r, o), transpose64(qg, o, o), r, o, o), offset);
      });
      return out;
    },
    sampleDeviation: (random: Random) => {
      const out = new Float32Array(size);
      const t = tensors();
      forEachLayer((i, offset, r, o) => {
        const s = tf.tidy(() => {
          const z = tf.tensor2d(random.fillNormal(new Float32Array(r * o)), [r, o]);
          const inner = tf.mul(z, t[i].sd);
          return tf.matMul(tf.matMul(t[i].qa, inner), tf.transpose(t[i].qg));
        });
        out.set(s.dataSync(), offset);
        s.dispose();
      });
      return out;
    },
    functionalCovariance: (q: LayerQuantities) => {
      const t = tensors();
      return sumCovariances(
        parts.map((p, i) =>
          layerBasisCovariance(
            q.inputs.get(p.layer.name)!,
            q.gradients.get(p.layer.name)!,
            t[i].qa,
            t[i].qg,
            t[i].dinv,
          ),
        ),
      );
    },
    functionalVariance: (q: LayerQuantities) =>
      tf.tidy(() => {
        const t = tensors();
        const [m, c] = q.logits.shape;
        return summedLayerVariances(q, parts, t, [t.map((l) => l.dinv)]).reshape([m, c]) as tf.Tensor2D;
      }),
    functionalVarianceAtPriors: (q: LayerQuantities, priors: readonly (readonly number[])[]) => {
      const t = tensors();
      return tf.tidy(() => {
        const dinvs = priors.map((layerTau) =>
          eigens.map((e, i) =>
            tf.tensor2d(
              Float32Array.from(kroneckerEigenvalues(e, layerTau[i], scale, prior), (v) => 1 / v),
              [e.a.n, e.g.n],
            ),
          ),
        );
        return summedLayerVariances(q, parts, t, dinvs);
      });
    },
    dispose: () => {
      if (cached) for (const c of cached) tf.dispose([c.qa, c.qg, c.dinv, c.sd]);
      cached = undefined;
    },
  };
}
