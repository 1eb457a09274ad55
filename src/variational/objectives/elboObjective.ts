import * as tf from '@tensorflow/tfjs';
import type { Batch, LossTerms, Objective, StepContext } from '../../train/types.js';

import { modelKl, sparsityReport, updatePriors } from '../modelLayers.js';
import { withNoiseSource } from '../noise.js';
import { asKlWeightSchedule, type KlWeightSchedule } from './klWeightSchedules.js';
import {
  likelihoodSettings,
  negativeLogLikelihoodPerExample,
  type VariationalLikelihood,
} from './likelihood.js';

/** Options of {@link elboObjective}. */
export interface ElboObjectiveOptions {
  /** KL weight β: a number or a schedule. Default 1 (the ELBO). */
  readonly beta?: number | KlWeightSchedule;
  /** Forward passes K per step; the data term is their mean (each pass draws fresh noise). Default 1. */
  readonly samples?: number;
  /** Default `categorical` (logits and int32 labels). */
  readonly likelihood?: VariationalLikelihood;
  /** Observation noise σ for the Gaussian likelihood. Default 1. */
  readonly noiseStd?: number;
  /** Apply the families' empirical-Bayes prior updates after each epoch. Default true (no-op for fixed priors). */
  readonly empiricalBayes?: boolean;
}

/**
 * The minibatch evidence lower bound, per training example (Blundell et al. 2015, eq. 8; seed 001):
 *
 *   loss = (1/K) Σ_k mean_{i∈batch} −log p(yᵢ | xᵢ, θ_k)  +  β · KL(q ‖ p) / N,
 *
 * which is −ELBO/N for β = 1: the usual N/M scaling of the minibatch log-likelihood, divided by N so that the loss has
 * the scale of a cross-entropy and learning rates carry over from MAP training (the seminar recipe's
 * `N·CE + β·KL` is this loss times N). Logged terms: `data` (mean NLL), `kl` (total KL in nats), `beta`, and `nelbo`
 * (= data + KL/N, the β-free negative ELBO per example). Epoch metrics: `sparsity` (fraction of kernel weights with
 * log α ≥ threshold) and `sparsity/<layer>`.
 */
export function elboObjective(options: ElboObjectiveOptions = {}): Objective {
  const schedule = asKlWeightSchedule(options.beta);
  const { samples, likelihood, noiseStd } = likelihoodSettings(options, 1);
  const empiricalBayes = options.empiricalBayes ?? true;

  return {
    name: 'elbo',
    loss(model: tf.LayersModel, batch: Batch, context: StepContext): LossTerms {
      return withNoiseSource(context.random, () => {
        const passes: tf.Scalar[] = [];
        for (let k = 0; k < samples; k++) {
          const outputs = model.apply(batch.x, { training: true }) as tf.Tensor;
          passes.push(tf.mean(negativeLogLikelihoodPerExample(likelihood, outputs, batch.y, noiseStd)));
        }
        const data = (samples === 1 ? passes[0] : tf.div(tf.addN(passes), samples)) as tf.Scalar;
        const kl = modelKl(model);
        const progress = context.epoch + context.step / Math.max(1, context.stepsPerEpoch);
        const betaValue = schedule.value(progress);
        const klPerExample = tf.div(kl, context.datasetSize);
        const loss = tf.add(data, tf.mul(betaValue, klPerExample)) as tf.Scalar;
        const nelbo = tf.add(data, klPerExample) as tf.Scalar;
        return { loss, terms: { data, kl, beta: tf.scalar(betaValue), nelbo } };
      });
    },
    onEpochEnd(epoch, model, logs) {
      schedule.onEpochEnd?.(epoch, logs);
      if (empiricalBayes) updatePriors(model);
    },
    epochMetrics(model) {
      const report = sparsityReport(model);
      const metrics: Record<string, number> = { sparsity: report.fraction };
      for (const layer of report.layers) metrics[`sparsity/${layer.name}`] = layer.fraction;
      return metrics;
    },
    getState: () => ({ schedule: schedule.getState?.() ?? null }),
    setState(state) {
      const s = state.schedule;
      if (s && typeof s === 'object') schedule.setState?.(s as Record<string, unknown>);
    },
  };
}
