import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../runtime/backend.js';
import { Random, setGlobalSeed } from '../runtime/random.js';
import type { Dataset } from '../data/dataset.js';
import { gaussianFamily } from '../variational/families/gaussianPosterior.js';
import type { ObjectiveSpec } from '../runtime/parallel/objectiveSpec.js';
import { objectiveFromSpec } from '../runtime/parallel/objectiveSpec.js';
import { WorkerPool } from '../runtime/parallel/workerPool.js';
import { BayescompError } from '../util/errors.js';
import { BayesianDense } from '../variational/bayesianDense.js';
import { logUniformFamily } from '../variational/families/logUniformPosterior.js';
import { modelKl } from '../variational/modelLayers.js';
import { trainParallel } from './parallel-train.js';
import type { OptimizerSpec } from './optimizers.js';
import { flatWeights, gaussianBlobs, smallMlp } from './test-utils.js';
import { train } from './trainer.js';

// One pool per worker count for the whole file: starting workers (a backend each) costs more than these tiny runs.
const pools = new Map<number, WorkerPool>();

beforeAll(async () => {
  const backend = await initBackend();
  for (const n of [1, 2]) pools.set(n, await WorkerPool.start({ workers: n, backend: backend.name }));
});

afterAll(async () => {
  for (const pool of pools.values()) await pool.terminate();
});

/** max |a − b| / max |b|: the relative discrepancy of two weight vectors. */
function relativeDifference(a: Float32Array, b: Float32Array): number {
  let diff = 0;
  let scale = 0;
  for (let i = 0; i < b.length; i++) {
    diff = Math.max(diff, Math.abs(a[i] - b[i]));
    scale = Math.max(scale, Math.abs(b[i]));
  }
  return diff / scale;
}

const data = gaussianBlobs(96, 6, 3, 1);

/** `n` random 6×6 single-channel images with labels from a fixed random linear rule (3 classes). */
function tinyImages(n: number, seed: number): Dataset {
  const random = new Random(seed);
  const x = new Float32Array(n * 36);
  random.fillNormal(x);
  const y = new Int32Array(n);
  for (let i = 0; i < n; i++) y[i] = (x[i * 36] + x[i * 36 + 7] > 0 ? 1 : 0) + (x[i * 36 + 20] > 0.5 ? 1 : 0);
  return { x, y, n, featureShape: [6, 6, 1], numClasses: 3 };
}

/** Conv(4 filters 3×3, stride 1) → ReLU → max-pool 2 → dense 3, seeded. */
function tinyConvNet(seed: number): tf.LayersModel {
  return tf.sequential({
    layers: [
      tf.layers.conv2d({
        filters: 4,
        kernelSize: 3,
        activation: 'relu',
        inputShape: [6, 6, 1],
        kernelInitializer: tf.initializers.glorotUniform({ seed }),
      }),
      tf.layers.maxPooling2d({ poolSize: 2 }),
      tf.layers.flatten(),
      tf.layers.dense({ units: 3, kernelInitializer: tf.initializers.glorotUniform({ seed: seed + 1 }) }),
    ],
  });
}

/** A Gaussian mean-field network (normalised densities, as the Rényi objective needs), seeded. */
function gaussianMlp(seed: number): tf.LayersModel {
  setGlobalSeed(seed);
  return tf.sequential({
    layers: [
      new BayesianDense({
        units: 8,
        activation: 'relu',
        inputShape: [6],
        family: gaussianFamily({ initStd: 0.3 }),
      }),
      new BayesianDense({ units: 3, family: gaussianFamily({ initStd: 0.3 }) }),
    ],
  });
}

/** A two-layer Sparse VD network whose initial weights depend only on `seed`. */
function sparseVdMlp(seed: number): tf.LayersModel {
  setGlobalSeed(seed);
  return tf.sequential({
    layers: [
      new BayesianDense({
        units: 8,
        activation: 'relu',
        inputShape: [6],
        family: logUniformFamily({ initStd: 0.3 }),
      }),
      new BayesianDense({ units: 3, family: logUniformFamily({ initStd: 0.3 }) }),
    ],
  });
}

/** Trains two copies of a model on the same run: one with `train`, one with `trainParallel`. */
async function bothWays(
  build: () => tf.LayersModel,
  objective: ObjectiveSpec,
  workers: number,
  optimizer: OptimizerSpec = { name: 'adam', learningRate: 0.01 },
  epochs = 2,
  batchSize = 32,
  trainingData: Dataset = data,
): Promise<{ single: Float32Array; parallel: Float32Array; singleLoss: number; parallelLoss: number }> {
  const a = build();
  const b = build();
  b.setWeights(a.getWeights());
  const common = { data: trainingData, epochs, batchSize, optimizer, seed: 7, progress: 'none' as const };
  const r1 = await train({ ...common, model: a, objective: objectiveFromSpec(objective) });
  const r2 = await trainParallel({
    ...common,
    model: b,
    objective,
    workers,
    pool: pools.get(workers),
    verifyReplicas: true,
  });
  const out = {
    single: flatWeights(a),
    parallel: flatWeights(b),
    singleLoss: r1.history.at(-1)!.loss,
    parallelLoss: r2.history.at(-1)!.loss,
  };
  a.dispose();
  b.dispose();
  return out;
}

describe('trainParallel', () => {
  it('matches train for MAP with 2 workers up to float summation order (MLP, Adam and SGD, L2)', async () => {
    const before = tf.memory().numTensors;
    const adam = await bothWays(() => smallMlp(6, [16], 3, 3), { kind: 'map', weightDecay: 1e-3 }, 2);
    expect(relativeDifference(adam.parallel, adam.single)).toBeLessThan(1e-5);
    expect(adam.parallelLoss).toBeCloseTo(adam.singleLoss, 5);
    // An odd batch size: shares of 17 and 16 examples, and a last batch of 11 = 6 + 5.
    const sgd = await bothWays(
      () => smallMlp(6, [16], 3, 4),
      { kind: 'map' },
      2,
      { name: 'sgd', learningRate: 0.1 },
      2,
      17,
    );
    expect(relativeDifference(sgd.parallel, sgd.single)).toBeLessThan(1e-5);
    expect(tf.memory().numTensors).toBe(before);
  });

  it('matches train with unequal shares, including a worker 0 with no examples', async () => {
    for (const shares of [
      [0.3, 0.7],
      [0, 1],
    ]) {
      const a = smallMlp(6, [16], 3, 6);
      const b = smallMlp(6, [16], 3, 6);
      const common = { data, epochs: 1, batchSize: 32, seed: 2, progress: 'none' as const };
      const objective: ObjectiveSpec = { kind: 'map', weightDecay: 1e-2 };
      await train({ ...common, model: a, objective: objectiveFromSpec(objective) });
      await trainParallel({
        ...common,
        model: b,
        objective,
        workers: 2,
        pool: pools.get(2),
        shares,
        verifyReplicas: true,
      });
      expect(relativeDifference(flatWeights(b), flatWeights(a))).toBeLessThan(1e-5);
      a.dispose();
      b.dispose();
    }
  });

  it.each([
    { name: 'momentum', learningRate: 0.05, momentum: 0.9, nesterov: true },
    { name: 'rmsprop', learningRate: 0.01, momentum: 0.5 },
    { name: 'adam', learningRate: 0.01, decoupledWeightDecay: 0.1 },
  ] as const)('matches train with the $name optimiser split between the workers', async (optimizer) => {
    const r = await bothWays(() => smallMlp(6, [16], 3, 5), { kind: 'map' }, 2, optimizer, 1);
    expect(relativeDifference(r.parallel, r.single)).toBeLessThan(1e-5);
  });

  it('matches train for MAP with 2 workers on a tiny conv net', async () => {
    const images = tinyImages(64, 2);
    const r = await bothWays(
      () => tinyConvNet(8),
      { kind: 'map' },
      2,
      { name: 'adam', learningRate: 0.01 },
      2,
      20,
      images,
    );
    expect(relativeDifference(r.parallel, r.single)).toBeLessThan(1e-5);
  });

  it('matches train for the Rényi bound with 2 workers (shared weight samples, summed log weights)', async () => {
    const r = await bothWays(() => gaussianMlp(4), { kind: 'renyi', alpha: 0.5, samples: 3 }, 2, {
      name: 'sgd',
      learningRate: 0.05,
    });
    expect(relativeDifference(r.parallel, r.single)).toBeLessThan(1e-5);
    expect(r.parallelLoss).toBeCloseTo(r.singleLoss, 3);
  });

  it('with 1 worker reproduces train for the ELBO to float32 rounding (worker 0 draws train’s noise stream)', async () => {
    const r = await bothWays(
      () => sparseVdMlp(5),
      { kind: 'elbo', beta: { type: 'linear', endEpoch: 2 } },
      1,
    );
    expect(relativeDifference(r.parallel, r.single)).toBeLessThan(1e-6);
    expect(r.parallelLoss).toBeCloseTo(r.singleLoss, 6);
  });

  it('sums the workers’ Sparse VD KL parts to the whole KL and reports β once (2 workers)', async () => {
    // A learning rate of 0 keeps the weights fixed, so every step's summed KL parts must equal modelKl.
    const model = sparseVdMlp(6);
    const expected = modelKl(model);
    const result = await trainParallel({
      model,
      data,
      epochs: 1,
      batchSize: 32,
      seed: 3,
      workers: 2,
      pool: pools.get(2),
      optimizer: { name: 'sgd', learningRate: 0 },
      objective: { kind: 'elbo', beta: 0.5 },
      progress: 'none',
    });
    const kl = expected.dataSync()[0];
    expect(Math.abs(result.history[0].terms.kl - kl)).toBeLessThan(1e-5 * kl);
    expect(result.history[0].terms.beta).toBeCloseTo(0.5, 6);
    expected.dispose();
    model.dispose();
  });

  it('is reproducible with 2 workers for the ELBO and keeps the replicas identical', async () => {
    const runs: Float32Array[] = [];
    for (let i = 0; i < 2; i++) {
      const model = sparseVdMlp(5);
      const result = await trainParallel({
        model,
        data,
        epochs: 2,
        batchSize: 32,
        seed: 11,
        workers: 2,
        pool: pools.get(2),
        objective: { kind: 'elbo', samples: 2 },
        progress: 'none',
        verifyReplicas: true,
      });
      expect(result.history).toHaveLength(2);
      expect(result.history[1].terms.kl).toBeGreaterThan(0);
      expect(result.history[1].metrics?.sparsity).toBeGreaterThanOrEqual(0);
      runs.push(flatWeights(model));
      model.dispose();
    }
    expect(Array.from(runs[1])).toEqual(Array.from(runs[0]));
  });

  it('stops every worker at a NaN loss with a diverged error', async () => {
    const model = smallMlp(6, [16], 3, 3);
    const start = flatWeights(model);
    const run = trainParallel({
      model,
      data,
      epochs: 2,
      batchSize: 32,
      workers: 2,
      pool: pools.get(2),
      optimizer: { name: 'sgd', learningRate: 1e30 },
      progress: 'none',
    });
    await expect(run).rejects.toThrow(
      /training diverged: the loss is (NaN|Infinity) at epoch 1\/2, step [23]\/3/,
    );
    await expect(run).rejects.toBeInstanceOf(BayescompError);
    // The step that diverged was not applied and no epoch finished: the model keeps its weights.
    expect(Array.from(flatWeights(model))).toEqual(Array.from(start));
    model.dispose();
  });

  it('surfaces an error thrown in a worker as a clear error in the caller', async () => {
    const model = smallMlp(6, [16], 3, 3);
    // Labels out of range for the regression likelihood: the workers' objective rejects int32 labels.
    const run = trainParallel({
      model,
      data,
      epochs: 1,
      batchSize: 32,
      workers: 2,
      pool: pools.get(2),
      objective: { kind: 'map', likelihood: 'gaussian' },
      progress: 'none',
    });
    await expect(run).rejects.toThrow(/the gaussian likelihood needs real-valued targets, got int32 labels/);
    model.dispose();
  });

  it('names the workerImports option when a worker cannot rebuild a custom layer', async () => {
    class Doubling extends tf.layers.Layer {
      static className = 'ParallelTestDoubling';
      override call(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
        return tf.mul(Array.isArray(inputs) ? inputs[0] : inputs, 2);
      }
    }
    tf.serialization.registerClass(Doubling);
    const model = tf.sequential({
      layers: [new Doubling({ inputShape: [6] }), tf.layers.dense({ units: 3 })],
    });
    await expect(
      trainParallel({
        model,
        data,
        epochs: 1,
        batchSize: 32,
        workers: 2,
        pool: pools.get(2),
        progress: 'none',
      }),
    ).rejects.toThrow(/could not rebuild the model \(Unknown layer: ParallelTestDoubling.*workerImports/);
    model.dispose();
  });

  it('rejects an Objective instance and run directories', async () => {
    const model = smallMlp(6, [4], 3, 3);
    const base = { model, data, epochs: 1, batchSize: 32, workers: 2 };
    await expect(
      trainParallel({ ...base, objective: objectiveFromSpec({ kind: 'map' }) as unknown as ObjectiveSpec }),
    ).rejects.toThrow(/needs an objective spec/);
    await expect(trainParallel({ ...base, runDir: '/tmp/x' } as never)).rejects.toThrow(/no run directory/);
    model.dispose();
  });
});
