import * as tf from '@tensorflow/tfjs';
import { predictMonteCarlo } from '../../variational/prediction.js';
import { Random } from '../random.js';
import { restoreModel, type ModelSnapshot } from './modelSnapshot.js';
import { RUN_STREAM, deriveRunSeed } from './seeds.js';

/** One worker's share of a Monte-Carlo prediction. */
export interface PredictTask {
  readonly snapshot: ModelSnapshot;
  /** Inputs, row-major `[n, ...featureShape]`, in shared memory. */
  readonly x: Float32Array;
  readonly featureShape: readonly number[];
  readonly n: number;
  /** Output `[n, classes]` in shared memory; this worker fills its chunks' rows. */
  readonly out: Float32Array;
  readonly classes: number;
  /** Chunk indices this worker computes (chunk c holds examples `[c·chunkSize, (c+1)·chunkSize)`). */
  readonly chunks: readonly number[];
  readonly chunkSize: number;
  readonly samples: number;
  readonly seed: number;
}

/**
 * The Monte-Carlo predictive of one chunk of examples, with the chunk's own noise stream (derived from the seed and
 * the chunk index), so the result does not depend on which thread computes which chunk.
 */
export function predictChunk(
  model: tf.LayersModel,
  x: tf.Tensor,
  chunk: number,
  options: { readonly samples: number; readonly seed: number },
): tf.Tensor2D {
  const random = new Random(deriveRunSeed(options.seed, RUN_STREAM.predict, chunk));
  return predictMonteCarlo(model, x, { samples: options.samples, batchSize: x.shape[0], random }).probs;
}

async function predictTask(task: PredictTask): Promise<number> {
  const model = await restoreModel(task.snapshot);
  const featureSize = task.featureShape.reduce((a, b) => a * b, 1);
  try {
    for (const chunk of task.chunks) {
      const start = chunk * task.chunkSize;
      const end = Math.min(start + task.chunkSize, task.n);
      const x = tf.tensor(task.x.subarray(start * featureSize, end * featureSize), [
        end - start,
        ...task.featureShape,
      ]);
      const probs = predictChunk(model, x, chunk, task);
      task.out.set(probs.dataSync(), start * task.classes);
      tf.dispose([x, probs]);
    }
  } finally {
    model.dispose();
  }
  return task.chunks.length;
}

/** The prediction tasks a worker answers (see `workerEntry.ts`). */
export const predictTasks = { predict: predictTask };
