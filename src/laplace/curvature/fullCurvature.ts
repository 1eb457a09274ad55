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

/**
 * Batch sums not yet added into the float64 matrix: reading an S × S matrix back from the backend after every batch
 * would dominate the cost, so up to {@link FLUSH_EVERY} batches are summed on the backend first (float32 sums of a few
 * batches, then float64 across flushes).
 */
const pending = new WeakMap<FullCurvature, { sum: tf.Tensor2D; batches: number }>();
const FLUSH_EVERY = 16;

/** Adds a batch's dense curvature J'ᵀ J' (J' the pulled-back cotangents, `[K·M, S]`) into `curvature`. */
export function accumulateFull(
  curvature: FullCurvature,
  q: LayerQuantities,
  parts: readonly LayerSubset[],
): void {
  const h = tf.tidy(() => {
    const j = subsetJacobian(q, parts);
    const j2 = j.reshape([-1, curvature.size]);
    return tf.matMul(tf.transpose(j2), j2) as tf.Tensor2D;
  });
  const p = pending.get(curvature);
  if (!p) pending.set(curvature, { sum: h, batches: 1 });
  else {
    const sum = tf.add(p.sum, h) as tf.Tensor2D;
    tf.dispose([p.sum, h]);
    pending.set(curvature, { sum, batches: p.batches + 1 });
  }
  if (pending.get(curvature)!.batches >= FLUSH_EVERY) flushFull(curvature);
}

/** Moves the pending backend sum into the float64 matrix (call after the last batch). */
export function flushFull(curvature: FullCurvature): void {
  const p = pending.get(curvature);
  if (!p) return;
  const v = p.sum.dataSync();
  for (let i = 0; i < v.length; i++) curvature.matrix[i] += v[i];
  p.sum.dispose();
  pending.delete(curvature);
}
