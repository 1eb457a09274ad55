import * as tf from '@tensorflow/tfjs';
import type { LayerQuantities } from '../model/preactivationGradients.js';
import { subsetJacobian, type LayerSubset } from './layerJacobian.js';

/** The dense curvature Σ_n Σ_k (J_nᵀ v_{n,k})(J_nᵀ v_{n,k})ᵀ over a parameter subset, S × S row-major, float64. */
export interface FullCurvature {
  readonly structure: 'full';
  readonly size: number;
  readonly matrix: Float64Array;
}

/** A zero S × S curvature. */
export function emptyFullCurvature(size: number): FullCurvature {
  return { structure: 'full', size, matrix: new Float64Array(size * size) };
}

/** Adds a batch's dense curvature J'ᵀ J' (J' the pulled-back cotangents, `[K·M, S]`) into `curvature`. */
export function accumulateFull(
  curvature: FullCurvature,
  q: LayerQuantities,
  parts: readonly LayerSubset[],
): void {
  const h = tf.tidy(() => {
    const j = subsetJacobian(q, parts);
    const j2 = j.reshape([-1, curvature.size]);
    return tf.matMul(tf.transpose(j2), j2);
  });
  const v = h.dataSync();
  for (let i = 0; i < v.length; i++) curvature.matrix[i] += v[i];
  h.dispose();
}
