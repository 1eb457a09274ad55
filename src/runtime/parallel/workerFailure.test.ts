import type { Worker } from 'node:worker_threads';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { trainParallel } from '../../train/parallel-train.js';
import { gaussianBlobs, smallMlp } from '../../train/test-utils.js';
import { initBackend } from '../backend.js';
import { WorkerPool } from './workerPool.js';

let pool: WorkerPool;

beforeAll(async () => {
  const backend = await initBackend();
  pool = await WorkerPool.start({ workers: 2, backend: backend.name });
});

afterAll(async () => {
  await pool.terminate();
});

describe('a worker that dies during parallel training', () => {
  it('releases the other worker and fails the run with the dead worker named', async () => {
    const model = smallMlp(4, [8], 3, 1);
    const run = trainParallel({
      model,
      data: gaussianBlobs(64, 4, 3, 1),
      epochs: 3,
      batchSize: 16,
      workers: 2,
      pool,
      progress: 'none',
      callbacks: {
        async onEpochStart(epoch) {
          // Kill worker 1 between epochs: worker 0 would wait for it at the first barrier of epoch 2.
          if (epoch === 1) await (pool as unknown as { workers: Worker[] }).workers[1].terminate();
        },
      },
    });
    await expect(run).rejects.toThrow(/worker 1 exited unexpectedly/);
    model.dispose();
  });
});
