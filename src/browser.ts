/**
 * bayescomp for the browser: the library's core without anything that needs Node.js — no file-system model I/O,
 * atomic writes, dataset file loading or download, training loop with run directories and checkpoints, chart
 * rasterising, or CLI. Bundle this entry (e.g. with Vite) instead of the package root in web pages.
 *
 * What is here:
 * - runtime: {@link initBackend} (in a browser `webgl`, else `wasm`, else `cpu`; pass `wasmPaths` when the `.wasm`
 *   files are served from a bundle), seeded randomness, memory checks.
 * - data: in-memory {@link Dataset}s, batches, IDX parsing of bytes already in memory, splits, standardisation.
 * - models: the zoo, `model.json` parsing, logits recovery, per-layer summaries. Load models with TF.js itself
 *   (`tf.loadLayersModel(url)`); importing this entry registers the Bayesian layer classes so Bayesian models load.
 * - train: objectives, optimisers, schedules and validation metrics (the loop itself, `train`, writes run
 *   directories and stays Node-only for now).
 * - variational, compress: everything.
 * - laplace: curvature, posterior structures, predictives, marginal likelihood and pruning (the `LaplacePosterior`
 *   class and `fitLaplace` stay Node-only while their module also reads and writes files).
 * - eval: metrics, predictives, uncertainty, evaluation (the baselines module, which trains ensembles, is Node-only).
 * - report: histogram binning and the {@link RunSummary} data of a report (chart rendering stays Node-only while its
 *   module loads fonts from disk).
 * - util: {@link BayescompError}.
 *
 * A test bundles this file for the browser and checks that no `node:` module is imported.
 */
export * from './runtime/index.js';
export * from './util/errors.js';

export * from './data/dataset.js';
export * from './data/batches.js';
export * from './data/idx.js';
export * from './data/image-dataset-catalog.js';
export * from './data/splits.js';
export * from './data/standardize.js';

export * from './models/zoo.js';
export * from './models/model-json.js';
export * from './models/logits.js';
export * from './models/summary.js';

export * from './train/types.js';
export * from './train/map-objective.js';
export * from './train/optimizers.js';
export * from './train/lr-schedules.js';
export * from './train/validation-metrics.js';
export * from './train/step-loss-monitor.js';

export * from './variational/index.js';
// The layer classes register themselves with TF.js's serialization on import; naming them here keeps that side
// effect even while the variational barrel is being filled in.
export { BayesianDense, bayesianDense, type BayesianDenseArgs } from './variational/bayesianDense.js';
export { BayesianConv2D, bayesianConv2d, type BayesianConv2DArgs } from './variational/bayesianConv2d.js';
export {
  bayesianLayers,
  modelKl,
  setPredictionMode,
  sparsityReport,
  withPredictionMode,
} from './variational/modelLayers.js';

export * from './compress/index.js';

export * from './eval/metrics.js';
export * from './eval/predictive.js';
export * from './eval/stochastic-forward.js';
export * from './eval/evaluate.js';

export type {
  FitLaplaceOptions,
  LaplacePredictOptions,
  PriorOptimisationOptions,
} from './laplace/laplacePosterior.js';
export type { LaplaceData } from './laplace/laplaceData.js';
export type { LaplaceLikelihood, CurvatureType } from './laplace/likelihood.js';
export { resolveSubset, type WeightSubset, type SubnetworkStrategy } from './laplace/subset.js';
export {
  laplaceLayout,
  readParameters as readLaplaceParameters,
  type LaplaceLayer,
  type LaplaceLayout,
} from './laplace/model/laplaceLayers.js';
export { tappedForward, type TapOptions, type TapResult } from './laplace/model/tappedForward.js';
export {
  preactivationGradients,
  disposeQuantities,
  type CotangentFn,
  type LayerQuantities,
} from './laplace/model/preactivationGradients.js';
export { ggnCotangents, unitCotangents, lossGradientCotangents } from './laplace/likelihood.js';
export {
  layerJacobian,
  subsetJacobian,
  splitByLayer,
  type LayerSubset,
} from './laplace/curvature/layerJacobian.js';
export {
  emptyCurvature,
  accumulateCurvature,
  type Curvature,
  type HessianStructure,
} from './laplace/curvature/curvature.js';
export { accumulateFromBatches, type CurvatureState } from './laplace/curvature/curvatureFromBatches.js';
export type { KroneckerFactors, KroneckerCurvature } from './laplace/curvature/kroneckerCurvature.js';
export type { DiagonalCurvature } from './laplace/curvature/diagonalCurvature.js';
export type { FullCurvature } from './laplace/curvature/fullCurvature.js';
export type { PosteriorStructure } from './laplace/structures/posteriorStructure.js';
export { diagonalPosterior } from './laplace/structures/diagonalPosterior.js';
export { fullPosterior } from './laplace/structures/fullPosterior.js';
export {
  kroneckerPosterior,
  kroneckerEigen,
  type KroneckerPrior,
} from './laplace/structures/kroneckerPosterior.js';
export { probitSoftmax, monteCarloSoftmax } from './laplace/predictive/outputSamplers.js';
export { sampledNetworkLogits } from './laplace/predictive/sampledNetworks.js';
export { laplaceLogMarginalLikelihood } from './laplace/marginalLikelihood.js';
export {
  laplacePruningScores,
  pruningMask,
  obsUpdate,
  layerMasks,
  type LaplacePruningScores,
  type PruningRule,
} from './laplace/pruning.js';
export { encodeLaplaceState, decodeLaplaceState, type LaplaceState } from './laplace/serialization.js';

export * from './report/histogram.js';
export * from './report/run-summary.js';
