import * as tf from '@tensorflow/tfjs';
import type { LayerSubset } from '../curvature/layerJacobian.js';
import type { LayerQuantities } from '../model/preactivationGradients.js';
import { repeatBatch } from '../model/repeatBatch.js';

/** Largest number of float32 values one chunk of rotated per-example Jacobians may hold. */
const CHUNK_VALUES = 4_000_000;

/**
 * J Σ Jᵀ per example for one layer whose covariance is diagonal in a Kronecker eigenbasis:
 * Σ = (Q_A ⊗ Q_G) diag(vec D⁻¹) (Q_A ⊗ Q_G)ᵀ (Q = I for a diagonal posterior).
 *
 * The Jacobian rows of class c are vec(M_c), M_c = Σ_p a_p g_{c,p}ᵀ; rotating, M̃_c = (A Q_A)ᵀ (G_c Q_G) and
 * (J Σ Jᵀ)_{cc'} = Σ_{ij} M̃_c[i,j] M̃_c'[i,j] D⁻¹[i,j]. For one location (Dense) M̃_c = ã g̃_cᵀ, so this collapses to
 * Σ_j g̃_cj g̃_c'j w_j with w = (ã ⊙ ã) D⁻¹: no per-parameter Jacobian is ever formed.
 *
 * @param a inputs `[M, P, R]`; @param g Jacobian factors `[C, M, P, O]`; @param qa `[R, R]` or undefined (identity);
 * @param qg `[O, O]` or undefined; @param dinv `[R, O]` posterior variances in the eigenbasis. Returns `[M, C, C]`.
 */
export function layerBasisCovariance(
  a: tf.Tensor3D,
  g: tf.Tensor4D,
  qa: tf.Tensor2D | undefined,
  qg: tf.Tensor2D | undefined,
  dinv: tf.Tensor2D,
): tf.Tensor3D {
  const [m, p, r] = a.shape;
  const [c, , , o] = g.shape;
  const rotA = (x: tf.Tensor) => (qa ? tf.matMul(x.reshape([-1, r]), qa).reshape(x.shape) : x);
  const rotG = (x: tf.Tensor) => (qg ? tf.matMul(x.reshape([-1, o]), qg).reshape(x.shape) : x);
  if (p === 1) {
    return tf.tidy(() => {
      const at = rotA(a.reshape([m, r]));
      const gt = tf.transpose(rotG(g.reshape([c, m, o])), [1, 0, 2]); // [M, C, O]
      const w = tf.matMul(tf.square(at) as tf.Tensor2D, dinv).reshape([m, 1, o]);
      return tf.matMul(tf.mul(gt, w) as tf.Tensor3D, tf.transpose(gt, [0, 2, 1]) as tf.Tensor3D);
    });
  }
  const step = Math.max(1, Math.floor(CHUNK_VALUES / (c * r * o)));
  const chunks: tf.Tensor3D[] = [];
  for (let s = 0; s < m; s += step) {
    chunks.push(
      tf.tidy(() => {
        const size = Math.min(step, m - s);
        const at = rotA(a.slice([s, 0, 0], [size, -1, -1])); // [size, P, R]
        const gt = rotG(g.slice([0, s, 0, 0], [-1, size, -1, -1])); // [C, size, P, O]
        const aT = repeatBatch(tf.transpose(at, [0, 2, 1]), c);
        const mt = tf.matMul(aT as tf.Tensor3D, gt.reshape([c * size, p, o]) as tf.Tensor3D); // [C·size, R, O]
        const x = tf.transpose(mt.reshape([c, size, r * o]), [1, 0, 2]); // [size, C, R·O]
        const y = tf.mul(x, dinv.reshape([1, 1, r * o]));
        return tf.matMul(y as tf.Tensor3D, tf.transpose(x, [0, 2, 1]) as tf.Tensor3D);
      }),
    );
  }
  if (chunks.length === 1) return chunks[0];
  const out = tf.concat(chunks, 0);
  tf.dispose(chunks);
  return out;
}

/** Largest number of float32 values one chunk of {@link layerBasisVariance} may hold in per-example products. */
const VARIANCE_CHUNK_VALUES = 4_000_000;

/**
 * The diagonal of {@link layerBasisCovariance}, var f_c = (J Σ Jᵀ)_cc = Σ_ij M̃_c[i,j]² D⁻¹[i,j], `[M, C]` — all the
 * probit predictive (Daxberger et al. 2021 eq. 18 in seed 002) and a regression variance need, at a fraction of the
 * cost: no C × C products, and for a convolution the classes share one product per example.
 *
 * Convolutions: per example, the transposed Jacobian factors of all classes M̃_nᵀ = G̃_nᵀ Ã_n (`[C·O, P] · [P, R]`),
 * with the rotations Ã = A Q_A and G̃ = G Q_G made before the product as one large matrix product each when there are
 * fewer locations than input rows (LeNet-5's second convolution: P = 64, R = 501), and on the small product afterwards
 * otherwise (the first: P = 576, R = 26). The weighted sum of squares is then one matrix–vector product,
 * (M̃ᵀ ⊙ M̃ᵀ) · vec(D⁻¹ᵀ). Per-example 2-D products, because the wasm backend's batched MatMul runs ~10× slower on these
 * shapes; no rank-5 transposes or strided slices (also ~100× slower there).
 * Same arguments as {@link layerBasisCovariance}.
 */
export function layerBasisVariance(
  a: tf.Tensor3D,
  g: tf.Tensor4D,
  qa: tf.Tensor2D | undefined,
  qg: tf.Tensor2D | undefined,
  dinv: tf.Tensor2D,
): tf.Tensor2D {
  return tf.tidy(() => {
    const [m, c] = [a.shape[0], g.shape[0]];
    return layerBasisVariances(a, g, qa, qg, [dinv]).reshape([m, c]) as tf.Tensor2D;
  });
}

/**
 * {@link layerBasisVariance} for several posterior variances D⁻¹ in the same eigenbasis at once, `[K, M, C]`: the
 * rotated Jacobian factors, which do not depend on D⁻¹, are formed once and only the final weighted sums are made K
 * times (one matrix product with K columns). A grid search over the prior precision needs exactly this.
 */
export function layerBasisVariances(
  a: tf.Tensor3D,
  g: tf.Tensor4D,
  qa: tf.Tensor2D | undefined,
  qg: tf.Tensor2D | undefined,
  dinvs: readonly tf.Tensor2D[],
): tf.Tensor3D {
  const [m, p, r] = a.shape;
  const [c, , , o] = g.shape;
  const k = dinvs.length;
  if (p === 1) {
    // Dense: M̃_c = ã g̃_cᵀ, so var_c = Σ_j g̃_cj² w_j with w = (ã ⊙ ã) D⁻¹.
    return tf.tidy(() => {
      const at = qa ? tf.matMul(a.reshape([m, r]), qa) : a.reshape([m, r]);
      const dinv = k === 1 ? dinvs[0] : tf.concat(dinvs as tf.Tensor2D[], 1); // [R, K·O]
      const w = tf.transpose(tf.matMul(tf.square(at) as tf.Tensor2D, dinv).reshape([m, k, o]), [1, 0, 2]);
      const gt = qg ? tf.matMul(g.reshape([c * m, o]), qg) : g.reshape([c * m, o]);
      const g2 = tf.square(gt).reshape([1, c, m, o]);
      const sums = tf.sum(tf.mul(g2, w.reshape([k, 1, m, o])), 3); // [K, C, M]
      return tf.transpose(sums, [0, 2, 1]) as tf.Tensor3D;
    });
  }
  const rotateFirst = p < r;
  const step = Math.max(1, Math.floor(VARIANCE_CHUNK_VALUES / (c * o * Math.max(r, p))));
  return tf.tidy(() => {
    // The rotations before the product run over the whole batch: one large, efficient matrix product each.
    const aRot = rotateFirst && qa ? tf.matMul(a.reshape([m * p, r]), qa) : a;
    const gRot = rotateFirst && qg ? tf.matMul(g.reshape([-1, o]), qg) : g;
    // Per-example operands are cut out in JavaScript: the wasm backend's slice copies its whole input each time.
    const aValues = aRot.dataSync();
    const gValues = gRot.dataSync();
    // vec(D⁻¹ᵀ) per variance: the weights of the squared entries of M̃ᵀ, row-major over (j, i), one column each.
    const columns = dinvs.map((d) => tf.transpose(d).reshape([o * r, 1]));
    const weights = k === 1 ? columns[0] : tf.concat(columns, 1);
    const chunks: tf.Tensor[] = [];
    const gT = new Float32Array(c * o * p);
    for (let s = 0; s < m; s += step) {
      const size = Math.min(step, m - s);
      const products: tf.Tensor[] = [];
      for (let n = s; n < s + size; n++) {
        // G̃_nᵀ `[C·O, P]` from G̃ `[C, M, P, O]`.
        // Rows written contiguously, reads strided by O (the other order is ~10× slower for P = 576).
        for (let kc = 0; kc < c; kc++) {
          const base = (kc * m + n) * p * o;
          for (let j = 0; j < o; j++) {
            const row = (kc * o + j) * p;
            for (let q = 0, from = base + j; q < p; q++, from += o) gT[row + q] = gValues[from];
          }
        }
        const an = tf.tensor2d(aValues.subarray(n * p * r, (n + 1) * p * r), [p, r]);
        products.push(tf.matMul(tf.tensor2d(gT, [c * o, p]), an)); // M̃_nᵀ, rows (c, j), columns i
      }
      let mt = tf.stack(products); // [size, C·O, R]
      if (!rotateFirst && qa) mt = tf.matMul(mt.reshape([size * c * o, r]), qa);
      if (!rotateFirst && qg) {
        // Q_G acts on j: bring j last, rotate, and put it back in front of i.
        const jLast = tf.transpose(mt.reshape([size * c, o, r]), [0, 2, 1]).reshape([-1, o]);
        mt = tf.transpose(tf.matMul(jLast, qg).reshape([size * c, r, o]), [0, 2, 1]);
      }
      chunks.push(tf.matMul(tf.square(mt).reshape([size * c, o * r]), weights)); // [size·C, K]
    }
    const all = chunks.length === 1 ? chunks[0] : tf.concat(chunks, 0);
    return tf.transpose(all.reshape([m, c, k]), [2, 0, 1]) as tf.Tensor3D;
  });
}

/**
 * Σ over the covered layers of {@link layerBasisVariances}, `[K, M, C]`: `dinvs[k][i]` is layer i's D⁻¹ under the
 * k-th prior, `bases[i]` its eigenbasis (both undefined for a diagonal posterior).
 */
export function summedLayerVariances(
  q: LayerQuantities,
  parts: readonly LayerSubset[],
  bases: readonly { readonly qa?: tf.Tensor2D; readonly qg?: tf.Tensor2D }[],
  dinvs: readonly (readonly tf.Tensor2D[])[],
): tf.Tensor3D {
  return tf.tidy(
    () =>
      tf.addN(
        parts.map((p, i) =>
          layerBasisVariances(
            q.inputs.get(p.layer.name)!,
            q.gradients.get(p.layer.name)!,
            bases[i].qa,
            bases[i].qg,
            dinvs.map((d) => d[i]),
          ),
        ),
      ) as tf.Tensor3D,
  );
}

/** Sums per-layer `[M, C, C]` covariances, disposing the parts. */
export function sumCovariances(parts: tf.Tensor3D[]): tf.Tensor3D {
  if (parts.length === 1) return parts[0];
  const out = tf.addN(parts) as tf.Tensor3D;
  tf.dispose(parts);
  return out;
}
