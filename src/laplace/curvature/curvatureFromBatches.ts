import * as tf from '@tensorflow/tfjs';
import type { Batch } from '../../train/types.js';
import {
  addLikelihoodStats,
  type CurvatureType,
  ggnCotangents,
  type LaplaceLikelihood,
  type LikelihoodStats,
  lossGradientCotangents,
} from '../likelihood.js';
import type { LaplaceLayout } from '../model/laplaceLayers.js';
import { disposeQuantities, preactivationGradients } from '../model/preactivationGradients.js';
import { accumulateCurvature, type Curvature, finishCurvature } from './curvature.js';
import type { LayerSubset } from './layerJacobian.js';

/** A curvature together with the data log-likelihood statistics gathered in the same passes. */
export interface CurvatureState {
  readonly curvature: Curvature;
  readonly stats: LikelihoodStats;
}

/** Empty likelihood statistics. */
export function emptyStats(): LikelihoodStats {
  return { logLik: 0, sse: 0, n: 0, outputs: 0 };
}

/**
 * Adds the curvature of every batch into `state` (consuming and disposing the batches): the GGN Σ_n J_nᵀ Λ_n J_n from
 * the square-root cotangents of Λ (one backward pass per output, batch tiled), or the empirical Fisher Σ_n ∇ℓ_n ∇ℓ_nᵀ
 * from one loss-gradient cotangent per example. Regression curvature is stored at σ² = 1.
 */
export function accumulateFromBatches(
  model: tf.LayersModel,
  layout: LaplaceLayout,
  parts: readonly LayerSubset[],
  batches: Iterable<Batch>,
  options: { readonly likelihood: LaplaceLikelihood; readonly type: CurvatureType },
  state: CurvatureState,
): void {
  const layers = parts.map((p) => p.layer);
  try {
    for (const batch of batches) {
      try {
        const cot =
          options.type === 'ggn'
            ? ggnCotangents(options.likelihood)
            : lossGradientCotangents(options.likelihood, batch.y);
        const q = preactivationGradients(model, layout, layers, batch.x, cot);
        try {
          addLikelihoodStats(state.stats, options.likelihood, q.logits, batch.y);
          accumulateCurvature(state.curvature, q, parts);
        } finally {
          disposeQuantities(q);
        }
      } finally {
        tf.dispose([batch.x, batch.y]);
      }
    }
  } finally {
    finishCurvature(state.curvature);
  }
}
