import * as tf from '@tensorflow/tfjs';
import { makeBatch, sliceBatch } from '../../data/batches.js';
import type { Dataset } from '../../data/dataset.js';
import { kernelVariables } from '../../train/map-objective.js';
import { validateOptimizerSpec, type OptimizerSpec } from '../../train/optimizers.js';
import type { Batch, StepContext } from '../../train/types.js';
import { WasmHeap } from '../kernels/wasmHeap.js';
import { Random } from '../random.js';
import { SharedBarrier } from './barrier.js';
import { FlatOptimizer } from './flatOptimizer.js';
import { restoreModel, writeWeights, type ModelSnapshot } from './modelSnapshot.js';
import type { ObjectiveSpec } from './objectiveSpec.js';
import { RUN_STREAM, deriveRunSeed } from './seeds.js';
import { shardObjectiveFromSpec, type Shard, type ShardObjective } from './shardObjective.js';
import { SharedSum } from './sharedSum.js';

/** Values per worker a Rényi step exchanges at most (one per weight sample). */
export const SMALL_SUM_CAPACITY = 1024;

/** Everything a worker needs to hold one replica of a data-parallel training run. */
export interface TrainInit {
  readonly workers: number;
  readonly index: number;
  readonly snapshot: ModelSnapshot;
  readonly data: Dataset;
  readonly objective: ObjectiveSpec;
  readonly optimizer: OptimizerSpec;
  readonly seed: number;
  readonly batchSize: number;
  readonly stepsPerEpoch: number;
  /** Each worker's relative share of every batch (see `ParallelTrainOptions.shares`); equal when absent. */
  readonly shares?: readonly number[];
  /** Shared memory: barrier control, gradient and small all-reduce slots, epoch order, step values, weights, progress. */
  readonly shared: TrainSharedMemory;
}

/** The shared buffers of a parallel run (made by the main thread). */
export interface TrainSharedMemory {
  readonly barrier: SharedArrayBuffer;
  /** Float32 `[workers, P]`: each worker's gradient, flattened in trainable-variable order. */
  readonly gradients: Float32Array;
  /** Float32 `[P]`: the trainable parameters, each worker updating its own range of them every step. */
  readonly parameters: Float32Array;
  readonly small: SharedArrayBuffer;
  /** Int32 `[n]`: the epoch's example order (written by the main thread before each epoch). */
  readonly order: Int32Array;
  /** Float64 `[stepsPerEpoch, workers, 1 + terms]`: each worker's contributions to each step's loss and terms. */
  readonly stepValues: Float64Array;
  /** Float32: every model weight, written by worker 0 at the end of each epoch for the main thread. */
  readonly weights: Float32Array;
  /** Int32 `[1]`: steps completed in the current epoch (written by worker 0). */
  readonly progress: Int32Array;
}

/** One epoch's instructions. */
export interface EpochTask {
  readonly epoch: number;
  /** Learning rate of each step. */
  readonly learningRates: readonly number[];
  /** Whether `order` holds a permutation for this epoch (else examples are taken in order). */
  readonly shuffled: boolean;
}

/** Milliseconds a worker spent in each part of its steps during one epoch. */
export interface StepTimings {
  /** Building the batch, the forward and backward pass and reading the gradient. */
  readonly compute: number;
  /** Waiting at the two per-step barriers for the other workers. */
  readonly exchange: number;
  /** Summing this worker's range of the gradients, its optimiser update, and loading the new parameters. */
  readonly update: number;
}

/** What a worker reports after an epoch. */
export interface EpochOutcome {
  readonly steps: number;
  readonly timings: StepTimings;
  /** Set when a step's summed loss was NaN/Inf; the update of that step was not applied. */
  readonly diverged?: { readonly step: number; readonly value: number };
}

/** One replica's state. */
interface Replica {
  readonly init: TrainInit;
  readonly model: tf.LayersModel;
  readonly objective: ShardObjective;
  readonly variables: tf.Variable[];
  /** This worker's range `[start, end)` of the flat parameter vector, and the optimiser over it. */
  readonly range: readonly [number, number];
  readonly optimizer: FlatOptimizer;
  /** Decoupled weight decay λ and which values of the range it covers (kernels). */
  readonly decay: number;
  readonly decayMask: Uint8Array;
  /** This worker's range of the summed gradient (reused every step). */
  readonly summed: Float32Array;
  readonly random: Random;
  readonly barrier: SharedBarrier;
  readonly smallSum: SharedSum;
  readonly parameterCount: number;
  /**
   * The wasm backend's heap, when that is the backend: gradients are copied from it into shared memory and new
   * parameters from shared memory into it directly (one copy each way instead of two).
   */
  readonly heap: WasmHeap | undefined;
}

let replica: Replica | undefined;

/** Examples `[start, end)` of a batch of `m` that worker `index` of `workers` holds (sizes differ by at most one). */
export function shardRange(m: number, workers: number, index: number): [number, number] {
  const base = Math.floor(m / workers);
  const extra = m % workers;
  const start = index * base + Math.min(index, extra);
  return [start, start + base + (index < extra ? 1 : 0)];
}

/**
 * Examples `[start, end)` of a batch of `m` that worker `index` holds when the workers' shares are proportional to
 * `weights`: boundaries at round(m · Σ_{j<w} weights_j / Σ weights).
 */
export function weightedRange(m: number, weights: readonly number[], index: number): [number, number] {
  const total = weights.reduce((a, b) => a + b, 0);
  let before = 0;
  for (let w = 0; w < index; w++) before += weights[w];
  return [Math.round((m * before) / total), Math.round((m * (before + weights[index])) / total)];
}

async function initTrain(init: TrainInit): Promise<{ parameters: number }> {
  disposeReplica();
  const model = await restoreModel(init.snapshot);
  const objective = shardObjectiveFromSpec(init.objective);
  const variables = model.trainableWeights.map((w) => w.read() as tf.Variable).filter((v) => v.trainable);
  const parameterCount = variables.reduce((sum, v) => sum + v.size, 0);
  const barrier = new SharedBarrier(init.shared.barrier, init.workers);
  validateOptimizerSpec(init.optimizer);
  const range = shardRange(parameterCount, init.workers, init.index);
  const length = range[1] - range[0];
  const decay = init.optimizer.decoupledWeightDecay ?? 0;
  const decayMask = new Uint8Array(decay > 0 ? length : 0);
  const kernels = new Set(decay > 0 ? kernelVariables(model) : []);
  let offset = 0;
  for (const v of variables) {
    // This worker's part of the flat vector starts as its replica's (all replicas are equal).
    const values = v.dataSync() as Float32Array;
    for (let i = Math.max(offset, range[0]); i < Math.min(offset + v.size, range[1]); i++) {
      init.shared.parameters[i] = values[i - offset];
      if (kernels.has(v)) decayMask[i - range[0]] = 1;
    }
    offset += v.size;
  }
  // Worker 0 draws the stream `train` uses for its objective, so a one-worker run reproduces `train`; objectives
  // whose workers must draw the same samples (Rényi) share it, the others give each worker its own stream.
  const stream = objective.sharedNoise ? 0 : init.index;
  replica = {
    init,
    model,
    objective,
    variables,
    range,
    optimizer: new FlatOptimizer(init.optimizer, length),
    decay,
    decayMask,
    summed: new Float32Array(length),
    random: new Random(deriveRunSeed(init.seed, RUN_STREAM.objective, stream)),
    barrier,
    smallSum: new SharedSum(init.shared.small, init.workers, init.index, SMALL_SUM_CAPACITY, barrier),
    parameterCount,
    heap: WasmHeap.of(tf.backend()),
  };
  return { parameters: parameterCount };
}

function runEpoch(task: EpochTask): EpochOutcome {
  const r = requireReplica();
  try {
    return epochSteps(r, task);
  } catch (err) {
    // Release the other workers, which would otherwise wait for this one at the next barrier.
    r.barrier.abort();
    throw err;
  }
}

function epochSteps(r: Replica, task: EpochTask): EpochOutcome {
  const { init, objective } = r;
  const { data, batchSize, stepsPerEpoch, workers, index, shared } = init;
  const termCount = objective.termNames.length;
  const rowLength = workers * (1 + termCount);
  const timings = { compute: 0, exchange: 0, update: 0 };
  let clock = performance.now();
  const lap = (part: keyof StepTimings) => {
    const now = performance.now();
    timings[part] += now - clock;
    clock = now;
  };
  for (let step = 0; step < task.learningRates.length; step++) {
    const learningRate = task.learningRates[step];
    const start = step * batchSize;
    const m = Math.min(start + batchSize, data.n) - start;
    const [a, b] = init.shares ? weightedRange(m, init.shares, index) : shardRange(m, workers, index);
    const context: StepContext = {
      epoch: task.epoch,
      step,
      stepsPerEpoch,
      datasetSize: data.n,
      random: r.random,
    };
    const shard: Shard = {
      index,
      workers,
      fraction: (b - a) / m,
      batchSize: m,
      sumAcrossWorkers: (values) => r.smallSum.sum(values),
    };
    const batch =
      b > a
        ? task.shuffled
          ? makeBatch(data, shared.order.subarray(start + a, start + b))
          : sliceBatch(data, start + a, start + b)
        : undefined;
    const gradients = shared.gradients.subarray(index * r.parameterCount, (index + 1) * r.parameterCount);
    const values = shared.stepValues.subarray(
      step * rowLength + index * (1 + termCount),
      step * rowLength + (index + 1) * (1 + termCount),
    );
    try {
      if (batch || index === 0 || objective.collective)
        shardGradients(r, batch, context, shard, gradients, values);
      else {
        gradients.fill(0);
        values.fill(0);
      }
    } finally {
      if (batch) tf.dispose([batch.x, batch.y]);
    }
    lap('compute');
    r.barrier.arriveAndWait();
    lap('exchange');
    let loss = 0;
    for (let w = 0; w < workers; w++) loss += shared.stepValues[step * rowLength + w * (1 + termCount)];
    if (!Number.isFinite(loss)) return { steps: step, timings, diverged: { step, value: loss } };
    updateRange(r, learningRate);
    lap('update');
    // Every range is updated before anyone reads the new parameters; nobody writes gradients or parameters again
    // before passing the next step's first barrier, by which time everyone has loaded them.
    r.barrier.arriveAndWait();
    lap('exchange');
    loadParameters(r);
    if (index === 0) Atomics.store(shared.progress, 0, step + 1);
    lap('update');
  }
  if (index === 0) writeWeights(r.model, shared.weights);
  return { steps: task.learningRates.length, timings };
}

/** This worker's gradient (into `gradients`, flattened in variable order) and logged contributions (into `values`). */
function shardGradients(
  r: Replica,
  batch: Batch | undefined,
  context: StepContext,
  shard: Shard,
  gradients: Float32Array,
  values: Float64Array,
): void {
  let logged: tf.Tensor1D | undefined;
  const { value, grads } = tf.variableGrads(() => {
    const out = r.objective.loss(r.model, batch, context, shard);
    logged = tf.keep(
      tf.tidy(() =>
        tf.stack(
          [out.reported, ...r.objective.termNames.map((k) => out.terms[k] ?? tf.scalar(NaN))].map((t) =>
            tf.reshape(t, []),
          ),
        ),
      ) as tf.Tensor1D,
    );
    // A worker without examples may hold a loss that no variable reaches; tie it to one with a zero weight so the
    // tape accepts it (its gradient is exactly zero).
    return batch ? out.loss : (tf.add(out.loss, tf.mul(0, tf.sum(r.variables[0]))) as tf.Scalar);
  }, r.variables);
  try {
    values.set(logged!.dataSync());
    let offset = 0;
    for (const v of r.variables) {
      const g = grads[v.name];
      if (!g) gradients.fill(0, offset, offset + v.size);
      else if (r.heap) {
        const start = r.heap.offset(g);
        gradients.set(r.heap.f32.subarray(start, start + v.size), offset);
      } else gradients.set(g.dataSync() as Float32Array, offset);
      offset += v.size;
    }
  } finally {
    tf.dispose([value, logged!, ...Object.values(grads)]);
  }
}

/** Sums this worker's range of every worker's gradient (in worker order) and takes the optimiser step on it. */
function updateRange(r: Replica, learningRate: number): void {
  const [start, end] = r.range;
  const { gradients, parameters } = r.init.shared;
  const p = r.parameterCount;
  const summed = r.summed;
  summed.set(gradients.subarray(start, end));
  for (let w = 1; w < r.init.workers; w++) {
    const slot = gradients.subarray(w * p + start, w * p + end);
    for (let i = 0; i < summed.length; i++) summed[i] += slot[i];
  }
  const decay = r.decay > 0 ? { factor: 1 - learningRate * r.decay, mask: r.decayMask } : undefined;
  r.optimizer.step(parameters, start, summed, learningRate, decay);
}

/** Loads the shared parameter vector into this replica's variables. */
function loadParameters(r: Replica): void {
  const parameters = r.init.shared.parameters;
  let offset = 0;
  tf.tidy(() => {
    for (const v of r.variables) {
      const values = parameters.subarray(offset, offset + v.size);
      if (r.heap) {
        const info = r.heap.output(v.shape);
        r.heap.f32.set(values, r.heap.offset(info));
        v.assign(tf.engine().makeTensorFromTensorInfo(info));
      } else {
        // A copy: some backends (cpu) keep the array they are given, and the shared one changes every step.
        v.assign(tf.tensor(values.slice(), v.shape, 'float32'));
      }
      offset += v.size;
    }
  });
}

/** The objective's epoch-end update on this replica, with the logs the main thread computed. */
function endEpoch(payload: { epoch: number; logs: Record<string, number> }): boolean {
  const r = requireReplica();
  r.objective.onEpochEnd?.(payload.epoch, r.model, payload.logs);
  return true;
}

/** This replica's weights (for tests that check the replicas agree). */
function replicaWeights(): Float32Array {
  const r = requireReplica();
  const out = new Float32Array(r.init.shared.weights.length);
  writeWeights(r.model, out);
  return out;
}

function requireReplica(): Replica {
  if (!replica) throw new Error('the worker holds no training replica (train:init first)');
  return replica;
}

function disposeReplica(): boolean {
  if (replica) {
    replica.model.dispose();
    replica = undefined;
  }
  return true;
}

/** The training tasks a worker answers (see `workerEntry.ts`). */
export const trainTasks = {
  'train:init': initTrain,
  'train:epoch': runEpoch,
  'train:epoch-end': endEpoch,
  'train:weights': replicaWeights,
  'train:dispose': disposeReplica,
};
