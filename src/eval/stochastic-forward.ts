/**
 * A forward pass through a TF.js Layers model with its stochastic layers (dropout, noise) switched on, as in
 * training — the forward pass of MC dropout (Gal & Ghahramani 2016). `model.apply(x, {training: true})` does switch
 * dropout on, but (a) it also puts batch normalisation in training mode, which normalises with the batch's own
 * statistics — a different model, not a sample of the same one — and (b) TF.js's dropout masks are unseeded, so
 * Monte-Carlo predictions are not reproducible. Walking the model's graph ourselves fixes both.
 */
import * as tf from '@tensorflow/tfjs';
import type { Random } from '../runtime/random.js';

type Layer = tf.layers.Layer;
type SymbolicTensor = tf.SymbolicTensor;

/** Options for {@link stochasticForward}. */
export interface StochasticForwardOptions {
  /**
   * Draws `Dropout` masks from this generator (via `tf.randomUniform` seeds), making MC dropout reproducible.
   * Without it, dropout layers draw their own unseeded masks.
   */
  readonly random?: Random;
  /**
   * Which layers run in training mode. Default: every layer except batch normalisation, whose training mode would
   * normalise with the batch's statistics instead of the learned ones (a change of model, not a sample of it).
   */
  readonly isStochastic?: (layer: Layer) => boolean;
}

function defaultIsStochastic(layer: Layer): boolean {
  return !layer.getClassName().includes('BatchNormalization');
}

/**
 * Runs `model` on `x` with its stochastic layers in training mode (fresh dropout masks on every call) and returns
 * its output (for a single-output model) or outputs. Nested models are walked recursively. The caller owns the
 * result and disposes intermediates (e.g. by running this inside `tf.tidy`).
 */
export function stochasticForward(
  model: tf.LayersModel,
  x: tf.Tensor | tf.Tensor[],
  options: StochasticForwardOptions = {},
): tf.Tensor | tf.Tensor[] {
  const inputs = Array.isArray(x) ? x : [x];
  if (inputs.length !== model.inputs.length) {
    throw new RangeError(`model ${model.name} takes ${model.inputs.length} inputs, got ${inputs.length}`);
  }
  const values = new Map<number, tf.Tensor>();
  model.inputs.forEach((symbolic, i) => values.set(symbolic.id, inputs[i]));
  const isStochastic = options.isStochastic ?? defaultIsStochastic;

  const evaluate = (symbolic: SymbolicTensor): tf.Tensor => {
    const known = values.get(symbolic.id);
    if (known) return known;
    const layer = symbolic.sourceLayer;
    const node = layer.inboundNodes[symbolic.nodeIndex];
    const args = node.inputTensors.map(evaluate);
    const input = args.length === 1 ? args[0] : args;
    let output: tf.Tensor | tf.Tensor[];
    if (layer instanceof tf.LayersModel) {
      output = stochasticForward(layer, input, options);
    } else if (
      options.random &&
      layer.getClassName() === 'Dropout' &&
      isStochastic(layer) &&
      !Array.isArray(input)
    ) {
      output = seededDropout(layer, input, options.random);
    } else {
      output = layer.apply(input, { ...(node.callArgs ?? {}), training: isStochastic(layer) }) as
        tf.Tensor | tf.Tensor[];
    }
    const outputs = Array.isArray(output) ? output : [output];
    node.outputTensors.forEach((o, j) => values.set(o.id, outputs[j]));
    return values.get(symbolic.id) as tf.Tensor;
  };

  const outputs = model.outputs.map(evaluate);
  return outputs.length === 1 ? outputs[0] : outputs;
}

/**
 * Inverted dropout as TF.js's `Dropout` layer computes it in training mode, x · 1[u ≥ rate] / (1 − rate) with
 * u ~ U[0, 1), its mask drawn with a seed from `random` (respecting the layer's `noiseShape`).
 */
function seededDropout(layer: Layer, x: tf.Tensor, random: Random): tf.Tensor {
  const config = layer.getConfig();
  const rate = Number(config.rate ?? 0);
  if (!(rate > 0)) return x;
  const noiseShape = Array.isArray(config.noiseShape)
    ? (config.noiseShape as (number | null)[]).map((d, i) => d ?? x.shape[i])
    : x.shape;
  return tf.tidy(() => {
    const keep = 1 - rate;
    const mask = tf.floor(tf.add(tf.randomUniform(noiseShape, 0, 1, 'float32', random.tfSeed()), keep));
    return tf.div(tf.mul(x, mask), keep);
  });
}
