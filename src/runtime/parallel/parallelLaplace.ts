import type * as tf from '@tensorflow/tfjs';
import type { Dataset } from '../../data/dataset.js';
import { addCurvature } from '../../laplace/curvature/curvature.js';
import type { LaplaceData } from '../../laplace/laplaceData.js';
import { LaplacePosterior, type FitLaplaceOptions } from '../../laplace/laplacePosterior.js';
import type { LaplaceState } from '../../laplace/serialization.js';
import { BayescompError, requireConfig } from '../../util/errors.js';
import { backendInfo, initBackend } from '../backend.js';
import type { LaplaceTask } from './laplaceWorker.js';
import { snapshotModel } from './modelSnapshot.js';
import { shareDataset } from './sharedMemory.js';
import { WorkerPool } from './workerPool.js';

/** Options of {@link fitLaplaceParallel}: those of `fitLaplace` plus the workers. */
export interface ParallelLaplaceOptions extends FitLaplaceOptions {
  /** Worker threads (ignored when `pool` is given). Default 2. */
  readonly workers?: number;
  /** A running pool to use (left running); otherwise one is started and terminated. */
  readonly pool?: WorkerPool;
  /** Modules the workers import before rebuilding the model (custom layers). */
  readonly workerImports?: readonly string[];
}

/**
 * `fitLaplace` with the data split between worker threads: worker w fits the curvature (GGN or empirical Fisher, in
 * the requested structure) and the log-likelihood statistics of a contiguous share of the examples, and the shares
 * are added — the curvature is a sum over examples (Σ_n J_nᵀ Λ_n J_n; the Kronecker factors Σ a aᵀ and Σ g gᵀ with
 * their counts), so the sum equals the single-process fit up to float summation order. Every worker must cover the
 * same weights: a subnetwork chosen from the data (`largestVariance`) would differ between shares and is rejected.
 */
export async function fitLaplaceParallel(
  model: tf.LayersModel,
  data: LaplaceData,
  options: ParallelLaplaceOptions = {},
): Promise<LaplacePosterior> {
  const { workers: requested, pool: given, workerImports, ...fitOptions } = options;
  const workers = given?.size ?? requested ?? 2;
  requireConfig(Number.isInteger(workers) && workers >= 1, `workers must be an integer ≥ 1, got ${workers}`);
  const subset = fitOptions.subset;
  requireConfig(
    !(typeof subset === 'object' && 'strategy' in subset && subset.strategy === 'largestVariance'),
    'a parallel Laplace fit cannot choose a largestVariance subnetwork (it needs a diagonal fit over all the data ' +
      'first); choose the indices with fitLaplace and pass them as { indices }',
  );
  const dataset = shareDataset(asDataset(data));
  const snapshot = snapshotModel(model);
  const backend = backendInfo() ?? (await initBackend());
  const pool = given ?? (await WorkerPool.start({ workers, backend: backend.name, imports: workerImports }));
  let states: LaplaceState[];
  try {
    states = await pool.all<LaplaceState>('laplace:fit', (w) => {
      const start = Math.floor((w * dataset.n) / workers);
      const end = Math.floor(((w + 1) * dataset.n) / workers);
      return { snapshot, data: dataset, start, end, options: fitOptions } satisfies LaplaceTask;
    });
  } finally {
    if (!given) await pool.terminate();
  }
  const [state, ...others] = states;
  for (const [w, other] of others.entries()) {
    const same =
      other.indices.length === state.indices.length && other.indices.every((v, i) => v === state.indices[i]);
    if (!same) {
      throw new BayescompError(
        'bad-config',
        `worker ${w + 1} covered other weights than worker 0 (a data-dependent subset); pass the subset as { indices }`,
      );
    }
    addCurvature(state.curvature, other.curvature);
    state.stats.logLik += other.stats.logLik;
    state.stats.sse += other.stats.sse;
    state.stats.n += other.stats.n;
  }
  return new LaplacePosterior(model, state);
}

/** The data as a {@link Dataset} (tensors are read once). */
function asDataset(data: LaplaceData): Dataset {
  if ((data as Dataset).featureShape !== undefined) return data as Dataset;
  const { x, y } = data as { readonly x: tf.Tensor; readonly y: tf.Tensor };
  const n = x.shape[0];
  const xs = x.dataSync() as Float32Array;
  if (y.dtype === 'int32') {
    const labels = y.dataSync() as Int32Array;
    return { x: xs, y: labels, n, featureShape: x.shape.slice(1), numClasses: Math.max(...labels) + 1 };
  }
  const targetSize = y.rank > 1 ? y.shape.slice(1).reduce((a, b) => a * b, 1) : 1;
  return { x: xs, y: y.dataSync() as Float32Array, n, featureShape: x.shape.slice(1), targetSize };
}
