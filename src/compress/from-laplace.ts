// Module paths, not the laplace barrel: the barrel brings LaplacePosterior's file I/O into the browser bundle.
import { type KroneckerObsOptions, laplaceObsPrune, laplaceObsUpdate } from '../laplace/kroneckerObs.js';
import type { LaplacePosterior } from '../laplace/laplacePosterior.js';
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

/** A layer's weights after the OBS update: the kernel (TF.js memory order) and the bias, by layer name. */
export interface LaplaceObsWeights {
  readonly kernel: Float32Array;
  readonly bias?: Float32Array;
}

/**
 * Optimal-Brain-Surgeon update of the kept weights (seed 000; Hassibi & Stork 1993) for kernel keep-masks keyed
 * `<layer>/kernel`: the covered weights are conditioned on the pruned ones being zero (per output unit for a Kronecker
 * posterior, exactly for a full one; see {@link laplaceObsUpdate}). Biases are never pruned but take part in the update
 * — they absorb the mean shift of the pruned inputs. Returns the updated kernel and bias of every layer the posterior
 * covers entirely; layers covered in part keep their masked values (an update there would need weights outside the
 * posterior).
 */
export function laplaceObsWeights(
  posterior: LaplacePosterior,
  masks: ReadonlyMap<string, Uint8Array>,
  options: KroneckerObsOptions = {},
): Map<string, LaplaceObsWeights> {
  return splitCovered(posterior, laplaceObsUpdate(posterior, coveredKeep(posterior, masks).keep, options));
}

/**
 * Iterative OBS pruning ({@link laplaceObsPrune}) from first-round kernel masks (any criterion at
 * `obsSparsitySchedule(sparsity, steps)[0]`) to `sparsity` of the covered kernels, re-ranking by the conditional
 * posterior's w²/Var after each update. Returns the final kernel masks (layers outside the posterior keep their
 * first-round masks) and the updated weights.
 */
export function laplaceObsPruneMasks(
  posterior: LaplacePosterior,
  firstMasks: ReadonlyMap<string, Uint8Array>,
  options: { sparsity: number; steps: number; scope?: 'global' | 'per-layer' },
): { masks: Map<string, Uint8Array>; weights: Map<string, LaplaceObsWeights> } {
  const { keep, prunable } = coveredKeep(posterior, firstMasks);
  const result = laplaceObsPrune(posterior, keep, { ...options, prunable });
  const masks = new Map(firstMasks);
  let cursor = 0;
  for (const part of posterior.parts) {
    if (part.whole) {
      const kernelCount = part.layer.fanIn * part.layer.outputSize;
      masks.set(`${part.layer.name}/kernel`, result.keep.slice(cursor, cursor + kernelCount));
    }
    cursor += part.local.length;
  }
  return { masks, weights: splitCovered(posterior, result.weights) };
}

/** The keep mask over the covered weights from kernel masks, and which covered weights are kernels (prunable). */
function coveredKeep(
  posterior: LaplacePosterior,
  masks: ReadonlyMap<string, Uint8Array>,
): { keep: Uint8Array; prunable: Uint8Array } {
  const keep = new Uint8Array(posterior.indices.length).fill(1);
  const prunable = new Uint8Array(posterior.indices.length);
  let cursor = 0;
  for (const part of posterior.parts) {
    if (part.whole) {
      // Whole layers are covered in layout order: kernel entries first, then the bias row.
      const kernelCount = part.layer.fanIn * part.layer.outputSize;
      prunable.fill(1, cursor, cursor + kernelCount);
      const mask = masks.get(`${part.layer.name}/kernel`);
      if (mask) for (let i = 0; i < mask.length; i++) keep[cursor + i] = mask[i];
    }
    cursor += part.local.length;
  }
  return { keep, prunable };
}

/** Covered weights (subset order) split into each whole layer's kernel and bias. */
function splitCovered(posterior: LaplacePosterior, updated: Float64Array): Map<string, LaplaceObsWeights> {
  const out = new Map<string, LaplaceObsWeights>();
  let cursor = 0;
  for (const part of posterior.parts) {
    const { layer } = part;
    if (part.whole) {
      const kernelCount = layer.fanIn * layer.outputSize;
      out.set(layer.name, {
        kernel: Float32Array.from(updated.subarray(cursor, cursor + kernelCount)),
        bias: layer.useBias
          ? Float32Array.from(updated.subarray(cursor + kernelCount, cursor + layer.paramCount))
          : undefined,
      });
    }
    cursor += part.local.length;
  }
  return out;
}
