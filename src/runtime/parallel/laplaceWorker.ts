import type { Dataset } from '../../data/dataset.js';
import { subsetDataset } from '../../data/splits.js';
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

/**
 * The fitted state of a posterior. `LaplacePosterior` keeps it private; a public accessor (or a method merging two
 * posteriors' curvatures) in `src/laplace` should replace this read.
 */
export function laplaceStateOf(posterior: LaplacePosterior): LaplaceState {
  return (posterior as unknown as { readonly state: LaplaceState }).state;
}

async function laplaceTask(task: LaplaceTask): Promise<LaplaceState> {
  const model = await restoreModel(task.snapshot);
  try {
    const share = subsetDataset(
      task.data,
      Int32Array.from({ length: task.end - task.start }, (_, i) => task.start + i),
    );
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
