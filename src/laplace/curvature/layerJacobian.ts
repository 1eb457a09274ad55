import * as tf from '@tensorflow/tfjs';
import type { LaplaceLayer } from '../model/laplaceLayers.js';
import { repeatBatch } from '../model/repeatBatch.js';
import type { LayerQuantities } from '../model/preactivationGradients.js';

/**
 * Per-example Jacobian rows of one layer from its inputs a `[M, P, R]` and pre-activation gradients g `[K, M, P, O]`:
 * J[k, m, :] = vec(Σ_p a_{m,p} g_{k,m,p}ᵀ) (row-major over the augmented weight matrix), i.e. a ⊗ g for a Dense layer
 * and the sum over output locations for a convolution (weights are shared across locations). Returns `[K, M, R·O]`.
 */
export function layerJacobian(a: tf.Tensor3D, g: tf.Tensor4D): tf.Tensor3D {
  return tf.tidy(() => {
    const [m, p, r] = a.shape;
    const [k, , , o] = g.shape;
    if (p === 1) {
      return tf.mul(a.reshape([1, m, r, 1]), g.reshape([k, m, 1, o])).reshape([k, m, r * o]) as tf.Tensor3D;
    }
    // Explicit transposes: the wasm MatMul with transpose flags is ~10× slower (RUNTIME-NOTES).
    const aT = tf.transpose(a, [0, 2, 1]);
    const tiled = k === 1 ? aT : repeatBatch(aT, k);
    const prod = tf.matMul(tiled as tf.Tensor3D, g.reshape([k * m, p, o]) as tf.Tensor3D);
    return prod.reshape([k, m, r * o]) as tf.Tensor3D;
  });
}

/**
 * The Jacobian columns of the chosen parameters of one layer (local indices into its row-major augmented weight
 * matrix), `[K, M, S]`, without forming the whole layer Jacobian: J[k, m, s] = Σ_p a[m, p, r_s] g[k, m, p, o_s].
 */
export function layerJacobianColumns(
  a: tf.Tensor3D,
  g: tf.Tensor4D,
  local: Int32Array,
  outputSize: number,
): tf.Tensor3D {
  return tf.tidy(() => {
    const rows = new Int32Array(local.length);
    const cols = new Int32Array(local.length);
    for (let s = 0; s < local.length; s++) {
      rows[s] = Math.floor(local[s] / outputSize);
      cols[s] = local[s] % outputSize;
    }
    const rowIdx = tf.tensor1d(rows, 'int32');
    const colIdx = tf.tensor1d(cols, 'int32');
    const [m, p] = a.shape;
    const k = g.shape[0];
    const s = local.length;
    // The gathered products are K·M·P·S values: chunk over examples to bound memory on convolutions.
    const step = Math.max(1, Math.floor(4_000_000 / (k * p * s)));
    const chunks: tf.Tensor[] = [];
    for (let start = 0; start < m; start += step) {
      const size = Math.min(step, m - start);
      const aS = tf.gather(a.slice([start, 0, 0], [size, -1, -1]), rowIdx, 2);
      const gS = tf.gather(g.slice([0, start, 0, 0], [-1, size, -1, -1]), colIdx, 3);
      chunks.push(tf.sum(tf.mul(aS.reshape([1, size, p, s]), gS), 2));
    }
    return (chunks.length === 1 ? chunks[0] : tf.concat(chunks, 1)) as tf.Tensor3D;
  });
}

/** Indices of a sorted global parameter subset grouped by layer, as local indices. */
export interface LayerSubset {
  readonly layer: LaplaceLayer;
  /** Local indices into the layer's parameters, increasing. */
  readonly local: Int32Array;
  /** Whether the subset holds every parameter of the layer. */
  readonly whole: boolean;
}

/** Splits sorted global indices into per-layer local index lists (layers without selected parameters are left out). */
export function splitByLayer(layers: readonly LaplaceLayer[], indices: Int32Array): LayerSubset[] {
  const out: LayerSubset[] = [];
  let i = 0;
  for (const layer of layers) {
    const start = i;
    while (i < indices.length && indices[i] < layer.offset + layer.paramCount) i++;
    if (i === start) continue;
    const local = new Int32Array(i - start);
    for (let j = start; j < i; j++) local[j - start] = indices[j] - layer.offset;
    out.push({ layer, local, whole: local.length === layer.paramCount });
  }
  return out;
}

/**
 * The per-example Jacobian (or pulled-back cotangents) of the logits w.r.t. a subset of parameters, `[K, M, S]`,
 * concatenated over layers in subset order.
 */
export function subsetJacobian(q: LayerQuantities, parts: readonly LayerSubset[]): tf.Tensor3D {
  return tf.tidy(() => {
    const blocks = parts.map(({ layer, local, whole }) => {
      const a = q.inputs.get(layer.name)!;
      const g = q.gradients.get(layer.name)!;
      return whole ? layerJacobian(a, g) : layerJacobianColumns(a, g, local, layer.outputSize);
    });
    return (blocks.length === 1 ? blocks[0] : tf.concat(blocks, 2)) as tf.Tensor3D;
  });
}
