import type * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fitLaplace } from '../../laplace/laplacePosterior.js';
import { gaussianBlobs, smallMlp } from '../../train/test-utils.js';
import { initBackend } from '../backend.js';
import { fitLaplaceParallel } from './parallelLaplace.js';
import { WorkerPool } from './workerPool.js';

let pool: WorkerPool;
// 101 examples: shares of 50 and 51, and batches of 16 that do not line up with the split.
const data = gaussianBlobs(101, 4, 3, 2);
let model: tf.LayersModel;

beforeAll(async () => {
  const backend = await initBackend();
  model = smallMlp(4, [6], 3, 1);
  pool = await WorkerPool.start({ workers: 2, backend: backend.name });
});

afterAll(async () => {
  await pool.terminate();
});

/** max |a − b| / max |b|. */
function relativeDifference(a: Float64Array, b: Float64Array): number {
  let diff = 0;
  let scale = 0;
  for (let i = 0; i < b.length; i++) {
    diff = Math.max(diff, Math.abs(a[i] - b[i]));
    scale = Math.max(scale, Math.abs(b[i]));
  }
  return diff / scale;
}

describe('fitLaplaceParallel', () => {
  it.each([
    { hessian: 'kron' as const, subset: 'all' as const },
    { hessian: 'diag' as const, subset: 'all' as const },
    { hessian: 'full' as const, subset: 'lastLayer' as const },
  ])('equals fitLaplace for a $hessian Laplace over $subset weights', async ({ hessian, subset }) => {
    const options = { hessian, subset, priorPrecision: 0.5, batchSize: 16 };
    const single = fitLaplace(model, data, options);
    const parallel = await fitLaplaceParallel(model, data, { ...options, pool });
    expect(parallel.dataSize).toBe(101);
    expect(Array.from(parallel.indices)).toEqual(Array.from(single.indices));
    expect(relativeDifference(parallel.marginalVariances(), single.marginalVariances())).toBeLessThan(1e-5);
    expect(parallel.logMarginalLikelihood()).toBeCloseTo(single.logMarginalLikelihood(), 3);
    single.dispose();
    parallel.dispose();
  });

  it('rejects a subnetwork chosen from the data', async () => {
    await expect(
      fitLaplaceParallel(model, data, {
        hessian: 'full',
        subset: { strategy: 'largestVariance', count: 5 },
        pool,
      }),
    ).rejects.toThrow(/cannot choose a largestVariance subnetwork/);
  });
});
