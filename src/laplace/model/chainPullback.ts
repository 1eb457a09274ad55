import * as tf from '@tensorflow/tfjs';
import { type ConvGeometry, convInputGradient } from './convInputGradient.js';
import {
  flattenLayers,
  isSoftmaxLayer,
  type LaplaceLayer,
  type LaplaceLayout,
  outputLayer,
} from './laplaceLayers.js';
import type { CotangentFn, LayerQuantities } from './preactivationGradients.js';
import { convPatches, fusedAffine } from './tappedForward.js';

/** Activations whose derivative {@link chainPreactivationGradients} reads off the layer's output y. */
const OUTPUT_DERIVATIVES: Record<string, ((y: tf.Tensor) => tf.Tensor) | null> = {
  linear: null,
  relu: (y) => tf.cast(tf.greater(y, 0), 'float32'),
  relu6: (y) => tf.cast(tf.logicalAnd(tf.greater(y, 0), tf.less(y, 6)), 'float32'),
  tanh: (y) => tf.sub(1, tf.square(y)),
  sigmoid: (y) => tf.mul(y, tf.sub(1, y)),
  elu: (y) => tf.where(tf.greater(y, 0), tf.onesLike(y), tf.add(y, 1)),
};

/** Layers that are the identity at inference. */
const IDENTITY_LAYERS = new Set([
  'InputLayer',
  'Dropout',
  'SpatialDropout1D',
  'SpatialDropout2D',
  'GaussianNoise',
  'GaussianDropout',
  'AlphaDropout',
]);

/** One step of a chain model as the hand-written pullback sees it. */
type ChainStep =
  | { readonly kind: 'affine'; readonly layer: LaplaceLayer; readonly activation: string }
  | { readonly kind: 'activation'; readonly activation: string }
  | { readonly kind: 'pool'; readonly max: boolean; readonly size: [number, number] }
  | { readonly kind: 'reshape'; readonly layer: tf.layers.Layer }
  | { readonly kind: 'identity' };

/** The steps of a model the pullback supports, in execution order (the output softmax left out). */
export interface ChainPlan {
  readonly steps: readonly ChainStep[];
}

function poolStep(layer: tf.layers.Layer, max: boolean): ChainStep | undefined {
  const config = layer.getConfig();
  const size = config.poolSize as [number, number];
  const strides = (config.strides ?? size) as [number, number];
  const channelsLast = config.dataFormat === undefined || config.dataFormat === 'channelsLast';
  if (!channelsLast || config.padding !== 'valid') return undefined;
  if (strides[0] !== size[0] || strides[1] !== size[1]) return undefined;
  return { kind: 'pool', max, size: [size[0], size[1]] };
}

/**
 * The chain of a Sequential model whose layers are all of kinds the hand-written pullback knows (Dense on vectors,
 * channels-last Conv2D, non-overlapping 'valid' max/average pooling, Flatten/Reshape, inference-time identities, and
 * the activations linear, relu, relu6, tanh, sigmoid, elu), or undefined (functional models and anything else use the
 * taped backward pass of `preactivationGradients`).
 */
export function chainPlan(model: tf.LayersModel, layout: LaplaceLayout): ChainPlan | undefined {
  if (!(model instanceof tf.Sequential)) return undefined;
  const byLayer = new Map(layout.layers.map((l) => [l.layer, l]));
  const last = outputLayer(model);
  const layers = flattenLayers(model);
  const steps: ChainStep[] = [];
  for (const layer of layers) {
    const cls = layer.getClassName();
    const covered = byLayer.get(layer);
    if (covered) {
      const activation = covered.isOutput && covered.activation === 'softmax' ? 'linear' : covered.activation;
      if (!(activation in OUTPUT_DERIVATIVES)) return undefined;
      if (covered.kind === 'dense' && (layer.input as tf.SymbolicTensor).shape.length !== 2) return undefined;
      steps.push({ kind: 'affine', layer: covered, activation });
    } else if (IDENTITY_LAYERS.has(cls)) {
      steps.push({ kind: 'identity' });
    } else if (cls === 'Flatten' || cls === 'Reshape') {
      steps.push({ kind: 'reshape', layer });
    } else if (cls === 'MaxPooling2D' || cls === 'AveragePooling2D') {
      const step = poolStep(layer, cls === 'MaxPooling2D');
      if (!step) return undefined;
      steps.push(step);
    } else if (isSoftmaxLayer(layer) && layer === last) {
      continue;
    } else if (cls === 'Activation') {
      const activation = String(layer.getConfig().activation);
      if (!(activation in OUTPUT_DERIVATIVES)) return undefined;
      steps.push({ kind: 'activation', activation });
    } else {
      return undefined;
    }
  }
  return { steps };
}

/** What the forward pass keeps for the backward pass of one step. */
interface StepRecord {
  /** Input shape of the step (batch first). */
  readonly inputShape: number[];
  /** Derivative of the activation at the step's output, `[M, ...]` (affine/activation steps). */
  readonly derivative?: tf.Tensor;
  /**
   * One-hot position of each window's first maximum, `[M, H'·ph, W'·pw, C]` (max pooling), times the activation
   * derivative of the step below when that was folded in.
   */
  readonly poolMask?: tf.Tensor;
}

/** Multiplies `d` `[K·M, ...]` by `f` `[M, ...]` for every one of the K cotangents. */
function timesPerExample(d: tf.Tensor, f: tf.Tensor, k: number): tf.Tensor {
  return tf.mul(d.reshape([k, f.size]), f.reshape([1, f.size])).reshape(d.shape);
}

/** `[M, H', W', C]` → `[M, H'·ph, W'·pw, C]`, each value repeated over its window (by broadcasting, not Tile). */
function upsample(y: tf.Tensor4D, size: [number, number]): tf.Tensor4D {
  const [m, oh, ow, c] = y.shape;
  const [ph, pw] = size;
  return tf
    .mul(y.reshape([m * oh, 1, ow, 1, c]), tf.ones([1, ph, 1, pw, 1]))
    .reshape([m, oh * ph, ow * pw, c]) as tf.Tensor4D;
}

/** `[1, H'·ph, W'·pw, 1]`: ph·pw − (position in the window, row-major), so earlier positions rank higher. */
function windowPriority(oh: number, ow: number, size: [number, number]): tf.Tensor {
  const [ph, pw] = size;
  const values = new Float32Array(oh * ph * ow * pw);
  for (let y = 0; y < oh * ph; y++)
    for (let x = 0; x < ow * pw; x++) values[y * ow * pw + x] = ph * pw - ((y % ph) * pw + (x % pw));
  return tf.tensor4d(values, [1, oh * ph, ow * pw, 1]);
}

/**
 * One-hot position of every pooling window's first maximum (row-major within the window, the position TF.js's
 * max-pool gradient routes to), `[M, H'·ph, W'·pw, C]`: the maxima's positions, ranked by a per-position priority,
 * pooled again — elementwise ops and pooling only (the wasm backend's rank-5/6 transposes and slices are ~100× slower).
 */
function maxPoolMask(x: tf.Tensor4D, y: tf.Tensor4D, size: [number, number]): tf.Tensor {
  const [m, , , c] = x.shape;
  const [, oh, ow] = y.shape;
  const [ph, pw] = size;
  const cropped =
    x.shape[1] === oh * ph && x.shape[2] === ow * pw ? x : x.slice([0, 0, 0, 0], [m, oh * ph, ow * pw, c]);
  const isMax = tf.cast(tf.equal(cropped, upsample(y, size)), 'float32');
  const score = tf.mul(isMax, windowPriority(oh, ow, size)) as tf.Tensor4D;
  const best = tf.maxPool(score, size, size, 'valid');
  return tf.cast(tf.equal(score, upsample(best, size)), 'float32');
}

function applyActivation(name: string, z: tf.Tensor): tf.Tensor {
  switch (name) {
    case 'linear':
      return z;
    case 'relu':
      return tf.relu(z);
    case 'relu6':
      return tf.relu6(z);
    case 'tanh':
      return tf.tanh(z);
    case 'sigmoid':
      return tf.sigmoid(z);
    default:
      return tf.elu(z);
  }
}

/** The layer's output act(W̃ᵀ[a; 1]) as one fused kernel where TF.js has one. */
function affineForward(l: LaplaceLayer, x: tf.Tensor, activation: string): tf.Tensor {
  const [kernel, bias] = l.layer.getWeights();
  const fused =
    activation === 'linear' || activation === 'relu' || activation === 'relu6' || activation === 'elu';
  const act = (fused ? activation : 'linear') as tf.fused.Activation;
  const out = fusedAffine(l, x, kernel, l.useBias ? bias : undefined, act);
  return fused ? out : applyActivation(activation, out);
}

/** Augmented inputs a = [input patch; 1] of a covered layer, `[M, P, rows]`. */
function augmentedInput(l: LaplaceLayer, x: tf.Tensor): tf.Tensor3D {
  const a = (
    l.kind === 'dense' ? x.reshape([x.shape[0], 1, l.fanIn]) : convPatches(l, x as tf.Tensor4D)
  ) as tf.Tensor3D;
  if (!l.useBias) return a;
  return tf.concat([a, tf.ones([a.shape[0], a.shape[1], 1])], 2) as tf.Tensor3D;
}

/**
 * {@link LayerQuantities} of a chain model with one forward pass and a hand-written backward pass for all K cotangents
 * at once (the same quantities as `preactivationGradients`, which calls this when {@link chainPlan} accepts the model).
 *
 * The taped path tiles the batch K times from the first covered layer on, so the forward pass above it runs K times
 * and TF.js's gradient functions re-derive what the forward pass knew. Here the forward pass runs once and keeps, per
 * step, the activation's derivative (read off the output: relu′ = [y > 0], tanh′ = 1 − y², σ′ = y(1 − y)) and each
 * max-pooling window's first maximum; the backward pass then carries `[K·M, ...]` cotangents down by the transposed
 * maps — dz = dy ⊙ act′, dx = dz Wᵀ (Dense), the transposed convolution (Conv2D), and the pooling gradient by
 * broadcasting over the window, with the derivative of the activation below a max pool folded into its mask — and
 * stops at the lowest covered layer that needs a backward pass. Gradients equal the taped path's to float32 rounding
 * (`chainPullback.test.ts`); on LeNet-5 (10 classes, batch 100) it takes ~5–6 ms of CPU per image instead of ~11.
 */
export function chainPreactivationGradients(
  plan: ChainPlan,
  layers: readonly LaplaceLayer[],
  x: tf.Tensor,
  cotangents: CotangentFn,
): LayerQuantities {
  const wanted = new Set(layers.map((l) => l.name));
  const records: StepRecord[] = [];
  const inputs = new Map<string, tf.Tensor3D>();
  const gradients = new Map<string, tf.Tensor4D>();
  // Lowest step the backward pass must reach: the lowest covered layer that is not the logits layer itself with a
  // linear output (whose pre-activation gradient is the cotangent).
  let lowest = plan.steps.length;
  plan.steps.forEach((s, i) => {
    if (s.kind === 'affine' && wanted.has(s.layer.name) && i < lowest) lowest = i;
  });
  let logits: tf.Tensor2D | undefined;
  let dy: tf.Tensor3D | undefined;
  try {
    logits = tf.tidy(() => {
      let h = x;
      plan.steps.forEach((s, i) => {
        const inputShape = [...h.shape];
        const backward = i >= lowest;
        if (s.kind === 'affine') {
          if (wanted.has(s.layer.name)) inputs.set(s.layer.name, tf.keep(augmentedInput(s.layer, h)));
          h = affineForward(s.layer, h, s.activation);
          const d = OUTPUT_DERIVATIVES[s.activation];
          records.push({ inputShape, derivative: backward && d ? tf.keep(d(h)) : undefined });
        } else if (s.kind === 'activation') {
          h = applyActivation(s.activation, h);
          const d = OUTPUT_DERIVATIVES[s.activation];
          records.push({ inputShape, derivative: backward && d ? tf.keep(d(h)) : undefined });
        } else if (s.kind === 'pool') {
          const y = s.max
            ? tf.maxPool(h as tf.Tensor4D, s.size, s.size, 'valid')
            : tf.avgPool(h as tf.Tensor4D, s.size, s.size, 'valid');
          let poolMask = backward && s.max ? maxPoolMask(h as tf.Tensor4D, y, s.size) : undefined;
          const below = records[i - 1];
          if (poolMask && below?.derivative && i - 1 >= lowest) {
            // Fold the activation derivative of the step below into the mask: one pass less over the largest
            // cotangents (relu′ ⊙ mask is what reaches the pre-activation).
            poolMask = tf.mul(poolMask, cropTo(below.derivative as tf.Tensor4D, poolMask.shape));
            below.derivative.dispose();
            records[i - 1] = { ...below, derivative: undefined };
          }
          records.push({ inputShape, poolMask: poolMask && tf.keep(poolMask) });
          h = y;
        } else if (s.kind === 'reshape') {
          const out = s.layer.computeOutputShape([null, ...inputShape.slice(1)]) as (number | null)[];
          h = h.reshape([h.shape[0], ...(out.slice(1) as number[])]);
          records.push({ inputShape });
        } else {
          records.push({ inputShape });
        }
      });
      return (h.rank === 2 ? h : h.reshape([h.shape[0], -1])) as tf.Tensor2D;
    });
    dy = tf.tidy(() => cotangents(logits!));
    const [k, m, c] = dy.shape;
    tf.tidy(() => {
      let d: tf.Tensor = dy!.reshape([k * m, c]);
      for (let i = plan.steps.length - 1; i >= lowest; i--) {
        const s = plan.steps[i];
        const r = records[i];
        const shapeIn = [k * m, ...r.inputShape.slice(1)];
        if (s.kind === 'affine') {
          // A derivative folded into the pooling mask above has already been applied.
          const dz = r.derivative ? timesPerExample(d, r.derivative, k) : d;
          const l = s.layer;
          if (wanted.has(l.name)) gradients.set(l.name, tf.keep(dz.reshape([k, m, -1, l.outputSize])));
          if (i === lowest) break;
          const kernel = l.layer.getWeights()[0];
          d =
            l.kind === 'dense'
              ? tf.matMul(dz as tf.Tensor2D, tf.transpose(kernel as tf.Tensor2D))
              : convolutionInputGradient(dz as tf.Tensor4D, kernel as tf.Tensor4D, shapeIn, l.conv!);
        } else if (s.kind === 'activation') {
          d = r.derivative ? timesPerExample(d, r.derivative, k) : d;
        } else if (s.kind === 'pool') {
          d = poolBackward(d as tf.Tensor4D, r, s.size, s.max, k, shapeIn);
        } else if (s.kind === 'reshape') {
          d = d.reshape(shapeIn);
        }
      }
    });
  } catch (err) {
    tf.dispose([logits, ...inputs.values(), ...gradients.values()]);
    throw err;
  } finally {
    dy?.dispose();
    for (const r of records) tf.dispose([r.derivative, r.poolMask]);
  }
  return { logits: logits!, inputs, gradients };
}

/**
 * dx of a convolution: the wasm backend's Conv2DBackpropInput (`conv2dTranspose`) without dilation — ~1.5× faster
 * than the forward full correlation on LeNet-5's second convolution, which also pays for padding its input — and
 * {@link convInputGradient} with dilation (which `conv2dTranspose` does not take).
 */
function convolutionInputGradient(
  dy: tf.Tensor4D,
  kernel: tf.Tensor4D,
  inputShape: number[],
  g: ConvGeometry,
): tf.Tensor {
  if (g.dilations[0] !== 1 || g.dilations[1] !== 1) return convInputGradient(dy, kernel, inputShape, g);
  const [n, h, w, c] = inputShape;
  return tf.conv2dTranspose(dy, kernel, [n, h, w, c], g.strides, g.padding);
}

/** The leading `[M, H, W, C]` block of `t` (pooling ignores the rows and columns beyond whole windows). */
function cropTo(t: tf.Tensor4D, shape: number[]): tf.Tensor {
  const [m, h, w, c] = shape;
  return t.shape[1] === h && t.shape[2] === w ? t : t.slice([0, 0, 0, 0], [m, h, w, c]);
}

/** Routes pooled cotangents `[K·M, H', W', C]` back to the pooling input `[K·M, H, W, C]`. */
function poolBackward(
  d: tf.Tensor4D,
  r: StepRecord,
  size: [number, number],
  max: boolean,
  k: number,
  shapeIn: number[],
): tf.Tensor {
  const [km, oh, ow, c] = d.shape;
  const [ph, pw] = size;
  const m = km / k;
  let spread: tf.Tensor;
  if (max) {
    spread = tf.mul(d.reshape([k, m * oh, 1, ow, 1, c]), r.poolMask!.reshape([1, m * oh, ph, ow, pw, c]));
  } else {
    spread = tf.mul(d.reshape([km * oh, 1, ow, 1, c]), tf.fill([1, ph, 1, pw, 1], 1 / (ph * pw)));
  }
  const out = spread.reshape([km, oh * ph, ow * pw, c]);
  const [, h, w] = shapeIn;
  if (h === oh * ph && w === ow * pw) return out;
  return tf.pad(out, [
    [0, 0],
    [0, h - oh * ph],
    [0, w - ow * pw],
    [0, 0],
  ]);
}
