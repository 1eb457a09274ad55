import { featureSize, targetWidth, type Dataset } from '../../data/dataset.js';
import { fitLaplace, type FitLaplaceOptions, type LaplacePosterior } from '../../laplace/laplacePosterior.js';
import type { LaplaceState } from '../../laplace/serialization.js';
import { restoreModel, type ModelSnapshot } from './modelSnapshot.js';

/** One worker's share of a Laplace fit: the curvature of examples `[start, end)`. */
export interface LaplaceTask {
  readonly snapshot: ModelSnapshot;
  readonly data: Dataset;
  readonly start: number;
  readonly end: number;
  readonly options: FitLaplaceOptions;
}

/** The fitted state of a posterior (what `LaplacePosterior.save` encodes), to send to the workers. */
export function laplaceStateOf(posterior: LaplacePosterior): LaplaceState {
  return posterior.fittedState as LaplaceState;
}

async function laplaceTask(task: LaplaceTask): Promise<LaplaceState> {
  const model = await restoreModel(task.snapshot);
  try {
    // A view of the contiguous share, no copy.
    const fs = featureSize(task.data);
    const ts = targetWidth(task.data);
    const share: Dataset = {
      ...task.data,
      x: task.data.x.subarray(task.start * fs, task.end * fs),
      y: task.data.y.subarray(task.start * ts, task.end * ts),
      n: task.end - task.start,
    };
    const posterior = fitLaplace(model, share, task.options);
    const state = laplaceStateOf(posterior);
    posterior.dispose();
    return state;
  } finally {
    model.dispose();
  }
}

/** The Laplace tasks a worker answers (see `workerEntry.ts`). */
export const laplaceTasks = { 'laplace:fit': laplaceTask };
