import * as tf from '@tensorflow/tfjs';
import { LaplacePosterior } from '../../laplace/laplacePosterior.js';
import { decodeLaplaceState } from '../../laplace/serialization.js';
import type { KroneckerEigen } from '../../laplace/structures/kroneckerPosterior.js';
import { restoreModel, type ModelSnapshot } from './modelSnapshot.js';

/** One worker's share of a Laplace GLM predictive: the examples `[start, end)`. */
export interface LaplacePredictTask {
  readonly snapshot: ModelSnapshot;
  /** The posterior's state as `encodeLaplaceState` writes it: the JSON header and the binary arrays (shared). */
  readonly stateJson: string;
  readonly stateBin: Uint8Array;
  /** A Kronecker posterior's factor eigendecompositions, computed once by the main thread. */
  readonly kroneckerEigens?: KroneckerEigen[];
  /** Inputs, row-major `[n, ...featureShape]`, in shared memory. */
  readonly x: Float32Array;
  readonly featureShape: readonly number[];
  /** Output `[n, outputs]` in shared memory; this worker fills rows `[start, end)`. */
  readonly out: Float32Array;
  readonly outputs: number;
  /** `start` is a multiple of `batchSize`, so the batches are those of the single-thread predict. */
  readonly start: number;
  readonly end: number;
  readonly batchSize: number;
}

async function laplacePredictTask(task: LaplacePredictTask): Promise<number> {
  const model = await restoreModel(task.snapshot);
  const posterior = new LaplacePosterior(
    model,
    decodeLaplaceState(task.stateJson, task.stateBin, 'the posterior sent to a worker'),
  );
  if (task.kroneckerEigens) posterior.adoptKroneckerEigendecompositions(task.kroneckerEigens);
  try {
    if (task.end <= task.start) return 0;
    const featureSize = task.featureShape.reduce((a, b) => a * b, 1);
    const x = tf.tensor(task.x.subarray(task.start * featureSize, task.end * featureSize), [
      task.end - task.start,
      ...task.featureShape,
    ]);
    const probs = posterior.predict(x, { method: 'glm', link: 'probit', batchSize: task.batchSize });
    task.out.set(probs.dataSync(), task.start * task.outputs);
    tf.dispose([x, probs]);
    return task.end - task.start;
  } finally {
    posterior.dispose();
    model.dispose();
  }
}

/** The Laplace prediction tasks a worker answers (see `workerEntry.ts`). */
export const laplacePredictTasks = { 'laplace:predict': laplacePredictTask };
