import * as tf from '@tensorflow/tfjs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../runtime/backend.js';
import { Random } from '../runtime/random.js';
import { BayescompError } from '../util/errors.js';
import { readCheckpoint } from './checkpoint.js';
import { mapObjective } from './map-objective.js';
import { flatWeights, gaussianBlobs, smallMlp } from './test-utils.js';
import { train } from './trainer.js';
import type { EpochLog, Objective } from './types.js';

const trainSet = gaussianBlobs(600, 8, 3, 1);
const validSet = gaussianBlobs(300, 8, 3, 1);
const dirs: string[] = [];

async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'bayescomp-train-'));
  dirs.push(dir);
  return dir;
}

/**
 * An objective with everything a resume must restore: noise drawn from the run's generator, and state advanced by
 * `onEpochStart` (a factor on the loss, as a KL-weight schedule would be).
 */
function noisyScaledObjective(): Objective {
  const base = mapObjective();
  let scale = 1;
  return {
    name: 'noisy-scaled',
    loss(model, batch, context) {
      const noise = tf.randomNormal(batch.x.shape, 0, 0.3, 'float32', context.random.tfSeed());
      const out = base.loss(model, { ...batch, x: tf.add(batch.x, noise) }, context);
      return { loss: tf.mul(out.loss, scale) as tf.Scalar, terms: { scale: tf.scalar(scale) } };
    },
    onEpochStart() {
      scale *= 0.9;
    },
    getState: () => ({ scale }),
    setState(state) {
      scale = state.scale as number;
    },
  };
}

describe('train', () => {
  beforeAll(async () => {
    await initBackend();
  });
  afterAll(async () => {
    await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
  });

  it('learns a separable 3-class problem to ≥ 97% validation accuracy', async () => {
    const model = smallMlp(8, [16], 3, 1);
    const result = await train({
      model,
      data: trainSet,
      validation: validSet,
      epochs: 4,
      batchSize: 32,
      optimizer: { name: 'adam', learningRate: 0.01 },
      seed: 3,
      progress: 'none',
    });
    const last = result.history[3];
    expect(result.epochsCompleted).toBe(4);
    expect(result.steps).toBe(4 * 19);
    expect(last.validation!.accuracy).toBeGreaterThanOrEqual(0.97);
    expect(last.validation!.nll).toBeLessThan(0.15);
    expect(last.loss).toBeLessThan(result.history[0].loss);
    // The logged data term of the default MAP objective is the loss itself (no weight decay).
    expect(last.terms.data).toBeCloseTo(last.loss, 6);
    // Validation metrics agree with an independent computation on the whole set.
    const logits = model.predict(tf.tensor2d(validSet.x, [validSet.n, 8])) as tf.Tensor;
    const predicted = Array.from(logits.argMax(1).dataSync());
    const accuracy = predicted.filter((p, i) => p === validSet.y[i]).length / validSet.n;
    expect(last.validation!.accuracy).toBeCloseTo(accuracy, 10);
    tf.dispose(logits);
    model.dispose();
  });

  it('gives identical weights for the same seed and different weights for another seed', async () => {
    const run = async (seed: number) => {
      const model = smallMlp(8, [16], 3, 2);
      await train({ model, data: trainSet, epochs: 2, batchSize: 50, seed, progress: 'none' });
      const w = flatWeights(model);
      model.dispose();
      return w;
    };
    const a = await run(7);
    const b = await run(7);
    const c = await run(8);
    expect(Array.from(b)).toEqual(Array.from(a));
    const maxDiff = a.reduce((m, v, i) => Math.max(m, Math.abs(v - c[i])), 0);
    expect(maxDiff).toBeGreaterThan(1e-4);
  });

  it('leaks no tensors: the count is the same after epochs 1 and 3, and after the run as before', async () => {
    const model = smallMlp(8, [16], 3, 3);
    const counts: number[] = [];
    const before = tf.memory().numTensors;
    await train({
      model,
      data: trainSet,
      validation: validSet,
      epochs: 3,
      batchSize: 32,
      divergenceCheckEvery: 7,
      objective: noisyScaledObjective(),
      runDir: await tempDir(),
      progress: 'none',
      callbacks: { onEpochEnd: () => void counts.push(tf.memory().numTensors) },
    });
    expect(counts).toHaveLength(3);
    expect(counts[2]).toBe(counts[0]);
    expect(tf.memory().numTensors).toBe(before);
    model.dispose();
  });

  it('stops on a NaN loss with a diverged error and keeps the last good checkpoint', async () => {
    const base = mapObjective();
    const nanAtEpoch1Step2: Objective = {
      name: 'map',
      loss(model, batch, context) {
        const out = base.loss(model, batch, context);
        if (context.epoch === 1 && context.step === 2)
          return { loss: tf.mul(out.loss, NaN) as tf.Scalar, terms: out.terms };
        return out;
      },
    };
    const dir = await tempDir();
    const model = smallMlp(8, [16], 3, 4);
    const error = await train({
      model,
      objective: nanAtEpoch1Step2,
      data: trainSet,
      epochs: 3,
      batchSize: 32,
      seed: 5,
      runDir: dir,
      progress: 'none',
    }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(BayescompError);
    expect((error as BayescompError).code).toBe('diverged');
    expect((error as Error).message).toMatch(
      /loss is NaN at epoch 2\/3, step 3\/19 \(last finite loss [0-9.]+ at epoch 2\/3, step 2\/19\)/,
    );
    expect((error as Error).message).toContain('from the end of epoch 1');

    // The checkpoint holds exactly the weights of a clean one-epoch run.
    const saved = await readCheckpoint(dir);
    expect(saved?.epoch).toBe(1);
    expect(saved?.step).toBe(0);
    const reference = smallMlp(8, [16], 3, 4);
    await train({ model: reference, data: trainSet, epochs: 1, batchSize: 32, seed: 5, progress: 'none' });
    const savedFlat = saved!.modelWeights.flatMap((w) => Array.from(w.values));
    expect(savedFlat).toEqual(Array.from(flatWeights(reference)));
    const history = JSON.parse(await readFile(join(dir, 'history.json'), 'utf8'));
    expect(history.history).toHaveLength(1);
    model.dispose();
    reference.dispose();
  });

  it('stops with a diverged error when a huge learning rate blows the weights up', async () => {
    const model = smallMlp(8, [16], 3, 5);
    const error = await train({
      model,
      data: trainSet,
      epochs: 3,
      batchSize: 32,
      optimizer: { name: 'sgd', learningRate: 1e30 },
      divergenceCheckEvery: 1,
      runDir: await tempDir(),
      progress: 'none',
    }).catch((e: unknown) => e);
    expect((error as BayescompError).code).toBe('diverged');
    expect((error as Error).message).toMatch(/no checkpoint was written/);
    model.dispose();
  });

  it('resumes a run killed mid-epoch and ends with the weights of an uninterrupted run', async () => {
    const options = {
      data: trainSet,
      validation: validSet,
      epochs: 3,
      batchSize: 32,
      seed: 11,
      optimizer: { name: 'adam' as const, learningRate: 0.005 },
      lrSchedule: { type: 'multi-step' as const, milestones: [2], gamma: 0.5 },
      progress: 'none' as const,
    };
    const straightModel = smallMlp(8, [16], 3, 6);
    const straight = await train({
      ...options,
      model: straightModel,
      objective: noisyScaledObjective(),
      runDir: await tempDir(),
    });

    for (const checkpointEverySteps of [undefined, 5]) {
      const dir = await tempDir();
      const killed = smallMlp(8, [16], 3, 6);
      const kill = await train({
        ...options,
        model: killed,
        objective: noisyScaledObjective(),
        runDir: dir,
        checkpointEverySteps,
        callbacks: {
          onBatchEnd: ({ epoch, step }) => {
            if (epoch === 1 && step === 12) throw new Error('killed');
          },
        },
      }).catch((e: unknown) => e);
      expect((kill as Error).message).toBe('killed');
      const saved = await readCheckpoint(dir);
      // Epoch checkpoints only: the end of epoch 1. Step checkpoints every 5 global steps: the last before the kill
      // is at global step 30 = 19 + 11, i.e. 11 steps into epoch 1.
      expect([saved?.epoch, saved?.step]).toEqual(checkpointEverySteps ? [1, 11] : [1, 0]);

      const resumedModel = smallMlp(8, [16], 3, 6);
      const resumed = await train({
        ...options,
        model: resumedModel,
        objective: noisyScaledObjective(),
        runDir: dir,
        checkpointEverySteps,
        resume: true,
      });
      expect(resumed.resumedFrom).toEqual({ epoch: 1, step: checkpointEverySteps ? 11 : 0 });
      expect(Array.from(flatWeights(resumedModel))).toEqual(Array.from(flatWeights(straightModel)));
      const strip = (h: EpochLog[]) => h.map(({ seconds: _s, ...rest }) => rest);
      expect(strip(resumed.history)).toEqual(strip(straight.history));
      // A checkpoint only continues the run it came from.
      const again = {
        ...options,
        model: resumedModel,
        objective: noisyScaledObjective(),
        runDir: dir,
        resume: true,
      };
      await expect(train({ ...again, seed: 12 })).rejects.toThrow(/trained with seed 11, not 12/);
      await expect(train({ ...again, batchSize: 30 })).rejects.toThrow(
        /batch size 32 on 600 examples, not 30 on 600/,
      );
      killed.dispose();
      resumedModel.dispose();
    }
    straightModel.dispose();
  });

  it('writes history.json each epoch and prints one progress line per epoch when not on a terminal', async () => {
    const dir = await tempDir();
    const stream = new PassThrough();
    let text = '';
    stream.on('data', (chunk: Buffer) => (text += chunk.toString()));
    const model = smallMlp(8, [], 3, 7);
    const rates: number[] = [];
    await train({
      model,
      data: trainSet,
      validation: validSet,
      epochs: 4,
      batchSize: 100,
      optimizer: { name: 'sgd', learningRate: 0.1 },
      lrSchedule: { type: 'multi-step', milestoneFractions: [0.5, 0.75], gamma: 0.2 },
      objective: mapObjective({ weightDecay: 1e-3 }),
      runDir: dir,
      progress: 'auto',
      progressStream: stream,
      callbacks: { onBatchEnd: (info) => void (info.step === 0 && rates.push(info.learningRate)) },
    });
    expect(rates.map((r) => +r.toPrecision(12))).toEqual([0.1, 0.1, 0.02, 0.004]);
    const history = JSON.parse(await readFile(join(dir, 'history.json'), 'utf8'));
    expect(history.format).toBe('bayescomp-history');
    expect(history.history).toHaveLength(4);
    const entry = history.history[3];
    expect(Object.keys(entry.terms).sort()).toEqual(['data', 'l2']);
    expect(entry.loss).toBeCloseTo(entry.terms.data + entry.terms.l2, 6);
    expect(entry.learningRate).toBeCloseTo(0.004, 12);
    expect(entry.validation.accuracy).toBeGreaterThan(0.9);
    const lines = text.trim().split('\n');
    expect(lines).toHaveLength(4);
    expect(lines[0]).toMatch(
      /^epoch 1\/4 {2}loss [0-9.]+ \(data [0-9.]+, l2 [0-9.]+\) {2}lr 0\.1 {2}val accuracy/,
    );
    model.dispose();
  });

  it('fits a linear regression with the Gaussian likelihood; validation RMSE reaches the noise level', async () => {
    const random = new Random(21);
    const make = (n: number) => {
      const x = new Float32Array(n * 3);
      const y = new Float32Array(n);
      for (let i = 0; i < n; i++) {
        for (let j = 0; j < 3; j++) x[i * 3 + j] = random.normal();
        y[i] = 2 * x[i * 3] - x[i * 3 + 1] + 0.5 * x[i * 3 + 2] + 1 + 0.1 * random.normal();
      }
      return { x, y, n, featureShape: [3], targetSize: 1 };
    };
    const model = tf.sequential({
      layers: [tf.layers.dense({ units: 1, inputShape: [3], kernelInitializer: 'zeros' })],
    });
    const losses: number[] = [];
    const result = await train({
      model,
      objective: mapObjective({ likelihood: 'gaussian', noiseStd: 0.1 }),
      data: make(400),
      validation: make(400),
      epochs: 60,
      // One step per epoch, so each step's loss is its epoch's mean.
      batchSize: 400,
      optimizer: { name: 'adam', learningRate: 0.1 },
      progress: 'none',
      callbacks: { onBatchEnd: async (info) => void losses.push(await info.readLoss()) },
    });
    expect(losses).toEqual(result.history.map((h) => h.loss));
    const last = result.history[59].validation!;
    expect(Object.keys(last).sort()).toEqual(['mse', 'rmse']);
    expect(last.rmse).toBeGreaterThan(0.08);
    expect(last.rmse).toBeLessThan(0.13);
    const w = Array.from(model.layers[0].getWeights()[0].dataSync());
    [2, -1, 0.5].forEach((v, i) => expect(w[i]).toBeCloseTo(v, 1));
    model.dispose();
  });

  it('stops cleanly when a callback asks to', async () => {
    const model = smallMlp(8, [], 3, 8);
    const result = await train({
      model,
      data: trainSet,
      epochs: 5,
      batchSize: 100,
      progress: 'none',
      callbacks: { onEpochEnd: (log) => (log.epoch === 1 ? 'stop' : undefined) },
    });
    expect(result.stoppedEarly).toBe(true);
    expect(result.epochsCompleted).toBe(2);
    expect(result.history).toHaveLength(2);
    model.dispose();
  });

  it('applies decoupled weight decay to kernels only: w ← w·(1 − lr·λ) per step', async () => {
    const model = smallMlp(8, [], 3, 9);
    model.layers[0].setWeights([model.layers[0].getWeights()[0], tf.ones([3])]);
    const kernelBefore = model.layers[0].getWeights()[0].dataSync().slice();
    // A loss with zero gradient isolates the decay.
    const zero: Objective = {
      name: 'zero',
      loss: (m, batch) => ({ loss: tf.mul(tf.sum(m.apply(batch.x) as tf.Tensor), 0) as tf.Scalar }),
    };
    await train({
      model,
      objective: zero,
      data: trainSet,
      epochs: 1,
      batchSize: 100,
      optimizer: { name: 'sgd', learningRate: 0.1, decoupledWeightDecay: 0.5 },
      progress: 'none',
    });
    const [kernel, after] = model.layers[0].getWeights();
    const factor = Math.pow(1 - 0.05, 6);
    const k = kernel.dataSync();
    kernelBefore.forEach((v, i) => expect(k[i]).toBeCloseTo(v * factor, 6));
    expect(Array.from(after.dataSync())).toEqual([1, 1, 1]);
    model.dispose();
  });

  it('rejects impossible options with bad-config errors', async () => {
    const model = smallMlp(8, [], 3, 10);
    const attempt = (o: Partial<Parameters<typeof train>[0]>) =>
      train({ model, data: trainSet, epochs: 1, batchSize: 32, progress: 'none', ...o }).catch(
        (e: BayescompError) => e.code,
      );
    expect(await attempt({ batchSize: 0 })).toBe('bad-config');
    expect(await attempt({ resume: true })).toBe('bad-config');
    expect(await attempt({ optimizer: { name: 'adam', learningRate: -1 } })).toBe('bad-config');
    expect(await attempt({ lrSchedule: { type: 'multi-step', gamma: 0 } })).toBe('bad-config');
    model.dispose();
  });
});
