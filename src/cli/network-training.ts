import * as tf from '@tensorflow/tfjs';
import { join } from 'node:path';
import { backendInfo, describeBackend } from '../runtime/backend.js';
import type { ObjectiveSpec } from '../runtime/parallel/objectiveSpec.js';
import { WorkerPool } from '../runtime/parallel/workerPool.js';
import { trainParallel } from '../train/parallel-train.js';
import { HISTORY_FILE, type TrainOptions, type TrainResult, train } from '../train/trainer.js';
import { writeJsonAtomic } from '../util/atomic-write.js';
import { BayescompError } from '../util/errors.js';
import { type CliKlWeight, isVariationalMethod } from './variational-method.js';

/** How `train --workers N` trains one network: on the main thread (N = 1) or data-parallel on N worker threads. */
export interface ParallelSetup {
  /** Worker threads; 1 trains on the main thread with `train`. */
  readonly workers: number;
  /** The objective as plain data, which the workers rebuild (the same objective `train` is given). */
  readonly objective: ObjectiveSpec;
  /** A pool to reuse across several networks (an ensemble's members); otherwise one is started per call. */
  readonly pool?: WorkerPool;
}

/** The train options that decide the objective, as `train` reads them. */
export interface ObjectiveOptions {
  readonly method: string;
  readonly weightDecay?: number;
  readonly objective?: 'elbo' | 'renyi';
  readonly alpha?: number;
  readonly samples?: number;
  readonly klWeight?: unknown;
}

/**
 * The objective `train` minimises for `options.method` as a worker-rebuildable spec: MAP (with coupled L2) for MAP,
 * MC dropout and ensemble members; the ELBO or Rényi bound for the variational methods.
 */
export function objectiveSpecFor(options: ObjectiveOptions): ObjectiveSpec {
  if (!isVariationalMethod(options.method)) return { kind: 'map', weightDecay: options.weightDecay ?? 0 };
  if (options.objective === 'renyi')
    return { kind: 'renyi', alpha: options.alpha ?? 0.5, samples: options.samples ?? 1 };
  const spec = (options.klWeight as Partial<CliKlWeight> | undefined)?.spec;
  if (!spec) {
    throw new BayescompError(
      'bad-config',
      '--workers needs a KL-weight schedule given as text (--kl-weight or the config file)',
    );
  }
  return { kind: 'elbo', beta: spec, samples: options.samples ?? 1 };
}

/**
 * Trains one network with the options `train` takes: `train` itself for one worker, `trainParallel` for several
 * (the same examples in the same order per step, the gradient summed over the workers' shares — equal to `train` up
 * to float rounding for MAP). A parallel run has no checkpoints, so it cannot resume; its `history.json` is written
 * once at the end in `train`'s format (plus `workers`). An aborted `signal` stops it at the next epoch start
 * (`interrupted: true`, nothing to resume from).
 */
export async function trainNetwork(options: TrainOptions, setup: ParallelSetup): Promise<TrainResult> {
  if (setup.workers <= 1) return train(options);
  if (options.resume) {
    throw new BayescompError(
      'bad-config',
      `--resume needs --workers 1: training on ${setup.workers} workers writes no checkpoints`,
    );
  }
  const result = await trainParallel({
    model: options.model,
    data: options.data,
    validation: options.validation,
    validate: options.validate,
    epochs: options.epochs,
    batchSize: options.batchSize,
    optimizer: options.optimizer,
    lrSchedule: options.lrSchedule,
    seed: options.seed,
    progress: options.progress,
    progressStream: options.progressStream,
    shuffle: options.shuffle,
    dropLast: options.dropLast,
    workers: setup.workers,
    objective: setup.objective,
    pool: setup.pool,
    // Workers run whole epochs between synchronisations, so a stop request takes effect at the next epoch start.
    callbacks: {
      onEpochStart: async (epoch) =>
        options.signal?.aborted ? 'stop' : options.callbacks?.onEpochStart?.(epoch),
      onEpochEnd: options.callbacks?.onEpochEnd,
    },
  });
  if (options.runDir) {
    const backend = backendInfo();
    await writeJsonAtomic(join(options.runDir, HISTORY_FILE), {
      format: 'bayescomp-history',
      version: 1,
      objective: setup.objective.kind,
      optimizer: options.optimizer ?? { name: 'adam', learningRate: 1e-3 },
      lrSchedule:
        typeof options.lrSchedule === 'function' ? 'custom' : (options.lrSchedule ?? { type: 'constant' }),
      epochs: options.epochs,
      batchSize: options.batchSize,
      seed: options.seed ?? 0,
      backend: backend ? describeBackend(backend) : tf.getBackend(),
      workers: setup.workers,
      history: result.history,
    });
  }
  const interrupted = Boolean(options.signal?.aborted) && result.epochsCompleted < options.epochs;
  return interrupted ? { ...result, interrupted } : result;
}

/** Starts a worker pool for `workers` ≥ 2 (on the main thread's backend), or nothing for one worker. */
export async function startWorkerPool(workers: number): Promise<WorkerPool | undefined> {
  if (workers <= 1) return undefined;
  return WorkerPool.start({ workers, backend: backendInfo()?.name ?? tf.getBackend() });
}

/**
 * Wall-clock seconds spent training, across resumptions: this call's time plus the logged epoch times of the epochs
 * an earlier, interrupted call completed (the interrupted partial epoch's time is not recorded anywhere, so it is lost).
 */
export function trainingSeconds(result: TrainResult): number {
  const before = result.resumedFrom
    ? result.history.slice(0, result.resumedFrom.epoch).reduce((sum, h) => sum + h.seconds, 0)
    : 0;
  return before + result.seconds;
}
