import { batchCount } from '../data/batches.js';
import { backendInfo, initBackend } from '../runtime/backend.js';
import { SharedBarrier } from '../runtime/parallel/barrier.js';
import { readWeights, snapshotModel } from '../runtime/parallel/modelSnapshot.js';
import type { ObjectiveSpec } from '../runtime/parallel/objectiveSpec.js';
import { RUN_STREAM, deriveRunSeed } from '../runtime/parallel/seeds.js';
import { shardObjectiveFromSpec } from '../runtime/parallel/shardObjective.js';
import { shareDataset, sharedFloat32, sharedFloat64, sharedInt32 } from '../runtime/parallel/sharedMemory.js';
import { SharedSum } from '../runtime/parallel/sharedSum.js';
import {
  SMALL_SUM_CAPACITY,
  type EpochOutcome,
  type EpochTask,
  type StepTimings,
  type TrainInit,
  type TrainSharedMemory,
} from '../runtime/parallel/trainWorker.js';
import { WorkerPool } from '../runtime/parallel/workerPool.js';
import { Random } from '../runtime/random.js';
import { BayescompError, requireConfig } from '../util/errors.js';
import { learningRateAt, validateLrSchedule } from './lr-schedules.js';
import { validateOptimizerSpec, type OptimizerSpec } from './optimizers.js';
import { createProgressReporter } from './progress-reporter.js';
import type { TrainOptions, TrainResult } from './trainer.js';
import type { EpochLog, TrainCallbacks } from './types.js';
import { epochValidation } from './epoch-validation.js';

/** Options of {@link trainParallel}: those of `train` without run directories, plus the worker count. */
export interface ParallelTrainOptions extends Omit<
  TrainOptions,
  | 'objective'
  | 'callbacks'
  | 'runDir'
  | 'resume'
  | 'checkpointEvery'
  | 'checkpointEverySteps'
  | 'divergenceCheckEvery'
> {
  /** Worker threads, each holding a replica of the model and its own TF.js backend (≥ 1; 2 on a 2-core machine). */
  readonly workers: number;
  /** What to minimise, as plain data (workers rebuild it). Default `{ kind: 'map' }`. */
  readonly objective?: ObjectiveSpec;
  /** Epoch hooks (per-step hooks would stall the workers, which run a whole epoch between synchronisations). */
  readonly callbacks?: Pick<TrainCallbacks, 'onEpochStart' | 'onEpochEnd'>;
  /**
   * Modules each worker imports before rebuilding the model (absolute file URLs or package names), for custom layers
   * registered with `tf.serialization.registerClass` outside bayescomp.
   */
  readonly workerImports?: readonly string[];
  /**
   * Each worker's relative share of every batch, e.g. `[0.4, 0.6]`; default equal. Worker 0 also computes the
   * batch-independent terms that do not split by weight (the L2 term, the KL of group priors; a KL that is a sum over
   * weights is split between all workers), so with those a smaller first share balances the workers. The shares fix which examples (and so which noise) each worker gets: keep them for reproducible runs.
   */
  readonly shares?: readonly number[];
  /**
   * A running pool to train on (`workers` must equal its size); it is left running for further calls. By default a
   * pool is started for the call and terminated when it returns.
   */
  readonly pool?: WorkerPool;
  /**
   * After the last epoch, read every replica's weights and throw unless all are bit-identical to worker 0's (a
   * consistency check costing one weight read per worker). Default false.
   */
  readonly verifyReplicas?: boolean;
}

/** What {@link trainParallel} returns: `train`'s result and the number of workers used. */
export interface ParallelTrainResult extends TrainResult {
  readonly workers: number;
  /** Per epoch, per worker: milliseconds spent computing, exchanging gradients (waiting included) and updating. */
  readonly timings: readonly (readonly StepTimings[])[];
}

/**
 * Data-parallel training on worker threads, for the machine's cores the single-threaded wasm backend leaves idle.
 * Each of W workers holds a replica of the model. At every step the batch (the same examples, in the same order, as
 * `train`) is split into W contiguous shares of sizes differing by at most one; worker w differentiates (m_w/M) · its
 * share's mean data term plus its block of the KL's rows (worker 0 adds the batch-independent terms that do not
 * split: L2, group priors' KL), and each writes its gradient into shared
 * memory. After a barrier, worker w sums its own range of the flat parameter vector over the workers' gradients (in
 * worker order) and applies the optimiser to that range only (a float32 JavaScript optimiser with the TF.js update
 * rules, see `FlatOptimizer`), writing the new values into a shared parameter vector; after a second barrier every
 * replica loads the whole vector, so the replicas stay bit-identical and the update is split rather than repeated. In
 * exact arithmetic the summed gradient is the full-batch gradient, so a MAP run matches `train` up to float rounding.
 *
 * Noise: worker w draws from the stream `train` derives for its objective with index w (worker 0's is `train`'s own,
 * so one worker reproduces `train` exactly); the Rényi objective's workers all use stream 0 and draw the same weight
 * samples. A run is reproducible for a given seed and worker count; with several workers the noise of a stochastic
 * objective differs from `train`'s (its expectation does not).
 *
 * The main thread does nothing per step: workers run whole epochs and meet only at the two per-step barriers. After each
 * epoch worker 0's weights are copied into `model` (validation, metrics and callbacks see them), and the objective's
 * epoch-end update (KL schedule, empirical-Bayes priors) runs on every replica with the same logs. A NaN/Inf loss
 * stops every worker at the same step (before its update) and throws `diverged`; `model` keeps the last epoch's
 * weights. Workers are terminated on return, error or divergence. No run directory or checkpoints (use `train`).
 * Layers with state updated in the forward pass (batch-norm statistics) would keep worker 0's.
 */
export async function trainParallel(options: ParallelTrainOptions): Promise<ParallelTrainResult> {
  const startTime = performance.now();
  const { model, epochs, batchSize } = options;
  validateParallelOptions(options);
  const objectiveSpec = options.objective ?? { kind: 'map' };
  const objective = shardObjectiveFromSpec(objectiveSpec);
  const optimizer: OptimizerSpec = options.optimizer ?? { name: 'adam', learningRate: 1e-3 };
  validateOptimizerSpec(optimizer);
  const seed = options.seed ?? 0;
  const workers = options.workers;
  const data = shareDataset(options.data);
  const stepsPerEpoch = batchCount(data.n, batchSize, options.dropLast);
  requireConfig(
    stepsPerEpoch > 0,
    `the training set (${data.n} examples) holds no full batch of ${batchSize}`,
  );
  const variables = model.trainableWeights.filter((w) => w.trainable);
  requireConfig(variables.length > 0, 'the model has no trainable weights');
  const parameterCount = variables.reduce(
    (sum, w) => sum + (w.shape as number[]).reduce((a, b) => a * b, 1),
    0,
  );

  const backend = backendInfo() ?? (await initBackend());
  const snapshot = snapshotModel(model);
  const termNames = objective.termNames;
  const valuesPerWorker = 1 + termNames.length;
  const shared: TrainSharedMemory = {
    barrier: SharedBarrier.allocate(),
    gradients: sharedFloat32(workers * parameterCount),
    parameters: sharedFloat32(parameterCount),
    small: SharedSum.allocate(workers, SMALL_SUM_CAPACITY),
    order: sharedInt32(data.n),
    stepValues: sharedFloat64(stepsPerEpoch * workers * valuesPerWorker),
    weights: snapshot.weights,
    progress: sharedInt32(1),
  };
  const barrier = new SharedBarrier(shared.barrier, workers);
  const reporter = createProgressReporter(options.progress ?? 'auto', options.progressStream);
  const history: EpochLog[] = [];
  const timings: StepTimings[][] = [];
  let steps = 0;
  let stoppedEarly = false;
  let pool: WorkerPool | undefined;
  try {
    pool =
      options.pool ??
      (await WorkerPool.start({ workers, backend: backend.name, imports: options.workerImports }));
    pool.onFailure(() => barrier.abort());
    const base: Omit<TrainInit, 'index'> = {
      workers,
      snapshot,
      data,
      objective: objectiveSpec,
      optimizer,
      seed,
      batchSize,
      stepsPerEpoch,
      shares: options.shares,
      shared,
    };
    await pool.all('train:init', (index) => ({ ...base, index }));

    for (let epoch = 0; epoch < epochs; epoch++) {
      const epochStart = performance.now();
      if ((await options.callbacks?.onEpochStart?.(epoch)) === 'stop') {
        stoppedEarly = true;
        break;
      }
      const shuffled = options.shuffle !== false;
      if (shuffled)
        shared.order.set(new Random(deriveRunSeed(seed, RUN_STREAM.shuffle, epoch)).permutation(data.n));
      const learningRates = Array.from({ length: stepsPerEpoch }, (_, step) =>
        learningRateAt(options.lrSchedule, optimizer.learningRate, { epoch, step, stepsPerEpoch, epochs }),
      );
      const task: EpochTask = { epoch, learningRates, shuffled };
      Atomics.store(shared.progress, 0, 0);
      reporter.epochStart(epoch, epochs, stepsPerEpoch, 0);
      const ticker = setInterval(() => {
        const done = Atomics.load(shared.progress, 0);
        if (done > 0) reporter.step(done - 1, undefined);
      }, 250);
      let outcomes: EpochOutcome[];
      try {
        outcomes = await pool.all<EpochOutcome>('train:epoch', () => task);
      } finally {
        clearInterval(ticker);
      }
      timings.push(outcomes.map((o) => o.timings));
      const diverged = outcomes[0].diverged;
      if (diverged) {
        throw new BayescompError(
          'diverged',
          `training diverged: the loss is ${diverged.value} at epoch ${epoch + 1}/${epochs}, step ` +
            `${diverged.step + 1}/${stepsPerEpoch} (the step was not applied; the model keeps the weights of ` +
            `${epoch > 0 ? `epoch ${epoch}` : 'the start'}); try a lower learning rate`,
        );
      }
      steps += stepsPerEpoch;
      const { loss, terms } = epochMeans(shared.stepValues, stepsPerEpoch, workers, termNames);
      readWeights(model, shared.weights);

      const validation = await epochValidation(options, model, epoch, epochs, seed);
      const metrics = objective.epochMetrics?.(model);
      const flat: Record<string, number> = { loss, ...terms, learningRate: learningRates[0], ...metrics };
      for (const [k, v] of Object.entries(validation ?? {})) flat[`val_${k}`] = v;
      objective.onEpochEnd?.(epoch, model, flat);
      await pool.all('train:epoch-end', () => ({ epoch, logs: flat }));

      const log: EpochLog = {
        epoch,
        steps: stepsPerEpoch,
        loss,
        terms,
        learningRate: learningRates[0],
        ...(validation ? { validation } : {}),
        ...(metrics ? { metrics } : {}),
        seconds: (performance.now() - epochStart) / 1000,
      };
      history.push(log);
      reporter.epochEnd(log, epochs);
      if ((await options.callbacks?.onEpochEnd?.(log)) === 'stop') {
        stoppedEarly = epoch + 1 < epochs;
        break;
      }
    }
    if (options.verifyReplicas) await verifyReplicas(pool);
  } finally {
    reporter.close();
    if (options.pool) await options.pool.all('train:dispose', () => null).catch(() => undefined);
    else await pool?.terminate();
  }
  return {
    history,
    epochsCompleted: history.length,
    steps,
    stoppedEarly,
    seconds: (performance.now() - startTime) / 1000,
    workers,
    timings,
  };
}

/** Mean over the epoch's steps of the loss and each term, each step's value summed over the workers' contributions. */
function epochMeans(
  stepValues: Float64Array,
  steps: number,
  workers: number,
  termNames: readonly string[],
): { loss: number; terms: Record<string, number> } {
  const width = 1 + termNames.length;
  const sums = new Float64Array(width);
  for (let step = 0; step < steps; step++) {
    for (let j = 0; j < width; j++) {
      let value = 0;
      for (let w = 0; w < workers; w++) value += stepValues[(step * workers + w) * width + j];
      // Per-step values are float32 on the device; summed in worker order they match `train`'s logged values.
      sums[j] += Math.fround(value);
    }
  }
  const terms: Record<string, number> = {};
  termNames.forEach((name, j) => (terms[name] = sums[j + 1] / steps));
  return { loss: sums[0] / steps, terms };
}

/** Throws unless every worker's replica holds exactly worker 0's weights. */
async function verifyReplicas(pool: WorkerPool): Promise<void> {
  const replicas = await pool.all<Float32Array>('train:weights', () => null);
  for (let w = 1; w < replicas.length; w++) {
    const differing = replicas[w].findIndex((v, i) => !Object.is(v, replicas[0][i]));
    if (differing >= 0) {
      throw new BayescompError(
        'runtime',
        `replica ${w} differs from replica 0 at weight value ${differing} (${replicas[w][differing]} vs ${replicas[0][differing]})`,
      );
    }
  }
}

function validateParallelOptions(options: ParallelTrainOptions): void {
  const { epochs, batchSize, workers } = options;
  requireConfig(Number.isInteger(workers) && workers >= 1, `workers must be an integer ≥ 1, got ${workers}`);
  requireConfig(
    !options.pool || options.pool.size === workers,
    `workers (${workers}) must equal the size of the given pool (${options.pool?.size})`,
  );
  requireConfig(Number.isInteger(epochs) && epochs >= 0, `epochs must be an integer ≥ 0, got ${epochs}`);
  requireConfig(
    Number.isInteger(batchSize) && batchSize >= 1,
    `batch size must be an integer ≥ 1, got ${batchSize}`,
  );
  requireConfig(options.data.n > 0, 'the training set is empty');
  if (options.shares !== undefined) {
    requireConfig(
      options.shares.length === workers && options.shares.every((s) => Number.isFinite(s) && s >= 0),
      `shares must be ${workers} non-negative numbers, got [${options.shares.join(', ')}]`,
    );
    requireConfig(
      options.shares.some((s) => s > 0),
      'at least one worker needs a positive share',
    );
  }
  for (const key of ['validateEvery', 'validationBatchSize'] as const) {
    const v = options[key];
    if (v !== undefined)
      requireConfig(Number.isInteger(v) && v >= 1, `${key} must be an integer ≥ 1, got ${v}`);
  }
  const unsupported = ['runDir', 'resume', 'checkpointEvery', 'checkpointEverySteps'].filter(
    (key) => (options as unknown as Record<string, unknown>)[key] !== undefined,
  );
  requireConfig(
    unsupported.length === 0,
    `parallel training writes no run directory or checkpoints (${unsupported.join(', ')}); use train for that`,
  );
  requireConfig(
    typeof (options as unknown as Record<string, unknown>).objective !== 'object' ||
      typeof (options.objective as unknown as Record<string, unknown>).loss !== 'function',
    'parallel training needs an objective spec ({ kind: "map" | "elbo" | "renyi", … }), not an Objective instance',
  );
  validateLrSchedule(options.lrSchedule);
}
