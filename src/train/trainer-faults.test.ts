import * as tf from '@tensorflow/tfjs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../runtime/backend.js';
import { BayescompError } from '../util/errors.js';
import { readCheckpoint } from './checkpoint.js';
import { mapObjective } from './map-objective.js';
import { flatWeights, gaussianBlobs, smallMlp } from './test-utils.js';
import { train } from './trainer.js';
import type { Objective } from './types.js';

const trainSet = gaussianBlobs(600, 8, 3, 1);
const dirs: string[] = [];

async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'bayescomp-faults-'));
  dirs.push(dir);
  return dir;
}

/** The MAP objective, except that the loss is NaN the first `times` times the run reaches `at` (epoch, step). */
function nanOnce(at: { epoch: number; step: number }, times = 1): Objective & { injected: () => number } {
  const base = mapObjective();
  let injected = 0;
  return {
    name: 'map',
    injected: () => injected,
    loss(model, batch, context) {
      const out = base.loss(model, batch, context);
      if (context.epoch === at.epoch && context.step === at.step && injected < times) {
        injected++;
        return { loss: tf.mul(out.loss, NaN) as tf.Scalar, terms: out.terms };
      }
      return out;
    },
  };
}

const common = {
  data: trainSet,
  batchSize: 32,
  seed: 5,
  optimizer: { name: 'adam' as const, learningRate: 0.01 },
  progress: 'none' as const,
};

describe('train: NaN rollback and interruption', () => {
  beforeAll(async () => {
    await initBackend();
  });
  afterAll(async () => {
    await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
  });

  it('rolls back a NaN at epoch 2 to the end of epoch 1 and halves the learning rate: weights equal a run resumed at lr/2', async () => {
    // 600 examples in batches of 32: 19 steps per epoch. The NaN is injected once, at epoch 2 (index 1), step 4.
    const objective = nanOnce({ epoch: 1, step: 4 });
    const log = new PassThrough();
    let text = '';
    log.on('data', (c: Buffer) => (text += c.toString()));
    const model = smallMlp(8, [16], 3, 4);
    const before = tf.memory().numTensors;
    const result = await train({
      ...common,
      model,
      objective,
      epochs: 3,
      onNonFinite: 'rollback',
      progressStream: log,
    });
    expect(objective.injected()).toBe(1);
    expect(result.rollbacks).toBe(1);
    expect(result.learningRateScale).toBe(0.5);
    expect(result.history.map((h) => h.learningRate)).toEqual([0.01, 0.005, 0.005]);
    expect(result.history.map((h) => h.steps)).toEqual([19, 19, 19]);
    expect(result.steps).toBe(3 * 19);
    expect(text).toMatch(
      /loss is NaN at epoch 2\/3, step 5\/19.*rolled back to the end of epoch 1 with the learning rate ×0\.5 \(rollback 1 of at most 3\)/,
    );
    // No tensors kept by the rollback (the snapshot lives in JavaScript arrays; the old optimiser is disposed).
    expect(tf.memory().numTensors).toBe(before);

    // Reference: one clean epoch at lr 0.01 into a run directory, then resumed for epochs 2–3 at lr 0.005.
    const dir = await tempDir();
    const reference = smallMlp(8, [16], 3, 4);
    await train({ ...common, model: reference, epochs: 1, runDir: dir });
    await train({
      ...common,
      model: reference,
      epochs: 3,
      runDir: dir,
      resume: true,
      optimizer: { name: 'adam', learningRate: 0.005 },
    });
    expect(Array.from(flatWeights(model))).toEqual(Array.from(flatWeights(reference)));
    model.dispose();
    reference.dispose();
  });

  it('rolls back to the last step checkpoint in the run directory and keeps the scale in the checkpoint', async () => {
    const dir = await tempDir();
    const model = smallMlp(8, [16], 3, 4);
    const result = await train({
      ...common,
      model,
      objective: nanOnce({ epoch: 0, step: 12 }),
      epochs: 1,
      runDir: dir,
      checkpointEverySteps: 5,
      divergenceCheckEvery: 1,
      onNonFinite: 'rollback',
      rollback: { lrFactor: 0.25 },
      progressStream: new PassThrough(),
    });
    expect(result.rollbacks).toBe(1);
    expect(result.learningRateScale).toBe(0.25);
    // Steps 0–9 at lr 0.01 (checkpoint at global step 10), step 10–18 replayed at 0.0025.
    expect(result.steps).toBe(19);
    const saved = await readCheckpoint(dir);
    expect(saved?.learningRateScale).toBe(0.25);
    expect(saved?.epoch).toBe(1);
    model.dispose();
  });

  it('stops with a diverged error after maxRetries rollbacks', async () => {
    const model = smallMlp(8, [16], 3, 4);
    const objective = nanOnce({ epoch: 0, step: 3 }, 100);
    const error = await train({
      ...common,
      model,
      objective,
      epochs: 2,
      onNonFinite: 'rollback',
      rollback: { maxRetries: 2 },
      progressStream: new PassThrough(),
    }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(BayescompError);
    expect((error as BayescompError).code).toBe('diverged');
    expect((error as Error).message).toMatch(
      /after 2 rollbacks that lowered the learning rate to 0\.25× the configured one/,
    );
    expect(objective.injected()).toBe(3);
    model.dispose();
  });

  it('without rollback a NaN still stops the run (the default)', async () => {
    const model = smallMlp(8, [16], 3, 4);
    const error = await train({
      ...common,
      model,
      objective: nanOnce({ epoch: 0, step: 3 }),
      epochs: 1,
    }).catch((e: unknown) => e);
    expect((error as BayescompError).code).toBe('diverged');
    model.dispose();
  });

  it('an aborted signal stops after the current step with a mid-epoch checkpoint that resumes to the same weights', async () => {
    const straight = smallMlp(8, [16], 3, 7);
    await train({ ...common, model: straight, epochs: 2 });

    const dir = await tempDir();
    const controller = new AbortController();
    const model = smallMlp(8, [16], 3, 7);
    const stopped = await train({
      ...common,
      model,
      epochs: 2,
      runDir: dir,
      signal: controller.signal,
      callbacks: {
        onBatchEnd: ({ epoch, step }) => {
          if (epoch === 1 && step === 6) controller.abort();
        },
      },
    });
    expect(stopped.interrupted).toBe(true);
    expect(stopped.stoppedEarly).toBe(true);
    expect(stopped.steps).toBe(19 + 7);
    const saved = await readCheckpoint(dir);
    expect([saved?.epoch, saved?.step, saved?.globalStep]).toEqual([1, 7, 26]);

    const resumedModel = smallMlp(8, [16], 3, 7);
    const resumed = await train({ ...common, model: resumedModel, epochs: 2, runDir: dir, resume: true });
    expect(resumed.interrupted).toBe(false);
    expect(resumed.resumedFrom).toEqual({ epoch: 1, step: 7 });
    expect(Array.from(flatWeights(resumedModel))).toEqual(Array.from(flatWeights(straight)));
    [straight, model, resumedModel].forEach((m) => m.dispose());
  });
});
