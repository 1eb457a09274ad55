import type { LaplacePosterior } from '../laplace/index.js';
import type { WeightPosterior } from './weight-posterior.js';

/**
 * The kernel marginals of a Laplace posterior as {@link WeightPosterior}s, one per layer whose weights it covers
 * entirely (all weights, the last layer, or layers by name): the mean is the MAP kernel, the variance the posterior
 * marginal diag(P⁻¹) — for a Kronecker posterior the outer product of the inverse factors' diagonals, as the structure
 * computes it — and the prior precision the layer's λ (for the Savage–Dickey rule). Biases are not pruned, so they
 * are left out. Layers covered only in part (a subnetwork) have no marginal for their other weights and are skipped.
 */
export function laplaceWeightPosteriors(posterior: LaplacePosterior): WeightPosterior[] {
  const mean = posterior.mean;
  const variance = posterior.marginalVariances();
  const out: WeightPosterior[] = [];
  let cursor = 0;
  posterior.parts.forEach((part, p) => {
    const { layer } = part;
    if (part.whole) {
      const kernelCount = layer.fanIn * layer.outputSize;
      // Rows 0..fanIn−1 of the augmented matrix [kernel; bias] (row-major, outputSize columns) are the kernel in
      // TF.js memory order ([in, out] for Dense, [kh, kw, cin, cout] for Conv2D); the bias row comes last.
      out.push({
        layer: layer.name,
        name: `${layer.name}/kernel`,
        shape: layer.kernelShape,
        mean: Float32Array.from(mean.subarray(cursor, cursor + kernelCount)),
        variance: Float32Array.from(variance.subarray(cursor, cursor + kernelCount)),
        priorPrecision: posterior.priorPrecision[p] ?? posterior.priorPrecision[0],
      });
    }
    cursor += part.local.length;
  });
  return out;
}
