import * as tf from '@tensorflow/tfjs';
import { BayescompError } from '../../util/errors.js';

/** The layer kinds whose weights a Laplace approximation covers; all other layers pass activations through. */
export type LaplaceLayerKind = 'dense' | 'conv2d';

/**
 * A Dense or Conv2D layer as the Laplace module sees it: an affine map z = W̃ᵀ [a; 1] applied at `P` locations per
 * example (P = 1 for a Dense layer on vectors, P = output height × width for a convolution).
 *
 * Parameter layout: the layer's parameters are the augmented weight matrix W̃ = [kernel; bias] of shape
 * `rows × outputSize` (`rows` = kernel fan-in, +1 when the layer has a bias), flattened row-major. For a convolution the
 * kernel `[kh, kw, cin, cout]` is read as `[kh·kw·cin, cout]`, matching the (kh, kw, cin) order of its input patches.
 * With this layout the per-example Jacobian of the pre-activation at one location is the Kronecker product a ⊗ g.
 */
export interface LaplaceLayer {
  readonly name: string;
  readonly kind: LaplaceLayerKind;
  readonly layer: tf.layers.Layer;
  /** Kernel fan-in: input features (Dense) or kh·kw·cin (Conv2D). */
  readonly fanIn: number;
  readonly useBias: boolean;
  /** Rows of the augmented weight matrix: fanIn + (useBias ? 1 : 0). */
  readonly rows: number;
  /** Output units or channels. */
  readonly outputSize: number;
  /** rows × outputSize. */
  readonly paramCount: number;
  /** Where this layer's parameters start in the model's Laplace parameter vector. */
  readonly offset: number;
  readonly kernelShape: readonly number[];
  /** The layer's activation, by its TF.js name ('linear', 'relu', 'softmax', ...). */
  readonly activation: string;
  /**
   * Whether the layer's output is the model's output, or feeds only a final softmax (its softmax, fused or not, is
   * dropped to work on logits).
   */
  readonly isOutput: boolean;
  /** Convolution settings (Conv2D only). */
  readonly conv?: {
    readonly kernelSize: [number, number];
    readonly strides: [number, number];
    readonly dilations: [number, number];
    readonly padding: 'same' | 'valid';
    readonly inChannels: number;
  };
}

/** Every Dense and Conv2D layer of a model in execution order, with their parameter layout. */
export interface LaplaceLayout {
  readonly layers: readonly LaplaceLayer[];
  /** Total number of parameters of the listed layers (D). */
  readonly totalParams: number;
}

function pair(v: unknown, name: string): [number, number] {
  if (typeof v === 'number') return [v, v];
  if (Array.isArray(v) && v.length === 2) return [Number(v[0]), Number(v[1])];
  throw new BayescompError(
    'bad-config',
    `layer setting ${name} must be a number or a pair, got ${JSON.stringify(v)}`,
  );
}

function activationName(config: tf.serialization.ConfigDict): string {
  const a = config.activation as unknown;
  if (a === undefined || a === null) return 'linear';
  if (typeof a === 'string') return a;
  const named = a as { className?: string };
  return named.className ?? 'linear';
}

/** The layers of a model in the order the model runs them, descending into nested models. */
export function flattenLayers(model: tf.LayersModel): tf.layers.Layer[] {
  const out: tf.layers.Layer[] = [];
  for (const layer of model.layers) {
    const nested = layer as unknown as { layers?: tf.layers.Layer[] };
    if (layer instanceof tf.LayersModel) out.push(...flattenLayers(layer));
    else if (Array.isArray(nested.layers)) out.push(...nested.layers);
    else out.push(layer);
  }
  return out;
}

/** The layer producing the model's (single) output. */
export function outputLayer(model: tf.LayersModel): tf.layers.Layer {
  if (model.outputs.length !== 1) {
    throw new BayescompError(
      'bad-config',
      `Laplace needs a model with one output, got ${model.outputs.length}`,
    );
  }
  let layer = model.outputs[0].sourceLayer as tf.layers.Layer;
  while (layer instanceof tf.LayersModel) layer = outputLayer(layer);
  return layer;
}

/** Whether a layer is a standalone softmax (an `Activation('softmax')` or `Softmax` layer). */
export function isSoftmaxLayer(layer: tf.layers.Layer): boolean {
  const cls = layer.getClassName();
  if (cls === 'Softmax') return true;
  return cls === 'Activation' && layer.getConfig().activation === 'softmax';
}

/** The layer producing the logits: the output layer, or the one feeding a final standalone softmax. */
function logitsLayer(model: tf.LayersModel): tf.layers.Layer {
  const out = outputLayer(model);
  const config = out.getConfig();
  if (config.activation === 'sigmoid') {
    throw new BayescompError(
      'bad-config',
      `layer '${out.name}' ends in a sigmoid: use a softmax (or linear) head for Laplace`,
    );
  }
  if (!isSoftmaxLayer(out)) return out;
  const inbound = out.inboundNodes[0]?.inboundLayers?.[0] as tf.layers.Layer | undefined;
  return inbound ?? out;
}

/**
 * Finds the layers a Laplace approximation can cover (Dense, Conv2D with channels-last data) and lays out their
 * parameters. Throws for a shared layer (called at several places), whose per-call quantities this module does not
 * separate.
 */
export function laplaceLayout(model: tf.LayersModel): LaplaceLayout {
  const out = logitsLayer(model);
  const layers: LaplaceLayer[] = [];
  let offset = 0;
  for (const layer of flattenLayers(model)) {
    const cls = layer.getClassName();
    if (cls !== 'Dense' && cls !== 'Conv2D') continue;
    if (layer.inboundNodes.length > 1) {
      throw new BayescompError(
        'bad-config',
        `layer '${layer.name}' is shared by ${layer.inboundNodes.length} calls`,
      );
    }
    const config = layer.getConfig();
    const kernelShape: number[] = [...layer.getWeights()[0].shape];
    const useBias = Boolean(config.useBias);
    const outputSize = kernelShape[kernelShape.length - 1];
    const fanIn = kernelShape.slice(0, -1).reduce((a, b) => a * b, 1);
    const rows = fanIn + (useBias ? 1 : 0);
    let conv: LaplaceLayer['conv'];
    if (cls === 'Conv2D') {
      if (config.dataFormat !== undefined && config.dataFormat !== 'channelsLast') {
        throw new BayescompError(
          'bad-config',
          `layer '${layer.name}': only channels-last convolutions are supported`,
        );
      }
      const padding = String(config.padding);
      if (padding !== 'same' && padding !== 'valid') {
        throw new BayescompError(
          'bad-config',
          `layer '${layer.name}': padding '${padding}' is not supported`,
        );
      }
      conv = {
        kernelSize: [kernelShape[0], kernelShape[1]],
        strides: pair(config.strides ?? 1, 'strides'),
        dilations: pair(config.dilationRate ?? 1, 'dilationRate'),
        padding,
        inChannels: kernelShape[2],
      };
    }
    layers.push({
      name: layer.name,
      kind: cls === 'Dense' ? 'dense' : 'conv2d',
      layer,
      fanIn,
      useBias,
      rows,
      outputSize,
      paramCount: rows * outputSize,
      offset,
      kernelShape,
      activation: activationName(config),
      isOutput: layer === out,
      conv,
    });
    offset += rows * outputSize;
  }
  if (layers.length === 0) {
    throw new BayescompError('bad-config', `model '${model.name}' has no Dense or Conv2D layer`);
  }
  return { layers, totalParams: offset };
}

/** The layer's current parameters as one row-major augmented matrix [kernel; bias] (see {@link LaplaceLayer}). */
export function readLayerParameters(layer: LaplaceLayer): Float32Array {
  const weights = layer.layer.getWeights();
  const out = new Float32Array(layer.paramCount);
  out.set(weights[0].dataSync());
  if (layer.useBias) out.set(weights[1].dataSync(), layer.fanIn * layer.outputSize);
  return out;
}

/** The model's Laplace parameter vector θ (all listed layers, in layout order). */
export function readParameters(layout: LaplaceLayout): Float32Array {
  const out = new Float32Array(layout.totalParams);
  for (const l of layout.layers) out.set(readLayerParameters(l), l.offset);
  return out;
}

/** Kernel and bias tensors of one layer taken from a parameter vector (for running the network at other weights). */
export interface LayerWeights {
  readonly kernel: tf.Tensor;
  readonly bias?: tf.Tensor;
}

/** Splits a layer's slice of a parameter vector into kernel and bias tensors (the caller disposes them). */
export function layerWeightsFrom(layer: LaplaceLayer, theta: Float32Array): LayerWeights {
  const slice = theta.subarray(layer.offset, layer.offset + layer.paramCount);
  const kernel = tf.tensor(slice.slice(0, layer.fanIn * layer.outputSize), [...layer.kernelShape]);
  const bias = layer.useBias ? tf.tensor1d(slice.slice(layer.fanIn * layer.outputSize)) : undefined;
  return { kernel, bias };
}
