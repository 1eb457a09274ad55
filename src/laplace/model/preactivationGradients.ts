import * as tf from '@tensorflow/tfjs';
import type { LaplaceLayer, LaplaceLayout } from './laplaceLayers.js';
import { tappedForward } from './tappedForward.js';

/**
 * Output cotangents: given the logits `[M, C]`, K vectors per example `[K, M, C]` to pull back to the pre-activations.
 * Unit vectors give the Jacobian rows; columns of a square root of the output Hessian give the GGN's factors; the loss
 * gradient gives the empirical Fisher's.
 */
export type CotangentFn = (logits: tf.Tensor2D) => tf.Tensor3D;

/** Per-example quantities of a batch from which every curvature and Jacobian of the Laplace module is built. */
export interface LayerQuantities {
  /** Logits at the current weights, `[M, C]`. */
  readonly logits: tf.Tensor2D;
  /** Augmented layer inputs a = [input patch; 1], `[M, P, rows]`. */
  readonly inputs: Map<string, tf.Tensor3D>;
  /**
   * Pulled-back cotangents at each layer's pre-activation, `[K, M, P, O]`: gradients[k][m][p] = J_zᵀ v_{k,m} where z is
   * the pre-activation at location p of example m and v the k-th cotangent.
   */
  readonly gradients: Map<string, tf.Tensor4D>;
}

/** Disposes every tensor of a {@link LayerQuantities}. */
export function disposeQuantities(q: LayerQuantities): void {
  q.logits.dispose();
  for (const t of q.inputs.values()) t.dispose();
  for (const t of q.gradients.values()) t.dispose();
}

/**
 * Layer inputs and per-example pre-activation gradients for the given layers, with K cotangents per example.
 *
 * TF.js has no vmap, so the batch is tiled K times and one backward pass is made with the k-th cotangent in the k-th
 * copy; because examples do not interact (inference mode), the gradient w.r.t. a zero probe added to each
 * pre-activation is the per-example gradient. A layer whose output is the model output needs no backward pass: its
 * pre-activation gradient is the cotangent itself.
 */
export function preactivationGradients(
  model: tf.LayersModel,
  layout: LaplaceLayout,
  layers: readonly LaplaceLayer[],
  x: tf.Tensor,
  cotangents: CotangentFn,
): LayerQuantities {
  const first = tappedForward(model, layout, x, { recordInputs: new Set(layers.map((l) => l.name)) });
  const inputs = first.inputs;
  const logits = first.logits;
  const dy = tf.tidy(() => cotangents(logits));
  const [k, m, c] = dy.shape;
  const gradients = new Map<string, tf.Tensor4D>();
  const inner = layers.filter(
    (l) => !l.isOutput || (l.activation !== 'softmax' && l.activation !== 'linear'),
  );
  for (const l of layers) {
    if (!inner.includes(l)) gradients.set(l.name, dy.reshape([k, m, 1, c]));
  }
  if (inner.length > 0) {
    const probes = inner.map((l) => {
      const shape = first.preactivationShapes.get(l.name)!;
      return tf.zeros([k * shape[0], ...shape.slice(1)]);
    });
    const tiled = tf.tidy(() => tf.tile(x, [k, ...x.shape.slice(1).map(() => 1)]));
    const dyFlat = dy.reshape([k * m, c]);
    const grads = tf.grads((...ps: tf.Tensor[]) => {
      const map = new Map(inner.map((l, i) => [l.name, ps[i]] as const));
      return tappedForward(model, layout, tiled, { probes: map }).logits;
    })(probes, dyFlat);
    inner.forEach((l, i) => {
      const g = grads[i];
      gradients.set(l.name, g.reshape([k, m, -1, l.outputSize]));
      g.dispose();
    });
    tf.dispose([...probes, tiled, dyFlat]);
  }
  dy.dispose();
  return { logits, inputs, gradients };
}
