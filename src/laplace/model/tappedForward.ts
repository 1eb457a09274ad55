import * as tf from '@tensorflow/tfjs';
import { conv2dInputDifferentiable } from './convInputGradient.js';
import { type LaplaceLayer, type LaplaceLayout, type LayerWeights, outputLayer } from './laplaceLayers.js';

/** What {@link tappedForward} injects into and records from the Dense/Conv2D layers of a model. */
export interface TapOptions {
  /**
   * Tensors added to each layer's pre-activation (same shape as it). They are zero in value; differentiating the
   * output w.r.t. them gives the gradient w.r.t. the pre-activations, per example (TF.js has no vmap).
   */
  readonly probes?: ReadonlyMap<string, tf.Tensor>;
  /** Weights to run a layer with instead of its own (sampled networks). */
  readonly weights?: ReadonlyMap<string, LayerWeights>;
  /**
   * Record the augmented input a = [input patch; 1] as `[M, P, rows]` of these layers (by name), or of all with
   * `true` (the caller disposes them).
   */
  readonly recordInputs?: boolean | ReadonlySet<string>;
}

/** The logits and what was recorded on the way. */
export interface TapResult {
  /** Model output with a final softmax removed: `[M, C]`. */
  readonly logits: tf.Tensor2D;
  /** Augmented inputs per layer name, `[M, P, rows]` (only with `recordInputs`). */
  readonly inputs: Map<string, tf.Tensor3D>;
  /** Pre-activation shape per layer name (including the batch dimension). */
  readonly preactivationShapes: Map<string, number[]>;
}

type CallFn = (inputs: tf.Tensor | tf.Tensor[], kwargs: Record<string, unknown>) => tf.Tensor | tf.Tensor[];

const patchFilters = new WeakMap<tf.layers.Layer, tf.Tensor4D>();

/**
 * The im2col filter of a convolution: a `[kh, kw, cin, kh·kw·cin]` one-hot filter whose convolution (same strides,
 * padding, dilations) yields every input patch flattened in (kh, kw, cin) order, the order of the kernel's rows.
 */
function patchFilter(l: LaplaceLayer): tf.Tensor4D {
  let f = patchFilters.get(l.layer);
  if (!f) {
    const [kh, kw] = l.conv!.kernelSize;
    const cin = l.conv!.inChannels;
    const k = kh * kw * cin;
    const values = new Float32Array(k * k);
    for (let i = 0; i < k; i++) values[i * k + i] = 1;
    f = tf.keep(tf.tensor4d(values, [kh, kw, cin, k]));
    patchFilters.set(l.layer, f);
  }
  return f;
}

/** Input patches of a convolution, `[M, P, kh·kw·cin]` with P = output height × width. */
export function convPatches(l: LaplaceLayer, x: tf.Tensor4D): tf.Tensor3D {
  const c = l.conv!;
  const p = tf.conv2d(x, patchFilter(l), c.strides, c.padding, 'NHWC', c.dilations);
  return p.reshape([p.shape[0], p.shape[1] * p.shape[2], p.shape[3]]);
}

const activations = new Map<string, tf.layers.Layer>();

function applyActivation(name: string, z: tf.Tensor): tf.Tensor {
  if (name === 'linear') return z;
  let layer = activations.get(name);
  if (!layer) {
    layer = tf.layers.activation({ activation: name as 'relu' });
    activations.set(name, layer);
  }
  return layer.apply(z) as tf.Tensor;
}

function isSoftmax(layer: tf.layers.Layer): boolean {
  const cls = layer.getClassName();
  if (cls === 'Softmax') return true;
  return cls === 'Activation' && layer.getConfig().activation === 'softmax';
}

function tappedCall(l: LaplaceLayer, options: TapOptions, result: TapResult): CallFn {
  return (inputs) => {
    const x = Array.isArray(inputs) ? inputs[0] : inputs;
    const record =
      options.recordInputs === true ||
      (options.recordInputs instanceof Set && options.recordInputs.has(l.name));
    const own = l.layer.getWeights();
    const override = options.weights?.get(l.name);
    const kernel = override?.kernel ?? own[0];
    const bias = l.useBias ? (override?.bias ?? own[1]) : undefined;
    let z: tf.Tensor;
    let a: tf.Tensor3D;
    if (l.kind === 'dense') {
      const lead = x.shape.slice(0, -1);
      const flat = x.reshape([-1, l.fanIn]);
      z = tf.matMul(flat, kernel as tf.Tensor2D).reshape([...lead, l.outputSize]);
      a = record
        ? (x.reshape([x.shape[0], -1, l.fanIn]) as tf.Tensor3D)
        : (undefined as unknown as tf.Tensor3D);
    } else {
      const c = l.conv!;
      z = conv2dInputDifferentiable(x as tf.Tensor4D, kernel as tf.Tensor4D, c);
      a = record ? convPatches(l, x as tf.Tensor4D) : (undefined as unknown as tf.Tensor3D);
    }
    if (bias) z = tf.add(z, bias);
    result.preactivationShapes.set(l.name, z.shape);
    const probe = options.probes?.get(l.name);
    if (probe) z = tf.add(z, probe);
    if (record) {
      const augmented = l.useBias ? tf.concat([a, tf.onesLike(a).slice([0, 0, 0], [-1, -1, 1])], 2) : a;
      result.inputs.set(l.name, tf.keep(augmented as tf.Tensor3D));
    }
    return l.isOutput && l.activation === 'softmax' ? z : applyActivation(l.activation, z);
  };
}

/**
 * Runs the model on `x` with its Dense/Conv2D layers instrumented: each computes its pre-activation itself (so a fused
 * activation is split off), adds the optional probe, records its input, then applies its activation. A softmax at the
 * model's output (fused into the last layer or as a separate Activation/Softmax layer) is skipped, so the result is
 * logits. Works for Sequential and functional models; pass-through layers (Flatten, Dropout at inference, pooling,
 * Activation, Reshape, ...) run as usual. The layers' `call` is overridden on the instance only for this call.
 * The result is differentiable w.r.t. the input and the probes, not w.r.t. the weights (convolutions use a faster
 * input-only gradient, see `convInputGradient`).
 */
export function tappedForward(
  model: tf.LayersModel,
  layout: LaplaceLayout,
  x: tf.Tensor,
  options: TapOptions = {},
): TapResult {
  const result: TapResult = {
    logits: undefined as unknown as tf.Tensor2D,
    inputs: new Map(),
    preactivationShapes: new Map(),
  };
  const patched: tf.layers.Layer[] = [];
  const patch = (layer: tf.layers.Layer, fn: CallFn) => {
    (layer as unknown as { call: CallFn }).call = fn;
    patched.push(layer);
  };
  try {
    for (const l of layout.layers) patch(l.layer, tappedCall(l, options, result));
    const last = outputLayer(model);
    if (isSoftmax(last)) patch(last, (inputs) => (Array.isArray(inputs) ? inputs[0] : inputs));
    const y = model.apply(x, { training: false }) as tf.Tensor;
    (result as { logits: tf.Tensor2D }).logits = (
      y.rank === 2 ? y : y.reshape([y.shape[0], -1])
    ) as tf.Tensor2D;
  } finally {
    for (const layer of patched) delete (layer as unknown as { call?: CallFn }).call;
  }
  return result;
}
