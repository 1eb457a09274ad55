import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BayesianDense } from '../../variational/bayesianDense.js';
import { logUniformFamily } from '../../variational/families/logUniformPosterior.js';
import { predictPosteriorMean } from '../../variational/prediction.js';
import { initBackend } from '../backend.js';
import { setGlobalSeed } from '../random.js';
import { parallelPredict, predictMonteCarloChunked } from './parallelPredict.js';
import { WorkerPool } from './workerPool.js';

let pool: WorkerPool;

beforeAll(async () => {
  const backend = await initBackend();
  pool = await WorkerPool.start({ workers: 2, backend: backend.name });
});

afterAll(async () => {
  await pool.terminate();
});

function bayesianMlp(): tf.LayersModel {
  setGlobalSeed(3);
  return tf.sequential({
    layers: [
      new BayesianDense({
        units: 12,
        activation: 'relu',
        inputShape: [5],
        family: logUniformFamily({ initStd: 0.5 }),
      }),
      new BayesianDense({ units: 4, family: logUniformFamily({ initStd: 0.5, initLogSigma2: -2 }) }),
    ],
  });
}

describe('parallelPredict', () => {
  it('equals the single-process chunked Monte-Carlo predictive for the same seed', async () => {
    const model = bayesianMlp();
    const x = tf.randomNormal([300, 5], 0, 1, 'float32', 9);
    const before = tf.memory().numTensors;
    const options = { samples: 6, chunkSize: 64, seed: 5 };
    const parallel = await parallelPredict(model, x, { ...options, pool });
    const single = predictMonteCarloChunked(model, x, options);
    expect(parallel.shape).toEqual([300, 4]);
    expect(Array.from(parallel.dataSync())).toEqual(Array.from(single.dataSync()));
    // Probabilities, and genuinely stochastic: another seed, or the posterior mean, gives other numbers.
    const other = predictMonteCarloChunked(model, x, { ...options, seed: 6 });
    const mean = predictPosteriorMean(model, x);
    tf.tidy(() => {
      for (const s of tf.sum(parallel, 1).dataSync()) expect(s).toBeCloseTo(1, 5);
      expect(tf.max(tf.abs(tf.sub(other, single))).dataSync()[0]).toBeGreaterThan(1e-3);
      expect(tf.max(tf.abs(tf.sub(mean, single))).dataSync()[0]).toBeGreaterThan(1e-3);
    });
    tf.dispose([parallel, single, other, mean]);
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose([x]);
    model.dispose();
  });

  it('starts and terminates its own workers when no pool is given', async () => {
    const model = bayesianMlp();
    const x = tf.randomNormal([40, 5], 0, 1, 'float32', 1);
    const probs = await parallelPredict(model, x, { samples: 3, chunkSize: 16, seed: 1, workers: 2 });
    const single = predictMonteCarloChunked(model, x, { samples: 3, chunkSize: 16, seed: 1 });
    expect(Array.from(probs.dataSync())).toEqual(Array.from(single.dataSync()));
    tf.dispose([x, probs, single]);
    model.dispose();
  });
});
