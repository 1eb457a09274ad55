import * as tf from '@tensorflow/tfjs';
import type { LaplacePosterior, LaplacePredictOptions } from '../../laplace/laplacePosterior.js';
import { encodeLaplaceState } from '../../laplace/serialization.js';
import { BayescompError, requireConfig } from '../../util/errors.js';
import { backendInfo, initBackend } from '../backend.js';
import { laplaceStateOf } from './laplaceWorker.js';
import type { LaplacePredictTask } from './laplacePredictWorker.js';
import { snapshotModel } from './modelSnapshot.js';
import { sharedFloat32 } from './sharedMemory.js';
import { WorkerPool } from './workerPool.js';

/** Options of {@link predictLaplaceParallel}: those of `LaplacePosterior.predict` plus the workers. */
export interface ParallelLaplacePredictOptions extends LaplacePredictOptions {
  /** Worker threads (ignored when `pool` is given). Default 2. */
  readonly workers?: number;
  /** A running pool to use (left running); otherwise one is started and terminated. */
  readonly pool?: WorkerPool;
  /** Modules the workers import before rebuilding the model (custom layers). */
  readonly workerImports?: readonly string[];
}

/**
 * `posterior.predict(x, options)` for the linearised (GLM) predictive with the probit link — p(y|x) ≈
 * softmax(f(x;θ*) / √(1 + π/8 · diag(J Σ Jᵀ))) (Immer et al. 2021; seed 002 eq. 18) — or, for regression, the
 * predictive mean f(x;θ*), with the examples split between worker threads. The posterior (its encoded state, and for
 * a Kronecker posterior the eigendecompositions of its factors, computed once here rather than in every worker) and
 * the model are sent to every worker once per call; the inputs and the output live in shared memory. Worker w takes a
 * contiguous run of whole batches of `batchSize` examples, so every batch is the one the single-thread predict
 * forms, the same kernels run on the same numbers, and the result equals `posterior.predict` bit for bit. The
 * Monte-Carlo predictives ('mc' link, 'nn' method) draw from one random stream across all batches and are refused.
 * Returns `[n, C]` (the caller's).
 */
export async function predictLaplaceParallel(
  posterior: LaplacePosterior,
  x: tf.Tensor,
  options: ParallelLaplacePredictOptions = {},
): Promise<tf.Tensor2D> {
  const { workers: requested, pool: given, workerImports } = options;
  if ((options.method ?? 'glm') !== 'glm' || (options.link ?? 'probit') !== 'probit') {
    throw new BayescompError(
      'bad-config',
      `the parallel Laplace predictive computes the GLM predictive with the probit link only, not ` +
        `method '${options.method ?? 'glm'}' with link '${options.link ?? 'probit'}'; use posterior.predict`,
    );
  }
  const workers = given?.size ?? requested ?? 2;
  requireConfig(Number.isInteger(workers) && workers >= 1, `workers must be an integer ≥ 1, got ${workers}`);
  const batchSize = options.batchSize ?? 64;
  requireConfig(
    Number.isInteger(batchSize) && batchSize >= 1,
    `batch size must be a positive integer, got ${batchSize}`,
  );
  const outputShape = posterior.model.outputs[0].shape;
  requireConfig(
    outputShape.length === 2 && typeof outputShape[1] === 'number',
    `the Laplace predictive needs a model with [batch, outputs] outputs, got [${outputShape.join(', ')}]`,
  );
  const outputs = outputShape[1] as number;
  const n = x.shape[0];
  const batches = Math.ceil(n / batchSize);
  const { json, bin } = encodeLaplaceState(laplaceStateOf(posterior));
  const stateBin = new Uint8Array(new SharedArrayBuffer(bin.byteLength));
  stateBin.set(bin);
  // Computed once here (seconds for LeNet-5) rather than again in every worker.
  const kroneckerEigens = posterior.kroneckerEigendecompositions();
  const snapshot = snapshotModel(posterior.model);
  const inputs = sharedFloat32(x.dataSync() as Float32Array);
  const out = sharedFloat32(n * outputs);
  const backend = backendInfo() ?? (await initBackend());
  const pool = given ?? (await WorkerPool.start({ workers, backend: backend.name, imports: workerImports }));
  try {
    await pool.all('laplace:predict', (w) => {
      const start = Math.min(n, Math.floor((w * batches) / workers) * batchSize);
      const end = Math.min(n, Math.floor(((w + 1) * batches) / workers) * batchSize);
      return {
        snapshot,
        stateJson: json,
        stateBin,
        kroneckerEigens,
        x: inputs,
        featureShape: x.shape.slice(1),
        out,
        outputs,
        start,
        end,
        batchSize,
      } satisfies LaplacePredictTask;
    });
  } finally {
    if (!given) await pool.terminate();
  }
  return tf.tensor2d(out.slice(), [n, outputs]);
}
