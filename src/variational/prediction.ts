import * as tf from '@tensorflow/tfjs';
import { monteCarloPredictive, type Predictive } from '../eval/predictive.js';
import type { Random } from '../runtime/random.js';
import { requireConfig } from '../util/errors.js';
import { withPredictionMode } from './modelLayers.js';
import { noiseSource, withNoiseSource } from './noise.js';

/** Options of {@link predictMonteCarlo}. */
export interface MonteCarloPredictionOptions {
  /** Forward passes S. Default 30. */
  readonly samples?: number;
  /** Examples per forward pass (memory is bounded by S × batchSize × C). Default 256. */
  readonly batchSize?: number;
  /** Noise generator. Default: the current noise source. */
  readonly random?: Random;
  /** Also return the per-sample probabilities `[S, n, C]` (for mutual information). Default false. */
  readonly returnSamples?: boolean;
}

/** Predictive probabilities, and optionally the per-sample probabilities they average. */
export interface MonteCarloPrediction {
  /** (1/S) Σ_s softmax(f(x; θ_s)), shaped `[n, C]`. */
  readonly probs: tf.Tensor2D;
  /** softmax(f(x; θ_s)) for every sample, shaped `[S, n, C]`, when asked for. */
  readonly samples?: tf.Tensor3D;
}

/**
 * The Monte-Carlo predictive p(y | x, D) ≈ (1/S) Σ_s softmax(f(x; θ_s)), θ_s ~ q (seed 001, "ensembling"): S
 * stochastic passes of the Bayesian layers (each in its reparameterisation mode — local reparameterisation draws
 * independent weights per example), run batch by batch so memory stays bounded. The model outputs logits. The
 * returned tensors belong to the caller.
 */
export function predictMonteCarlo(
  model: tf.LayersModel,
  x: tf.Tensor,
  options: MonteCarloPredictionOptions = {},
): MonteCarloPrediction {
  const samples = options.samples ?? 30;
  const batchSize = options.batchSize ?? 256;
  requireConfig(
    Number.isInteger(samples) && samples >= 1,
    `samples must be a positive integer, got ${samples}`,
  );
  requireConfig(
    Number.isInteger(batchSize) && batchSize >= 1,
    `batch size must be a positive integer, got ${batchSize}`,
  );
  const random = options.random ?? noiseSource();
  const n = x.shape[0];
  const meanParts: tf.Tensor[] = [];
  const sampleParts: tf.Tensor[] = [];
  withPredictionMode(model, 'sample', () =>
    withNoiseSource(random, () => {
      for (let start = 0; start < n; start += batchSize) {
        const size = Math.min(batchSize, n - start);
        tf.tidy(() => {
          const xb = tf.slice(x, start, size);
          const probs = tf.stack(
            Array.from({ length: samples }, () =>
              tf.tidy(() => tf.softmax(model.predict(xb, { batchSize: size }) as tf.Tensor)),
            ),
          );
          meanParts.push(tf.keep(tf.mean(probs, 0)));
          if (options.returnSamples) sampleParts.push(tf.keep(probs));
        });
      }
    }),
  );
  const probs = concatAndDispose(meanParts, 0) as tf.Tensor2D;
  return options.returnSamples
    ? { probs, samples: concatAndDispose(sampleParts, 1) as tf.Tensor3D }
    : { probs };
}

/**
 * The deterministic prediction softmax(f(x; E_q[θ])) with posterior means (the "weight scaling" rule, seed 001), or
 * with pruned means (`pruned: true`, log α ≥ threshold set to zero). Returns `[n, C]` probabilities.
 */
export function predictPosteriorMean(
  model: tf.LayersModel,
  x: tf.Tensor,
  options: { readonly pruned?: boolean; readonly batchSize?: number } = {},
): tf.Tensor2D {
  const batchSize = options.batchSize ?? 256;
  return withPredictionMode(model, options.pruned ? 'pruned-mean' : 'mean', () =>
    tf.tidy(() => tf.softmax(model.predict(x, { batchSize }) as tf.Tensor) as tf.Tensor2D),
  );
}

/**
 * A Bayesian model's Monte-Carlo predictive as an evaluation {@link Predictive} (for `evaluatePredictive`, OOD
 * detection, reports): S stochastic passes per batch, noise drawn from `random`.
 */
export function bayesianPredictive(
  model: tf.LayersModel,
  options: {
    readonly samples?: number;
    readonly random?: Random;
    readonly batchSize?: number;
    readonly name?: string;
  } = {},
): Predictive {
  const samples = options.samples ?? 30;
  const random = options.random ?? noiseSource();
  return monteCarloPredictive(
    (x) =>
      // One pass over the whole batch: LayersModel.predict's default splits it into batches of 32, repeating the
      // per-pass work on all weights (posterior moments, noise) for each (3× slower on LeNet-300-100).
      withPredictionMode(model, 'sample', () =>
        withNoiseSource(random, () => model.predict(x, { batchSize: x.shape[0] }) as tf.Tensor),
      ),
    { samples, batchSize: options.batchSize, name: options.name ?? `variational (S=${samples})` },
  );
}

function concatAndDispose(parts: tf.Tensor[], axis: number): tf.Tensor {
  if (parts.length === 1) return parts[0];
  const out = tf.concat(parts, axis);
  tf.dispose(parts);
  return out;
}
