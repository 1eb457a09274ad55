import * as tf from '@tensorflow/tfjs';
import type { LaplaceLayer, LaplaceLayout } from './laplaceLayers.js';
import { chainPlan, chainPreactivationGradients } from './chainPullback.js';
import { repeatBatch } from './repeatBatch.js';
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
  /** Augmented layer inputs a = [input patch; 1], `[M, P, R]`. */
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
 * How {@link preactivationGradients} makes its backward pass: `chain` — one forward pass and a hand-written backward
 * pass (`chainPullback`, Sequential models of supported layers); `tape` — TF.js's gradients through a K-times tiled
 * forward pass (any model); `auto` (default) — `chain` when the model allows it.
 */
export type PullbackMethod = 'auto' | 'chain' | 'tape';

/**
 * Layer inputs and per-example pre-activation gradients for the given layers, with K cotangents per example.
 *
 * TF.js has no vmap, so the batch is tiled K times and one backward pass is made with the k-th cotangent in the k-th
 * copy; because examples do not interact (inference mode), the gradient arriving at each pre-activation is the
 * per-example gradient (captured by an identity with a custom gradient). In a Sequential model the tiling starts at
 * the first covered layer's pre-activation (computed once, untiled), so nothing below it is recomputed K times; in a
 * functional model the input is tiled. A layer whose output is the model output needs no backward pass: its
 * pre-activation gradient is the cotangent itself. Chain models of supported layers skip all of this: one forward
 * pass and a hand-written backward pass for the K cotangents at once (`chainPullback`, ~4× faster on LeNet-5).
 */
export function preactivationGradients(
  model: tf.LayersModel,
  layout: LaplaceLayout,
  layers: readonly LaplaceLayer[],
  x: tf.Tensor,
  cotangents: CotangentFn,
  method: PullbackMethod = 'auto',
): LayerQuantities {
  if (method !== 'tape') {
    const plan = chainPlan(model, layout);
    if (plan) return chainPreactivationGradients(plan, layers, x, cotangents);
    if (method === 'chain')
      throw new Error(`model '${model.name}' is not a chain the hand-written pullback supports`);
  }
  const inner = layers.filter(
    (l) => !l.isOutput || (l.activation !== 'softmax' && l.activation !== 'linear'),
  );
  const chain = model instanceof tf.Sequential;
  const first = chain && inner.length > 0 ? layout.layers.find((l) => inner.includes(l)) : undefined;
  const forward = tappedForward(model, layout, x, {
    recordInputs: new Set(layers.map((l) => l.name)),
    recordPreactivation: first?.name,
    forwardOnly: true,
  });
  const { logits, inputs } = forward;
  const dy = tf.tidy(() => cotangents(logits));
  const [k, m, c] = dy.shape;
  const gradients = new Map<string, tf.Tensor4D>();
  for (const l of layers) if (!inner.includes(l)) gradients.set(l.name, dy.reshape([k, m, 1, c]));
  if (inner.length > 0) {
    const captured = new Map<string, tf.Tensor>();
    const taps = { tapGradients: new Set(inner.map((l) => l.name)), capturedGradients: captured };
    const dyFlat = dy.reshape([k * m, c]);
    const start = first ? repeatBatch(forward.preactivation!, k) : repeatBatch(x, k);
    const grads = tf.grads((s: tf.Tensor) =>
      first
        ? tappedForward(model, layout, x, { ...taps, substitute: { layer: first.name, preactivation: s } })
            .logits
        : tappedForward(model, layout, s, taps).logits,
    )([start], dyFlat);
    for (const l of inner) {
      const g = captured.get(l.name)!;
      gradients.set(l.name, g.reshape([k, m, -1, l.outputSize]));
      g.dispose();
    }
    tf.dispose([...grads, start, dyFlat]);
  }
  forward.preactivation?.dispose();
  dy.dispose();
  return { logits, inputs, gradients };
}
