import type * as tf from '@tensorflow/tfjs';
import { gaussianNllPerExample, softmaxCrossEntropyPerExample } from '../../train/map-objective.js';
import { requireConfig } from '../../util/errors.js';

/** The observation model of a variational objective: categorical on logits, or Gaussian with known noise. */
export type VariationalLikelihood = 'categorical' | 'gaussian';

/** Per-example negative log-likelihood −log p(y | x, θ) for the chosen likelihood. */
export function negativeLogLikelihoodPerExample(
  likelihood: VariationalLikelihood,
  outputs: tf.Tensor,
  targets: tf.Tensor,
  noiseStd: number,
): tf.Tensor1D {
  return likelihood === 'categorical'
    ? softmaxCrossEntropyPerExample(outputs, targets)
    : gaussianNllPerExample(outputs, targets, noiseStd);
}

/** Validates likelihood options (shared by the objectives). */
export function checkLikelihood(likelihood: VariationalLikelihood, noiseStd: number): void {
  requireConfig(
    likelihood === 'categorical' || likelihood === 'gaussian',
    `unknown likelihood '${String(likelihood)}' (use categorical or gaussian)`,
  );
  requireConfig(
    noiseStd > 0 && Number.isFinite(noiseStd),
    `noise standard deviation must be > 0, got ${noiseStd}`,
  );
}

/** The sampling and likelihood settings every variational objective takes, with their defaults. */
export interface LikelihoodSettings {
  readonly samples: number;
  readonly likelihood: VariationalLikelihood;
  readonly noiseStd: number;
}

/**
 * Validated sampling and likelihood settings (samples per step, likelihood, observation noise), shared by the
 * single-process objectives and their per-worker shards so both read options the same way.
 */
export function likelihoodSettings(
  options: {
    readonly samples?: number;
    readonly likelihood?: VariationalLikelihood;
    readonly noiseStd?: number;
  },
  defaultSamples: number,
): LikelihoodSettings {
  const samples = options.samples ?? defaultSamples;
  requireConfig(
    Number.isInteger(samples) && samples >= 1,
    `samples must be a positive integer, got ${samples}`,
  );
  const likelihood = options.likelihood ?? 'categorical';
  const noiseStd = options.noiseStd ?? 1;
  checkLikelihood(likelihood, noiseStd);
  return { samples, likelihood, noiseStd };
}
