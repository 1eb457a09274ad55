import * as tf from '@tensorflow/tfjs';
import type { Batch, LossTerms, Objective, StepContext } from '../../train/types.js';
import { BayescompError } from '../../util/errors.js';
import type { WeightSample } from '../bayesianLayer.js';
import { bayesianLayers } from '../modelLayers.js';
import { withNoiseSource } from '../noise.js';
import {
  likelihoodSettings,
  negativeLogLikelihoodPerExample,
  type VariationalLikelihood,
} from './likelihood.js';
import { renyiBound } from './renyiBound.js';

/** Options of {@link renyiObjective}. */
export interface RenyiObjectiveOptions {
  /** α: 1 gives the ELBO, 0 the IWAE bound, `-Infinity` VR-max, `Infinity` VR-min. */
  readonly alpha: number;
  /** Weight samples K per step. Default 5. */
  readonly samples?: number;
  /** Default `categorical`. */
  readonly likelihood?: VariationalLikelihood;
  /** Observation noise σ for the Gaussian likelihood. Default 1. */
  readonly noiseStd?: number;
}

/**
 * Variational Rényi inference (Li & Turner 2016) for a Bayesian network. Each of the K samples draws one weight set
 * θ_k ~ q for the whole batch (the layers' shared-sample path, whatever their reparameterisation option) and forms
 *
 *   log w_k = (N/M) Σ_{i∈batch} log p(yᵢ | xᵢ, θ_k) + log p(θ_k) − log q(θ_k),
 *
 * then maximises the bound of {@link renyiBound}. The loss is −L̂/N (per example, the scale of the ELBO objective's
 * loss); the logged `bound` is L̂ itself (nats, whole training set), `data` the mean NLL over samples. Needs families
 * with normalised log densities (the Gaussian family); the prior of deterministic parameters (biases) is flat.
 */
export function renyiObjective(options: RenyiObjectiveOptions): Objective {
  const alpha = options.alpha;
  const { samples, likelihood, noiseStd } = likelihoodSettings(options, 5);

  return {
    name: 'renyi',
    loss(model: tf.LayersModel, batch: Batch, context: StepContext): LossTerms {
      const layers = bayesianLayers(model);
      if (layers.length === 0)
        throw new BayescompError('bad-config', 'the Rényi objective needs Bayesian layers');
      return withNoiseSource(context.random, () => {
        const logWeights: tf.Scalar[] = [];
        const nlls: tf.Scalar[] = [];
        for (let k = 0; k < samples; k++) {
          const draws: WeightSample[] = layers.map((layer) => layer.sampleWeights(context.random));
          let outputs: tf.Tensor;
          layers.forEach((layer, i) => layer.setWeightSample(draws[i]));
          try {
            outputs = model.apply(batch.x, { training: true }) as tf.Tensor;
          } finally {
            layers.forEach((layer) => layer.setWeightSample(undefined));
          }
          const nll = tf.mean(
            negativeLogLikelihoodPerExample(likelihood, outputs, batch.y, noiseStd),
          ) as tf.Scalar;
          nlls.push(nll);
          const logRatio = tf.addN(layers.map((layer, i) => layer.logDensityRatio(draws[i])));
          logWeights.push(tf.sub(logRatio, tf.mul(context.datasetSize, nll)) as tf.Scalar);
        }
        const { bound, objective } = renyiBound(tf.stack(logWeights) as tf.Tensor1D, alpha);
        const loss = tf.div(tf.neg(objective), context.datasetSize) as tf.Scalar;
        const data = tf.div(tf.addN(nlls), samples) as tf.Scalar;
        return { loss, terms: { bound, data } };
      });
    },
  };
}
