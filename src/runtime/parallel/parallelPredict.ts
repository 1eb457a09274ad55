import * as tf from '@tensorflow/tfjs';
import { backendInfo, initBackend } from '../backend.js';
import { requireConfig } from '../../util/errors.js';
import { snapshotModel } from './modelSnapshot.js';
import { predictChunk, type PredictTask } from './predictWorker.js';
import { sharedFloat32 } from './sharedMemory.js';
import { WorkerPool } from './workerPool.js';

/** Options of {@link parallelPredict} and {@link predictMonteCarloChunked}. */
export interface ChunkedPredictionOptions {
  /** Forward passes S per example. Default 30. */
  readonly samples?: number;
  /** Examples per chunk; each chunk has its own noise stream. Default 256. */
  readonly chunkSize?: number;
  /** Seeds every chunk's noise stream. Default 0. */
  readonly seed?: number;
}

/** Options of {@link parallelPredict}. */
export interface ParallelPredictOptions extends ChunkedPredictionOptions {
  /** Worker threads (ignored when `pool` is given). Default 2. */
  readonly workers?: number;
  /** A running pool to use (it is left running); otherwise one is started and terminated. */
  readonly pool?: WorkerPool;
  /** Modules the workers import before rebuilding the model (custom layers). */
  readonly workerImports?: readonly string[];
}

/**
 * The Monte-Carlo predictive (1/S) Σ_s softmax(f(x; θ_s)) of a Bayesian model (as `predictMonteCarlo`), computed in
 * chunks of `chunkSize` examples, chunk c drawing its noise from a stream derived from (seed, c). Single-process
 * reference for {@link parallelPredict}, which gives the same numbers. Returns `[n, C]` probabilities (the caller's).
 */
export function predictMonteCarloChunked(
  model: tf.LayersModel,
  x: tf.Tensor,
  options: ChunkedPredictionOptions = {},
): tf.Tensor2D {
  const { samples, chunkSize, seed } = resolve(options);
  const n = x.shape[0];
  const parts: tf.Tensor2D[] = [];
  for (let chunk = 0; chunk * chunkSize < n; chunk++) {
    const start = chunk * chunkSize;
    const xb = tf.slice(x, start, Math.min(chunkSize, n - start));
    parts.push(predictChunk(model, xb, chunk, { samples, seed }));
    xb.dispose();
  }
  if (parts.length === 1) return parts[0];
  const out = tf.concat(parts, 0);
  tf.dispose(parts);
  return out;
}

/**
 * {@link predictMonteCarloChunked} with the chunks split between worker threads (contiguous runs of chunks, one
 * run per worker), each holding a copy of the model and its own TF.js backend; the inputs and the output live in
 * shared memory. Chunk c's noise depends only on (seed, c), so the result equals the single-process
 * {@link predictMonteCarloChunked} for the same seed (the same kernels run on the same numbers).
 */
export async function parallelPredict(
  model: tf.LayersModel,
  x: tf.Tensor,
  options: ParallelPredictOptions = {},
): Promise<tf.Tensor2D> {
  const { samples, chunkSize, seed } = resolve(options);
  const workers = options.pool?.size ?? options.workers ?? 2;
  requireConfig(Number.isInteger(workers) && workers >= 1, `workers must be an integer ≥ 1, got ${workers}`);
  const n = x.shape[0];
  const outputShape = model.outputs[0].shape;
  requireConfig(
    outputShape.length === 2 && typeof outputShape[1] === 'number',
    `Monte-Carlo prediction needs a model with [batch, classes] logits, got [${outputShape.join(', ')}]`,
  );
  const classes = outputShape[1] as number;
  const chunkCount = Math.ceil(n / chunkSize);
  const snapshot = snapshotModel(model);
  const inputs = sharedFloat32(x.dataSync() as Float32Array);
  const out = sharedFloat32(n * classes);
  const backend = backendInfo() ?? (await initBackend());
  const pool =
    options.pool ??
    (await WorkerPool.start({ workers, backend: backend.name, imports: options.workerImports }));
  try {
    await pool.all('predict', (w) => {
      const first = Math.floor((w * chunkCount) / workers);
      const last = Math.floor(((w + 1) * chunkCount) / workers);
      return {
        snapshot,
        x: inputs,
        featureShape: x.shape.slice(1),
        n,
        out,
        classes,
        chunks: Array.from({ length: last - first }, (_, i) => first + i),
        chunkSize,
        samples,
        seed,
      } satisfies PredictTask;
    });
  } finally {
    if (!options.pool) await pool.terminate();
  }
  return tf.tensor2d(out.slice(), [n, classes]);
}

function resolve(options: ChunkedPredictionOptions): { samples: number; chunkSize: number; seed: number } {
  const samples = options.samples ?? 30;
  const chunkSize = options.chunkSize ?? 256;
  requireConfig(
    Number.isInteger(samples) && samples >= 1,
    `samples must be a positive integer, got ${samples}`,
  );
  requireConfig(
    Number.isInteger(chunkSize) && chunkSize >= 1,
    `chunk size must be a positive integer, got ${chunkSize}`,
  );
  return { samples, chunkSize, seed: options.seed ?? 0 };
}
