import * as tf from '@tensorflow/tfjs';
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

/** Largest number of float32 values one chunk of rotated per-example Jacobians may hold in {@link layerBasisVariance}. */
const VARIANCE_CHUNK_VALUES = 2_000_000;

/** Input-factor rows from which per-example 2-D products beat one batched product (measured on wasm). */
const LOOP_ROWS = 128;

/**
 * The diagonal of {@link layerBasisCovariance}, var f_c = (J Σ Jᵀ)_cc = Σ_ij M̃_c[i,j]² D⁻¹[i,j], `[M, C]` — all the
 * probit predictive (Daxberger et al. 2021 eq. 18 in seed 002) and a regression variance need, at a fraction of the
 * cost: no C × C products, and for a convolution the classes share one product per example,
 * M̃_n = (A_n Q_A)ᵀ [G̃_{1,n} … G̃_{C,n}] (`[R, P] · [P, C·O]`), instead of tiling the inputs C times.
 * Same arguments as {@link layerBasisCovariance}.
 */
export function layerBasisVariance(
  a: tf.Tensor3D,
  g: tf.Tensor4D,
  qa: tf.Tensor2D | undefined,
  qg: tf.Tensor2D | undefined,
  dinv: tf.Tensor2D,
): tf.Tensor2D {
  const [m, p, r] = a.shape;
  const [c, , , o] = g.shape;
  const rotA = (x: tf.Tensor) => (qa ? tf.matMul(x.reshape([-1, r]), qa).reshape(x.shape) : x);
  const rotG = (x: tf.Tensor) => (qg ? tf.matMul(x.reshape([-1, o]), qg).reshape(x.shape) : x);
  if (p === 1) {
    // Dense: M̃_c = ã g̃_cᵀ, so var_c = Σ_j g̃_cj² w_j with w = (ã ⊙ ã) D⁻¹.
    return tf.tidy(() => {
      const w = tf.matMul(tf.square(rotA(a.reshape([m, r]))) as tf.Tensor2D, dinv); // [M, O]
      const g2 = tf.square(rotG(g.reshape([c, m, o]))); // [C, M, O]
      return tf.transpose(tf.sum(tf.mul(g2, w.reshape([1, m, o])), 2)) as tf.Tensor2D;
    });
  }
  const step = Math.max(1, Math.floor(VARIANCE_CHUNK_VALUES / (c * r * o)));
  const rotateAfter = qg !== undefined && r < p;
  const weights = dinv.reshape([1, r, 1, o]);
  const chunks: tf.Tensor2D[] = [];
  for (let s = 0; s < m; s += step) {
    chunks.push(
      tf.tidy(() => {
        const size = Math.min(step, m - s);
        const at = rotA(a.slice([s, 0, 0], [size, -1, -1])); // [size, P, R]
        const gs = g.slice([0, s, 0, 0], [-1, size, -1, -1]); // [C, size, P, O]
        // Q_G acts on the last axis of M̃ = Ãᵀ G Q_G: rotate G's P rows before the product or M's R rows after it,
        // whichever is fewer (LeNet-5's first convolution: P = 576 locations, R = 26).
        const gt = rotateAfter ? gs : rotG(gs);
        const gByExample = tf.transpose(gt, [1, 2, 0, 3]).reshape([size, p, c * o]) as tf.Tensor3D;
        const aT = tf.transpose(at, [0, 2, 1]) as tf.Tensor3D; // [size, R, P]
        // Wide input factors (LeNet-5's second convolution: R = 501): one 2-D product per example, which the wasm
        // backend runs ~6× faster than its batched MatMul on these shapes; narrow ones (R = 26) batched.
        const mt =
          r >= LOOP_ROWS
            ? tf.concat(
                tf
                  .unstack(aT)
                  .map((an, n) =>
                    tf.matMul(
                      an as tf.Tensor2D,
                      gByExample.slice([n, 0, 0], [1, p, c * o]).reshape([p, c * o]),
                    ),
                  ),
                0,
              )
            : tf.matMul(aT, gByExample); // [size, R, C·O]
        const rotated = rotateAfter ? rotG(mt.reshape([size, r, c, o])) : mt.reshape([size, r, c, o]);
        return tf.sum(tf.mul(tf.square(rotated), weights), [1, 3]) as tf.Tensor2D;
      }),
    );
  }
  weights.dispose();
  if (chunks.length === 1) return chunks[0];
  const out = tf.concat(chunks, 0) as tf.Tensor2D;
  tf.dispose(chunks);
  return out;
}

/** Sums per-layer `[M, C]` variances, disposing the parts. */
export function sumVariances(parts: tf.Tensor2D[]): tf.Tensor2D {
  if (parts.length === 1) return parts[0];
  const out = tf.addN(parts) as tf.Tensor2D;
  tf.dispose(parts);
  return out;
}

/** Sums per-layer `[M, C, C]` covariances, disposing the parts. */
export function sumCovariances(parts: tf.Tensor3D[]): tf.Tensor3D {
  if (parts.length === 1) return parts[0];
  const out = tf.addN(parts) as tf.Tensor3D;
  tf.dispose(parts);
  return out;
}
