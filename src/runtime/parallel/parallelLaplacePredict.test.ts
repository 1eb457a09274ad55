import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fitLaplace, type LaplacePosterior } from '../../laplace/laplacePosterior.js';
import { randomInputs, randomLabels, tinyConvNet } from '../../laplace/test-utils.js';
import { gaussianBlobs, smallMlp } from '../../train/test-utils.js';
import { BayescompError } from '../../util/errors.js';
import { initBackend } from '../backend.js';
import { predictLaplaceParallel } from './parallelLaplacePredict.js';
import { WorkerPool } from './workerPool.js';

let pool: WorkerPool;

beforeAll(async () => {
  const backend = await initBackend();
  pool = await WorkerPool.start({ workers: 2, backend: backend.name });
});

afterAll(async () => {
  await pool.terminate();
});

/** max |a − b| over two equally shaped tensors. */
function maxAbsDifference(a: tf.Tensor, b: tf.Tensor): number {
  return tf.tidy(() => tf.max(tf.abs(tf.sub(a, b))).dataSync()[0]);
}

/** Every row sums to 1 within float32 round-off. */
function expectRowsSumToOne(p: tf.Tensor2D): void {
  const sums = tf.tidy(() => tf.sum(p, 1).dataSync());
  for (const s of sums) expect(Math.abs(s - 1)).toBeLessThan(1e-5);
}

/**
 * The parallel probabilities equal the single-thread ones, and the posterior genuinely moves them away from the MAP
 * softmax (so a worker that dropped the covariance would fail).
 */
async function expectSameAsSingleThread(posterior: LaplacePosterior, x: tf.Tensor, batchSize: number) {
  const parallel = await predictLaplaceParallel(posterior, x, { batchSize, pool });
  const single = posterior.predict(x, { batchSize });
  const map = tf.tidy(() => tf.softmax(posterior.model.predict(x) as tf.Tensor2D));
  expect(parallel.shape).toEqual(single.shape);
  expect(maxAbsDifference(parallel, single)).toBe(0);
  expect(maxAbsDifference(parallel, map)).toBeGreaterThan(1e-3);
  expectRowsSumToOne(parallel);
  tf.dispose([parallel, single, map]);
}

describe('predictLaplaceParallel', () => {
  it('equals the single-thread GLM probit predictive of an all-layers KFAC Laplace on a conv net', async () => {
    const model = tinyConvNet(4);
    // 150 examples in batches of 16: ten batches, five per worker, the last one partial.
    const x = randomInputs(150, [6, 6, 2]);
    const y = randomLabels(150, 4);
    const posterior = fitLaplace(model, { x, y }, { hessian: 'kron', subset: 'all', priorPrecision: 0.5 });
    await expectSameAsSingleThread(posterior, x, 16); // warms the kernels and the posterior's cache
    const before = tf.memory().numTensors;
    await expectSameAsSingleThread(posterior, x, 16);
    expect(tf.memory().numTensors).toBe(before);
    // The same pool again, after a change of prior: the new state reaches the workers.
    const firstProbs = posterior.predict(x, { batchSize: 16 });
    posterior.setPriorPrecision(5);
    await expectSameAsSingleThread(posterior, x, 32);
    const secondProbs = posterior.predict(x, { batchSize: 32 });
    expect(maxAbsDifference(firstProbs, secondProbs)).toBeGreaterThan(1e-3);
    tf.dispose([firstProbs, secondProbs]);
    posterior.dispose();
    tf.dispose([x, y]);
    model.dispose();
  });

  it('equals the single-thread predictive on an MLP, Kronecker and diagonal', async () => {
    const data = gaussianBlobs(101, 4, 3, 2, 2);
    const model = smallMlp(4, [8], 3, 1);
    const x = tf.tensor2d(data.x, [data.n, 4]);
    for (const hessian of ['kron', 'diag'] as const) {
      const posterior = fitLaplace(model, data, { hessian, priorPrecision: 0.2 });
      await expectSameAsSingleThread(posterior, x, 10);
      posterior.dispose();
    }
    x.dispose();
    model.dispose();
  });

  it('starts its own workers, some with no examples, and refuses the Monte-Carlo predictives', async () => {
    const data = gaussianBlobs(20, 4, 3, 5, 2);
    const model = smallMlp(4, [6], 3, 2);
    const x = tf.tensor2d(data.x, [data.n, 4]);
    const posterior = fitLaplace(model, data, { hessian: 'kron', priorPrecision: 0.2 });
    // Two batches of 16 for three workers: one worker has nothing to do.
    const parallel = await predictLaplaceParallel(posterior, x, { batchSize: 16, workers: 3 });
    const single = posterior.predict(x, { batchSize: 16 });
    expect(maxAbsDifference(parallel, single)).toBe(0);
    await expect(predictLaplaceParallel(posterior, x, { link: 'mc', pool })).rejects.toThrow(BayescompError);
    await expect(predictLaplaceParallel(posterior, x, { method: 'nn', pool })).rejects.toThrow(
      /GLM predictive with the probit link only/,
    );
    tf.dispose([x, parallel, single]);
    posterior.dispose();
    model.dispose();
  });
});
