import * as tf from '@tensorflow/tfjs';
import { conv2dInputDifferentiable, convAxis } from './convInputGradient.js';
import {
  isSoftmaxLayer,
  type LaplaceLayer,
  type LaplaceLayout,
  type LayerWeights,
  outputLayer,
} from './laplaceLayers.js';

/** What {@link tappedForward} injects into and records from the Dense/Conv2D layers of a model. */
export interface TapOptions {
  /** Weights to run a layer with instead of its own (sampled networks). */
  readonly weights?: ReadonlyMap<string, LayerWeights>;
  /**
   * Record the augmented input a = [input patch; 1] as `[M, P, rows]` of these layers (by name), or of all with
   * `true` (the caller disposes them).
   */
  readonly recordInputs?: boolean | ReadonlySet<string>;
  /** Record the pre-activation (bias included) of this layer, kept, in {@link TapResult.preactivation}. */
  readonly recordPreactivation?: string;
  /**
   * Layers whose pre-activation gradient is captured during a later backward pass: the pre-activation passes through
   * an identity with a custom gradient that stores the incoming gradient (kept) in `capturedGradients`.
   */
  readonly tapGradients?: ReadonlySet<string>;
  /** Where taps store their gradients, by layer name. */
  readonly capturedGradients?: Map<string, tf.Tensor>;
  /**
   * Run this layer from the given pre-activation instead of its input (in a chain model, everything downstream then
   * depends only on it: the batch can be tiled from here on, and a gradient w.r.t. it is the pre-activation gradient).
   */
  readonly substitute?: { readonly layer: string; readonly preactivation: tf.Tensor };
  /**
   * The pass will not be differentiated: a layer that is neither recorded nor tapped runs as one fused kernel
   * (convolution or matrix product + bias + activation) instead of separate ops, which on wasm saves the broadcast
   * bias addition and the activation over the largest tensors of a convolutional network.
   */
  readonly forwardOnly?: boolean;
}

/** The logits and what was recorded on the way. */
export interface TapResult {
  /** Model output with a final softmax removed: `[M, C]`. */
  readonly logits: tf.Tensor2D;
  /** Augmented inputs per layer name, `[M, P, rows]` (only with `recordInputs`). */
  readonly inputs: Map<string, tf.Tensor3D>;
  /** The pre-activation asked for with `recordPreactivation` (kept). */
  preactivation?: tf.Tensor;
}

type CallFn = (inputs: tf.Tensor | tf.Tensor[], kwargs: Record<string, unknown>) => tf.Tensor | tf.Tensor[];

/** Fan-in up to which patches are extracted by a one-hot convolution (P·R² work) rather than R/cin slices. */
const ONE_HOT_PATCH_LIMIT = 128;

/**
 * Input patches of a convolution (im2col), `[M, P, kh·kw·cin]` with P = output height × width, flattened in
 * (kh, kw, cin) order — the order of the kernel's rows. Small fan-ins use a convolution with a one-hot
 * `[kh, kw, cin, kh·kw·cin]` filter (one fast kernel); large ones kh·kw strided slices of the padded input, whose cost
 * does not grow with the fan-in squared.
 */
export function convPatches(l: LaplaceLayer, x: tf.Tensor4D): tf.Tensor3D {
  return tf.tidy(() => {
    const c = l.conv!;
    const [n, h, w, cin] = x.shape;
    const [kh, kw] = c.kernelSize;
    const ah = convAxis(h, kh, c.strides[0], c.dilations[0], c.padding);
    const aw = convAxis(w, kw, c.strides[1], c.dilations[1], c.padding);
    const r = kh * kw * cin;
    if (r <= ONE_HOT_PATCH_LIMIT) {
      // Made per call (≤ 128² values, negligible next to the convolution): a cache would hold a tensor per layer that
      // no one frees once the model is gone.
      const values = new Float32Array(r * r);
      for (let i = 0; i < r; i++) values[i * r + i] = 1;
      const filter = tf.tensor4d(values, [kh, kw, cin, r]);
      return tf
        .conv2d(x, filter, c.strides, c.padding, 'NHWC', c.dilations)
        .reshape([n, ah.out * aw.out, r]) as tf.Tensor3D;
    }
    const padded =
      ah.padded === h && aw.padded === w
        ? x
        : tf.pad(x, [
            [0, 0],
            [ah.before, ah.padded - h - ah.before],
            [aw.before, aw.padded - w - aw.before],
            [0, 0],
          ]);
    const spanH = (ah.out - 1) * c.strides[0] + 1;
    const spanW = (aw.out - 1) * c.strides[1] + 1;
    const slices: tf.Tensor[] = [];
    for (let u = 0; u < kh; u++) {
      for (let v = 0; v < kw; v++) {
        const top = u * c.dilations[0];
        const left = v * c.dilations[1];
        slices.push(
          c.strides[0] === 1 && c.strides[1] === 1
            ? tf.slice(padded, [0, top, left, 0], [n, spanH, spanW, cin])
            : tf.stridedSlice(
                padded,
                [0, top, left, 0],
                [n, top + spanH, left + spanW, cin],
                [1, c.strides[0], c.strides[1], 1],
              ),
        );
      }
    }
    return tf.concat(slices, 3).reshape([n, ah.out * aw.out, r]) as tf.Tensor3D;
  });
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

/** A new tensor handle on the same data: a reshape shares the buffer, where `clone` copies it on wasm. */
function alias(t: tf.Tensor): tf.Tensor {
  return tf.reshape(t, t.shape);
}

/** An identity whose backward pass stores the gradient arriving at it. */
function gradientTap(name: string, store: Map<string, tf.Tensor>): (z: tf.Tensor) => tf.Tensor {
  return tf.customGrad((...args) => {
    const z = args[0] as tf.Tensor;
    return {
      value: alias(z),
      gradFunc: (dy: tf.Tensor) => {
        store.set(name, tf.keep(alias(dy)));
        return dy;
      },
    };
  }) as (z: tf.Tensor) => tf.Tensor;
}

/** Activations TF.js's fused kernels apply themselves. */
const FUSED_ACTIVATIONS = new Set(['linear', 'relu', 'relu6', 'elu', 'sigmoid']);

/** The layer's output act(W̃ᵀ[a; 1]) as one fused kernel (not differentiable through the custom conv gradient). */
function fusedOutput(l: LaplaceLayer, x: tf.Tensor, options: TapOptions, logits: boolean): tf.Tensor {
  const own = l.layer.getWeights();
  const override = options.weights?.get(l.name);
  const kernel = override?.kernel ?? own[0];
  const bias = l.useBias ? (override?.bias ?? own[1]) : undefined;
  return fusedAffine(l, x, kernel, bias, (logits ? 'linear' : l.activation) as tf.fused.Activation);
}

/**
 * act(x W + b) of a Dense (any leading axes) or Conv2D layer with the given kernel and bias, as one fused TF.js
 * kernel; `activation` must be one TF.js fuses.
 */
export function fusedAffine(
  l: LaplaceLayer,
  x: tf.Tensor,
  kernel: tf.Tensor,
  bias: tf.Tensor | undefined,
  activation: tf.fused.Activation,
): tf.Tensor {
  if (l.kind === 'dense') {
    const lead = x.shape.slice(0, -1);
    return tf.fused
      .matMul({ a: x.reshape([-1, l.fanIn]), b: kernel as tf.Tensor2D, bias, activation })
      .reshape([...lead, l.outputSize]);
  }
  const c = l.conv!;
  return tf.fused.conv2d({
    x: x as tf.Tensor4D,
    filter: kernel as tf.Tensor4D,
    strides: c.strides,
    pad: c.padding,
    dataFormat: 'NHWC',
    dilations: c.dilations,
    bias,
    activation,
  });
}

/** The pre-activation z = W̃ᵀ[a; 1] of one layer, and its augmented input when recording. */
function preactivation(
  l: LaplaceLayer,
  x: tf.Tensor,
  options: TapOptions,
  record: boolean,
): { z: tf.Tensor; a?: tf.Tensor3D } {
  const own = l.layer.getWeights();
  const override = options.weights?.get(l.name);
  const kernel = override?.kernel ?? own[0];
  const bias = l.useBias ? (override?.bias ?? own[1]) : undefined;
  let z: tf.Tensor;
  let a: tf.Tensor3D | undefined;
  if (l.kind === 'dense') {
    const lead = x.shape.slice(0, -1);
    z = tf.matMul(x.reshape([-1, l.fanIn]), kernel as tf.Tensor2D).reshape([...lead, l.outputSize]);
    if (record) a = x.reshape([x.shape[0], -1, l.fanIn]) as tf.Tensor3D;
  } else {
    z = conv2dInputDifferentiable(x as tf.Tensor4D, kernel as tf.Tensor4D, l.conv!);
    if (record) a = convPatches(l, x as tf.Tensor4D);
  }
  if (bias) z = tf.add(z, bias);
  if (a && l.useBias) a = tf.concat([a, tf.ones([a.shape[0], a.shape[1], 1])], 2) as tf.Tensor3D;
  return { z, a };
}

function tappedCall(l: LaplaceLayer, options: TapOptions, result: TapResult): CallFn {
  const tap = options.tapGradients?.has(l.name) ? gradientTap(l.name, options.capturedGradients!) : undefined;
  return (inputs) => {
    let z: tf.Tensor;
    if (options.substitute?.layer === l.name) {
      z = options.substitute.preactivation;
    } else {
      const x = Array.isArray(inputs) ? inputs[0] : inputs;
      const record =
        options.recordInputs === true ||
        (options.recordInputs instanceof Set && options.recordInputs.has(l.name));
      const softmaxOutput = l.isOutput && l.activation === 'softmax';
      if (
        options.forwardOnly &&
        !record &&
        !tap &&
        options.recordPreactivation !== l.name &&
        (softmaxOutput || FUSED_ACTIVATIONS.has(l.activation))
      ) {
        return fusedOutput(l, x, options, softmaxOutput);
      }
      const out = preactivation(l, x, options, record);
      z = out.z;
      if (out.a) result.inputs.set(l.name, tf.keep(out.a));
      if (options.recordPreactivation === l.name) result.preactivation = tf.keep(alias(z));
    }
    if (tap) z = tap(z);
    return l.isOutput && l.activation === 'softmax' ? z : applyActivation(l.activation, z);
  };
}

/**
 * Runs the model on `x` with its Dense/Conv2D layers instrumented: each computes its pre-activation itself (so a fused
 * activation is split off), records its input, optionally taps its pre-activation gradient, then applies its
 * activation. A softmax at the model's output (fused into the last layer or as a separate Activation/Softmax layer)
 * is skipped, so the result is logits. Works for Sequential and functional models; pass-through layers (Flatten,
 * Dropout at inference, pooling, Activation, Reshape, ...) run as usual. The layers' `call` is overridden on the
 * instance only for this call. The result is differentiable w.r.t. the input and the substitute pre-activation, not
 * w.r.t. the weights (convolutions use a faster input-only gradient, see `convInputGradient`).
 */
export function tappedForward(
  model: tf.LayersModel,
  layout: LaplaceLayout,
  x: tf.Tensor,
  options: TapOptions = {},
): TapResult {
  const result: TapResult = { logits: undefined as unknown as tf.Tensor2D, inputs: new Map() };
  const patched: tf.layers.Layer[] = [];
  const patch = (layer: tf.layers.Layer, fn: CallFn) => {
    (layer as unknown as { call: CallFn }).call = fn;
    patched.push(layer);
  };
  try {
    for (const l of layout.layers) patch(l.layer, tappedCall(l, options, result));
    const last = outputLayer(model);
    if (isSoftmaxLayer(last)) patch(last, (inputs) => (Array.isArray(inputs) ? inputs[0] : inputs));
    const y = model.apply(x, { training: false }) as tf.Tensor;
    (result as { logits: tf.Tensor2D }).logits = (
      y.rank === 2 ? y : y.reshape([y.shape[0], -1])
    ) as tf.Tensor2D;
  } catch (err) {
    for (const t of result.inputs.values()) t.dispose();
    result.preactivation?.dispose();
    throw err;
  } finally {
    for (const layer of patched) delete (layer as unknown as { call?: CallFn }).call;
  }
  return result;
}
