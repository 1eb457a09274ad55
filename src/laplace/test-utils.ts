import * as tf from '@tensorflow/tfjs';
import { Random } from '../runtime/random.js';
import {
  type LaplaceLayout,
  layerWeightsFrom,
  readParameters,
  type LayerWeights,
} from './model/laplaceLayers.js';
import { tappedForward } from './model/tappedForward.js';

/** A small MLP: in → hidden (tanh) → out, optional softmax fused into the last layer. */
export function tinyMlp(
  inputs: number,
  hidden: number,
  outputs: number,
  softmax = false,
  seed = 1,
): tf.Sequential {
  return tf.sequential({
    layers: [
      tf.layers.dense({
        inputShape: [inputs],
        units: hidden,
        activation: 'tanh',
        kernelInitializer: tf.initializers.glorotNormal({ seed }),
      }),
      tf.layers.dense({
        units: outputs,
        activation: softmax ? 'softmax' : 'linear',
        kernelInitializer: tf.initializers.glorotNormal({ seed: seed + 1 }),
        biasInitializer: tf.initializers.randomNormal({ stddev: 0.3, seed: seed + 2 }),
      }),
    ],
  });
}

/** A small conv net: 6×6×2 → conv 3×3×3 (tanh, same) → avg-pool 2 → conv 2×2×2 (valid, tanh) → flatten → dense. */
export function tinyConvNet(outputs: number, seed = 3): tf.Sequential {
  return tf.sequential({
    layers: [
      tf.layers.conv2d({
        inputShape: [6, 6, 2],
        filters: 3,
        kernelSize: 3,
        padding: 'same',
        activation: 'tanh',
        kernelInitializer: tf.initializers.glorotNormal({ seed }),
        biasInitializer: tf.initializers.randomNormal({ stddev: 0.2, seed: seed + 1 }),
      }),
      tf.layers.averagePooling2d({ poolSize: 2 }),
      tf.layers.conv2d({
        filters: 2,
        kernelSize: 2,
        strides: 1,
        padding: 'valid',
        activation: 'tanh',
        kernelInitializer: tf.initializers.glorotNormal({ seed: seed + 2 }),
      }),
      tf.layers.flatten(),
      tf.layers.dropout({ rate: 0.5 }),
      tf.layers.dense({
        units: outputs,
        kernelInitializer: tf.initializers.glorotNormal({ seed: seed + 3 }),
      }),
    ],
  });
}

/** Normal features `[n, ...shape]` from a seeded generator. */
export function randomInputs(n: number, shape: number[], seed = 7): tf.Tensor {
  const r = new Random(seed);
  const size = n * shape.reduce((a, b) => a * b, 1);
  return tf.tensor(r.fillNormal(new Float32Array(size)), [n, ...shape]);
}

/** Random labels in [0, c). */
export function randomLabels(n: number, c: number, seed = 8): tf.Tensor1D {
  const r = new Random(seed);
  return tf.tensor1d(
    Int32Array.from({ length: n }, () => r.int(c)),
    'int32',
  );
}

/** Logits of the model run at parameter vector θ (layout order). */
export function logitsAt(
  model: tf.LayersModel,
  layout: LaplaceLayout,
  x: tf.Tensor,
  theta: Float32Array,
): Float32Array {
  return tf.tidy(() => {
    const weights = new Map<string, LayerWeights>(
      layout.layers.map((l) => [l.name, layerWeightsFrom(l, theta)]),
    );
    return tappedForward(model, layout, x, { weights }).logits.dataSync() as Float32Array;
  });
}

/**
 * Central finite-difference Jacobian of the logits w.r.t. every Laplace parameter, as float64 `[M][C][D]` flattened
 * (index (m·C + c)·D + d).
 */
export function finiteDifferenceJacobian(
  model: tf.LayersModel,
  layout: LaplaceLayout,
  x: tf.Tensor,
  eps = 1e-2,
): { jac: Float64Array; m: number; c: number; d: number } {
  const theta = readParameters(layout);
  const d = theta.length;
  const base = logitsAt(model, layout, x, theta);
  const m = x.shape[0];
  const c = base.length / m;
  const jac = new Float64Array(m * c * d);
  for (let j = 0; j < d; j++) {
    const plus = theta.slice();
    plus[j] += eps;
    const minus = theta.slice();
    minus[j] -= eps;
    const fp = logitsAt(model, layout, x, plus);
    const fm = logitsAt(model, layout, x, minus);
    for (let i = 0; i < m * c; i++) jac[i * d + j] = (fp[i] - fm[i]) / (2 * eps);
  }
  return { jac, m, c, d };
}

/** Dense GGN Σ_n J_nᵀ Λ_n J_n in float64 from Jacobians `[M][C][D]` and output Hessians `[M][C][C]`. */
export function denseGgn(
  jac: Float64Array,
  lambda: Float64Array,
  m: number,
  c: number,
  d: number,
): Float64Array {
  const out = new Float64Array(d * d);
  const lj = new Float64Array(c * d);
  for (let n = 0; n < m; n++) {
    lj.fill(0);
    for (let i = 0; i < c; i++)
      for (let k = 0; k < c; k++) {
        const l = lambda[(n * c + i) * c + k];
        if (l === 0) continue;
        for (let p = 0; p < d; p++) lj[i * d + p] += l * jac[(n * c + k) * d + p];
      }
    for (let i = 0; i < c; i++)
      for (let p = 0; p < d; p++) {
        const jp = jac[(n * c + i) * d + p];
        if (jp === 0) continue;
        for (let q = 0; q < d; q++) out[p * d + q] += jp * lj[i * d + q];
      }
  }
  return out;
}

/** Softmax output Hessians diag(p) − ppᵀ `[M][C][C]` in float64 from logits. */
export function softmaxHessians(logits: Float32Array, m: number, c: number): Float64Array {
  const out = new Float64Array(m * c * c);
  for (let n = 0; n < m; n++) {
    let max = -Infinity;
    for (let i = 0; i < c; i++) max = Math.max(max, logits[n * c + i]);
    const p = new Float64Array(c);
    let s = 0;
    for (let i = 0; i < c; i++) s += p[i] = Math.exp(logits[n * c + i] - max);
    for (let i = 0; i < c; i++) p[i] /= s;
    for (let i = 0; i < c; i++)
      for (let k = 0; k < c; k++) out[(n * c + i) * c + k] = (i === k ? p[i] : 0) - p[i] * p[k];
  }
  return out;
}

/** Largest absolute difference between two arrays, relative to the largest absolute value of `b` (at least 1e-12). */
export function maxRelativeError(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let diff = 0;
  let scale = 1e-12;
  for (let i = 0; i < b.length; i++) {
    diff = Math.max(diff, Math.abs(a[i] - b[i]));
    scale = Math.max(scale, Math.abs(b[i]));
  }
  return diff / scale;
}
