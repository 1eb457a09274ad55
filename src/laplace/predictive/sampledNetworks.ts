import * as tf from '@tensorflow/tfjs';
import type { LayerSubset } from '../curvature/layerJacobian.js';
import { type LaplaceLayout, type LayerWeights, layerWeightsFrom } from '../model/laplaceLayers.js';
import { tappedForward } from '../model/tappedForward.js';

/**
 * Logits of the network with the covered weights set to θ*_S + δ (all others at MAP), one pass per deviation:
 * `[samples, M, C]`. The model's own weights are not changed.
 */
export function sampledNetworkLogits(
  model: tf.LayersModel,
  layout: LaplaceLayout,
  parts: readonly LayerSubset[],
  theta: Float32Array,
  deviations: readonly Float32Array[],
  x: tf.Tensor,
): tf.Tensor3D {
  const outputs = deviations.map((delta) =>
    tf.tidy(() => {
      const perturbed = theta.slice();
      let k = 0;
      for (const p of parts)
        for (let j = 0; j < p.local.length; j++) perturbed[p.layer.offset + p.local[j]] += delta[k++];
      const weights = new Map<string, LayerWeights>(
        parts.map((p) => [p.layer.name, layerWeightsFrom(p.layer, perturbed)]),
      );
      return tappedForward(model, layout, x, { weights, forwardOnly: true }).logits;
    }),
  );
  const out = tf.stack(outputs) as tf.Tensor3D;
  tf.dispose(outputs);
  return out;
}
