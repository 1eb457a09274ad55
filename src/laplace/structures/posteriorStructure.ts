import type * as tf from '@tensorflow/tfjs';
import type { Random } from '../../runtime/random.js';
import type { HessianStructure } from '../curvature/curvature.js';
import type { LayerQuantities } from '../model/preactivationGradients.js';

/**
 * A Gaussian posterior N(θ*, P⁻¹) over a parameter subset, stored in one structure (diagonal, Kronecker per layer, or
 * dense). Everything the predictive, the evidence and pruning need from it.
 */
export interface PosteriorStructure {
  readonly structure: HessianStructure;
  /** Number of parameters S. */
  readonly size: number;
  /** log det P. */
  logDetPrecision(): number;
  /** diag(P⁻¹), in subset order. */
  marginalVariances(): Float64Array;
  /** P⁻¹ v. */
  covarianceTimes(v: ArrayLike<number>): Float64Array;
  /** One draw δ ~ N(0, P⁻¹), in subset order. */
  sampleDeviation(random: Random): Float32Array;
  /**
   * The linearised predictive covariance J Σ Jᵀ per example, `[M, C, C]`, from layer quantities gathered with unit
   * cotangents (so `q.gradients` hold the Jacobian factors), without forming the `[C, S]` Jacobian when the structure
   * allows (Kronecker and diagonal).
   */
  functionalCovariance(q: LayerQuantities): tf.Tensor3D;
  /** The diagonal of {@link functionalCovariance}, `[M, C]`, computed without the off-diagonal terms. */
  functionalVariance(q: LayerQuantities): tf.Tensor2D;
  /**
   * {@link functionalVariance} under K other prior precisions (one value per covered layer each, already scaled),
   * `[K, M, C]`, sharing everything that does not depend on the prior. Structures whose eigenbasis does not move with
   * the prior (diagonal, Kronecker) have it; a dense one would need K factorisations.
   */
  functionalVarianceAtPriors?(q: LayerQuantities, priors: readonly (readonly number[])[]): tf.Tensor3D;
  /** Frees the tensors the structure caches for predictions. */
  dispose(): void;
}
