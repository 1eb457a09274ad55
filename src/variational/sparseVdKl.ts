import * as tf from '@tensorflow/tfjs';
import { heapHelperFor } from '../runtime/kernels/heapHelper.js';
import { sparseVdKlPass } from '../runtime/kernels/sparseVdKlKernel.js';
import { WasmHeap } from '../runtime/kernels/wasmHeap.js';
import { lazyGradientOp } from './lazyGradientOp.js';
import { LOG_ALPHA_CLIP, SPARSE_VD_KL_CONSTANTS } from './logUniformKl.js';

/** Offset inside log(θ² + 1e-8) of the Sparse VD log α (as {@link sparseLogAlpha}). */
const THETA_SQUARED_OFFSET = 1e-8;

/**
 * The Sparse VD KL (Molchanov, Ashukha & Vetrov 2017, eq. 14) summed over a weight tensor, straight from the
 * additive-noise parameters θ and log σ², as one op with its gradient in closed form. Values and gradients equal
 * `logUniformKl(sparseLogAlpha(θ, log σ², clip))`.
 *
 * With q = θ² + 1e-8, log α = clip(log σ² − log q, −c, c), s₁ = sigmoid(k2 + k3·log α), s₂ = sigmoid(log α):
 *
 *   KL = Σ k1·(1 − s₁) − ½·log s₂,
 *   ∂KL/∂log α = D = −k1·k3·s₁(1 − s₁) − ½(1 − s₂),
 *   ∂KL/∂log σ² = D·m,   ∂KL/∂θ = −2θ/q · D·m,
 *
 * where m = 1 inside the clipping range (ends included, as TF.js's clipByValue gradient) and 0 outside. log α is
 * clipped, so s₂ ≥ sigmoid(−c) and its logarithm is accurate in float32.
 *
 * Why fused: the automatic gradient of the composition runs ~40 kernels per tensor, among them the clip gradient's
 * comparisons, logical and select, which the wasm backend runs far slower than arithmetic; the kernel chain here
 * ({@link sparseVdKlByKernels}) takes ~30 with the mask a `Step` and the forward sigmoids reused, and on the wasm
 * backend a large tensor takes one SIMD pass over the heap instead.
 */
export function sparseVdKl(theta: tf.Tensor, logSigma2: tf.Tensor, clip = LOG_ALPHA_CLIP): tf.Scalar {
  return sparseVdKlOnHeap(theta, logSigma2, clip) ?? sparseVdKlByKernels(theta, logSigma2, clip);
}

/** Tensors with fewer weights than this take the kernel chain (the one-pass form's fixed costs would dominate). */
const ONE_PASS_MIN_SIZE = 4096;

/**
 * {@link sparseVdKl} as one SIMD pass over the wasm heap (`sparseVdKlKernel.ts`): the per-weight terms and both
 * gradients at once, the gradients kept for the backward pass. Undefined where it does not apply (another backend, a
 * small tensor, a size not a multiple of 4, inputs out of its range such as NaN), and the kernel chain runs instead.
 */
function sparseVdKlOnHeap(theta: tf.Tensor, logSigma2: tf.Tensor, clip: number): tf.Scalar | undefined {
  const heap = WasmHeap.of(tf.backend());
  const sameShape =
    theta.shape.length === logSigma2.shape.length && theta.shape.every((d, i) => d === logSigma2.shape[i]);
  if (
    heap === undefined ||
    theta.dtype !== 'float32' ||
    logSigma2.dtype !== 'float32' ||
    !sameShape ||
    theta.size < ONE_PASS_MIN_SIZE ||
    theta.size % 4 !== 0
  )
    return undefined;
  const pass = sparseVdKlPass(heap.memory());
  if (!pass) return undefined;
  const shape = [...theta.shape];
  const outputs = [heap.output(shape), heap.output(shape), heap.output(shape)];
  const scratch = heap.output([12]);
  let done = false;
  try {
    done = pass.run(
      heap.f32,
      {
        theta: heap.offset(theta),
        logSigma2: heap.offset(logSigma2),
        term: heap.offset(outputs[0]),
        dTheta: heap.offset(outputs[1]),
        dLogSigma2: heap.offset(outputs[2]),
        length: theta.size,
      },
      { ...SPARSE_VD_KL_CONSTANTS, clip },
      heap.offset(scratch),
      heapHelperFor(heap.memory()),
    );
  } finally {
    const backend = tf.backend();
    backend.disposeData(scratch.dataId);
    if (!done) for (const info of outputs) backend.disposeData(info.dataId);
  }
  if (!done) return undefined;
  return lazyGradientOp({
    inputs: { theta, logSigma2 },
    forward(save) {
      const [term, dTheta, dLogSigma2] = outputs.map((info) => tf.engine().makeTensorFromTensorInfo(info));
      save([dTheta, dLogSigma2]);
      return blockSum(term);
    },
    backward(dy, saved) {
      const [dTheta, dLogSigma2] = saved;
      return { theta: () => tf.mul(dTheta, dy), logSigma2: () => tf.mul(dLogSigma2, dy) };
    },
  }) as tf.Scalar;
}

/** {@link sparseVdKl} as a chain of TF.js kernels (any backend). */
export function sparseVdKlByKernels(
  theta: tf.Tensor,
  logSigma2: tf.Tensor,
  clip = LOG_ALPHA_CLIP,
): tf.Scalar {
  const { k1, k2, k3 } = SPARSE_VD_KL_CONSTANTS;
  return lazyGradientOp({
    inputs: { theta, logSigma2 },
    forward(save) {
      const q = tf.add(tf.square(theta), THETA_SQUARED_OFFSET);
      const raw = tf.sub(logSigma2, tf.log(q));
      const logAlpha = tf.clipByValue(raw, -clip, clip);
      // u = 1 − s₁ = sigmoid(−k2 − k3·log α): KL = k1·Σu − ½·Σ log s₂ adds two sums of non-negative terms, so no
      // precision is lost to cancellation.
      const u = tf.sigmoid(tf.sub(tf.mul(logAlpha, -k3), k2));
      const s2 = tf.sigmoid(logAlpha);
      save([theta, q, raw, u, s2]);
      return tf.sub(tf.mul(blockSum(u), k1), tf.mul(sumOfLogs(s2, clip), 0.5));
    },
    backward(dy, saved) {
      const [sTheta, q, raw, u, s2] = saved;
      const inside = tf.sub(1, tf.step(tf.sub(tf.abs(raw), clip)));
      // s₁(1 − s₁) = u(1 − u) = u − u².
      const d = tf.add(tf.mul(tf.sub(tf.square(u), u), k1 * k3), tf.mul(tf.sub(s2, 1), 0.5));
      const dLogSigma2 = tf.mul(tf.mul(d, inside), dy);
      return {
        logSigma2: () => dLogSigma2,
        theta: () => tf.div(tf.mul(dLogSigma2, tf.mul(sTheta, -2)), q),
      };
    },
  }) as tf.Scalar;
}

/**
 * Σ log s over s ∈ [sigmoid(−clip), 1], as the logs of products of k neighbours (k ≤ 8 with k·clip < 87, so no
 * product falls below float32's smallest normal number): a logarithm costs the wasm backend several times a
 * multiplication, and this takes k times fewer of them.
 */
function sumOfLogs(s: tf.Tensor, clip: number): tf.Scalar {
  const cols = s.rank === 0 ? 1 : s.shape[s.rank - 1];
  const k = [8, 4, 2].find((g) => cols % g === 0 && g * clip < 87) ?? 1;
  if (k === 1) return blockSum(tf.log(s));
  const rows = s.size / cols;
  return blockSum(tf.log(tf.prod(tf.reshape(s, [rows, cols / k, k]), 2)));
}

/**
 * Σ of all elements in two stages (rows, then the row sums): the backend's Sum accumulates sequentially in float32,
 * whose error grows with the running total; summing rows first keeps it near the error of one row.
 */
function blockSum(t: tf.Tensor): tf.Scalar {
  if (t.rank < 2) return tf.sum(t);
  return tf.sum(tf.sum(tf.reshape(t, [-1, t.shape[t.rank - 1]]), 1));
}
