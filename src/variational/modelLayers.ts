import * as tf from '@tensorflow/tfjs';
import { BayesianLayer, type PredictionMode, type Reparameterisation } from './bayesianLayer.js';

/** The Bayesian layers of a model in layer order, looking inside nested models. */
export function bayesianLayers(model: tf.LayersModel): BayesianLayer[] {
  const found: BayesianLayer[] = [];
  const visit = (layers: readonly tf.layers.Layer[]) => {
    for (const layer of layers) {
      if (layer instanceof BayesianLayer) found.push(layer);
      else if (layer instanceof tf.LayersModel) visit(layer.layers);
    }
  };
  visit(model.layers);
  return found;
}

/** Σ over the model's Bayesian layers of KL(q ‖ p) (0 for a model without Bayesian layers). */
export function modelKl(model: tf.LayersModel): tf.Scalar {
  return tf.tidy(() => {
    let total: tf.Scalar = tf.scalar(0);
    for (const layer of bayesianLayers(model)) total = tf.add(total, layer.kl());
    return total;
  });
}

/**
 * Part `part` of `parts` of {@link modelKl} (each layer's {@link BayesianLayer.klPart}): the parts sum to the whole,
 * so W data-parallel workers can each differentiate one.
 */
export function modelKlPart(model: tf.LayersModel, part: number, parts: number): tf.Scalar {
  return tf.tidy(() => {
    let total: tf.Scalar = tf.scalar(0);
    for (const layer of bayesianLayers(model)) total = tf.add(total, layer.klPart(part, parts));
    return total;
  });
}

/** Pruned and total kernel weights of one layer. */
export interface BayesianLayerSparsity {
  readonly name: string;
  readonly pruned: number;
  readonly total: number;
  /** pruned / total. */
  readonly fraction: number;
}

/** Sparsity of a model: per Bayesian layer and in total. */
export interface BayesianSparsityReport {
  readonly layers: readonly BayesianLayerSparsity[];
  readonly pruned: number;
  readonly total: number;
  readonly fraction: number;
  /** total / (total − pruned): the weight compression factor |W| / |W ≠ 0| of the kernels. */
  readonly compression: number;
}

/**
 * Fraction of kernel weights each Bayesian layer prunes (log α ≥ the layer's threshold, 3 by default as in Molchanov
 * et al. 2017); families without log α prune nothing. Biases are not counted.
 */
export function sparsityReport(model: tf.LayersModel): BayesianSparsityReport {
  const layers = bayesianLayers(model).map((layer) => {
    const { pruned, total } = layer.sparsityCounts();
    return { name: layer.name, pruned, total, fraction: total > 0 ? pruned / total : 0 };
  });
  const pruned = layers.reduce((a, l) => a + l.pruned, 0);
  const total = layers.reduce((a, l) => a + l.total, 0);
  return {
    layers,
    pruned,
    total,
    fraction: total > 0 ? pruned / total : 0,
    compression: total > pruned ? total / (total - pruned) : Number.POSITIVE_INFINITY,
  };
}

/** Sets what every Bayesian layer of the model computes outside training (see {@link PredictionMode}). */
export function setPredictionMode(model: tf.LayersModel, mode: PredictionMode): void {
  for (const layer of bayesianLayers(model)) layer.predictionMode = mode;
}

/** Runs `fn` with every Bayesian layer in prediction mode `mode`, restoring each layer's mode afterwards. */
export function withPredictionMode<T>(model: tf.LayersModel, mode: PredictionMode, fn: () => T): T {
  const layers = bayesianLayers(model);
  const previous = layers.map((l) => l.predictionMode);
  layers.forEach((l) => (l.predictionMode = mode));
  try {
    return fn();
  } finally {
    layers.forEach((l, i) => (l.predictionMode = previous[i]));
  }
}

/** Sets the reparameterisation of every Bayesian layer. */
export function setReparameterisation(model: tf.LayersModel, mode: Reparameterisation): void {
  for (const layer of bayesianLayers(model)) layer.reparameterisation = mode;
}

/** Applies each family's empirical-Bayes prior update (families with a fixed prior do nothing). */
export function updatePriors(model: tf.LayersModel): void {
  for (const layer of bayesianLayers(model)) {
    layer.family().updatePrior?.();
    layer.biasFamily?.updatePrior?.();
  }
}
