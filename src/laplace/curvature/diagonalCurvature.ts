import * as tf from '@tensorflow/tfjs';
import type { LayerQuantities } from '../model/preactivationGradients.js';
import { layerJacobian, layerJacobianColumns, type LayerSubset } from './layerJacobian.js';

/** Diagonal of the curvature Σ_n Σ_k (J_nᵀ v_{n,k})², over a parameter subset in subset order. */
export interface DiagonalCurvature {
  readonly structure: 'diag';
  readonly values: Float64Array;
}

/** A zero diagonal curvature for `size` parameters. */
export function emptyDiagonalCurvature(size: number): DiagonalCurvature {
  return { structure: 'diag', values: new Float64Array(size) };
}

/** Largest number of float32 values a per-example Jacobian chunk may hold while summing squares. */
const CHUNK_VALUES = 4_000_000;

/** Σ over k and m of the squared layer Jacobian, `[R·O]` or `[S]` for a partial layer. */
function squaredJacobianSum(a: tf.Tensor3D, g: tf.Tensor4D, part: LayerSubset): tf.Tensor1D {
  const [k, m, p] = g.shape;
  const { layer, local, whole } = part;
  if (whole && p === 1) {
    // Dense: Σ_{k,m} (a_r g_o)² = Σ_m a_r² Σ_k g_o² — one small matrix product.
    return tf.tidy(() => {
      const a2 = tf.square(a.reshape([m, layer.rows]));
      const g2 = tf.sum(tf.square(g.reshape([k, m, layer.outputSize])), 0);
      return tf.matMul(tf.transpose(a2), g2).reshape([-1]) as tf.Tensor1D;
    });
  }
  // Locations share weights: square the per-example sums over locations; chunk over examples to bound memory.
  const width = whole ? layer.paramCount : local.length;
  const step = Math.max(1, Math.floor(CHUNK_VALUES / (k * width)));
  let total = tf.zeros([width]) as tf.Tensor1D;
  for (let s = 0; s < m; s += step) {
    const next = tf.tidy(() => {
      const size = Math.min(step, m - s);
      const aS = a.slice([s, 0, 0], [size, -1, -1]);
      const gS = g.slice([0, s, 0, 0], [-1, size, -1, -1]);
      const j = whole ? layerJacobian(aS, gS) : layerJacobianColumns(aS, gS, local, layer.outputSize);
      return tf.add(total, tf.sum(tf.square(j), [0, 1])) as tf.Tensor1D;
    });
    total.dispose();
    total = next;
  }
  return total;
}

/** Adds a batch's diagonal curvature (its cotangents already weighted, see `ggnCotangents`) into `curvature`. */
export function accumulateDiagonal(
  curvature: DiagonalCurvature,
  q: LayerQuantities,
  parts: readonly LayerSubset[],
): void {
  let offset = 0;
  for (const part of parts) {
    const t = squaredJacobianSum(q.inputs.get(part.layer.name)!, q.gradients.get(part.layer.name)!, part);
    const v = t.dataSync();
    for (let i = 0; i < v.length; i++) curvature.values[offset + i] += v[i];
    offset += v.length;
    t.dispose();
  }
}
