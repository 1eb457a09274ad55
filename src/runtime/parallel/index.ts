/**
 * Using more than one core: worker threads each holding a TF.js backend and a replica of the model, for
 * data-parallel training (`trainParallel`), Laplace curvature split by examples (`fitLaplaceParallel`) and Monte-Carlo
 * prediction split by example chunks (`parallelPredict`), and the Laplace GLM predictive split by examples
 * (`predictLaplaceParallel`).
 * Node only (worker_threads, SharedArrayBuffer): not part of the browser entry.
 */
export { WorkerPool, type WorkerPoolOptions } from './workerPool.js';
export {
  objectiveFromSpec,
  klWeightScheduleFromSpec,
  type ObjectiveSpec,
  type MapObjectiveSpec,
  type ElboObjectiveSpec,
  type RenyiObjectiveSpec,
  type KlWeightScheduleSpec,
} from './objectiveSpec.js';
export {
  parallelPredict,
  predictMonteCarloChunked,
  type ChunkedPredictionOptions,
  type ParallelPredictOptions,
} from './parallelPredict.js';
export {
  trainParallel,
  type ParallelTrainOptions,
  type ParallelTrainResult,
} from '../../train/parallel-train.js';
export { fitLaplaceParallel, type ParallelLaplaceOptions } from './parallelLaplace.js';
export { predictLaplaceParallel, type ParallelLaplacePredictOptions } from './parallelLaplacePredict.js';
