/**
 * The posterior summary of one weight tensor that compression works from. Variational layers and Laplace posteriors
 * both reduce to this: a mean per weight, a marginal variance per weight, and (for Sparse VD) log α.
 */
export interface WeightPosterior {
  /** Name of the layer the weights belong to (e.g. `dense_1`). */
  readonly layer: string;
  /** Name of the weight tensor (e.g. `dense_1/kernel`). */
  readonly name: string;
  /** Shape of the tensor (Dense `[in, out]`, Conv2D `[h, w, in, out]`). */
  readonly shape: readonly number[];
  /** Posterior mean of each weight (the MAP estimate for a Laplace posterior). */
  readonly mean: Float32Array;
  /** Marginal posterior variance of each weight, when the posterior has one. */
  readonly variance?: Float32Array;
  /** Sparse VD's log α = log σ² − log θ² per weight, when the posterior has it. */
  readonly logAlpha?: Float32Array;
  /**
   * Precision τ of the zero-mean Gaussian prior N(0, 1/τ) on these weights (for the Savage–Dickey rule): one value for
   * the tensor or one per weight.
   */
  readonly priorPrecision?: number | Float32Array;
}

/** Number of weights in a tensor of this shape. */
export function weightCount(posterior: Pick<WeightPosterior, 'shape'>): number {
  return posterior.shape.reduce((a, b) => a * b, 1);
}
