/**
 * Laplace approximations for trained TF.js networks (Ritter et al. 2018; Daxberger et al. 2021; Immer et al. 2021).
 *
 * - Fitting and using a posterior: {@link fitLaplace}, {@link LaplacePosterior} (predictive, evidence, prior
 *   precision, sampling, sequential updates, save/load, pruning scores).
 * - Which weights: {@link WeightSubset} (all, last layer, layers by name, indices, subnetwork strategies).
 * - How curvature is computed: per-layer inputs and pre-activation gradients (`preactivationGradients`; for chain
 *   models one forward pass and a hand-written backward pass, `chainPreactivationGradients`), GGN and empirical
 *   Fisher in diagonal, Kronecker and full form (`accumulateFromBatches`).
 * - How it is stored and inverted: `diagonalPosterior`, `kroneckerPosterior`, `fullPosterior`.
 * - How predictions use it: `probitSoftmax`, `monteCarloSoftmax`, `sampledNetworkLogits`.
 * - Pruning from the marginals: `laplacePruningScores`, `pruningMask`, `obsUpdate`, `layerMasks`; the scalable
 *   Optimal-Brain-Surgeon update of the kept weights for Kronecker/diagonal/full posteriors: `laplaceObsUpdate`,
 *   `kroneckerLayerObs`.
 */
export {
  fitLaplace,
  LaplacePosterior,
  type FitLaplaceOptions,
  type LaplacePredictOptions,
  type PriorOptimisationOptions,
} from './laplacePosterior.js';
export type { LaplaceData } from './laplaceData.js';
export type { LaplaceLikelihood, CurvatureType } from './likelihood.js';
export { resolveSubset, type WeightSubset, type SubnetworkStrategy } from './subset.js';
export {
  laplaceLayout,
  readParameters as readLaplaceParameters,
  type LaplaceLayer,
  type LaplaceLayout,
} from './model/laplaceLayers.js';
export { tappedForward, type TapOptions, type TapResult } from './model/tappedForward.js';
export {
  preactivationGradients,
  disposeQuantities,
  type CotangentFn,
  type LayerQuantities,
  type PullbackMethod,
} from './model/preactivationGradients.js';
export { chainPlan, chainPreactivationGradients, type ChainPlan } from './model/chainPullback.js';
export { ggnCotangents, unitCotangents, lossGradientCotangents } from './likelihood.js';
export { layerJacobian, subsetJacobian, splitByLayer, type LayerSubset } from './curvature/layerJacobian.js';
export {
  emptyCurvature,
  accumulateCurvature,
  finishCurvature,
  type Curvature,
  type HessianStructure,
} from './curvature/curvature.js';
export { accumulateFromBatches, type CurvatureState } from './curvature/curvatureFromBatches.js';
export type { KroneckerFactors, KroneckerCurvature } from './curvature/kroneckerCurvature.js';
export type { DiagonalCurvature } from './curvature/diagonalCurvature.js';
export type { FullCurvature } from './curvature/fullCurvature.js';
export type { PosteriorStructure } from './structures/posteriorStructure.js';
export { diagonalPosterior } from './structures/diagonalPosterior.js';
export { fullPosterior } from './structures/fullPosterior.js';
export {
  kroneckerPosterior,
  kroneckerEigen,
  type KroneckerEigen,
  type KroneckerPrior,
} from './structures/kroneckerPosterior.js';
export type { LaplaceState } from './serialization.js';
export { probitSoftmax, probitSoftmaxFromVariance, monteCarloSoftmax } from './predictive/outputSamplers.js';
export { layerBasisCovariance, layerBasisVariance } from './structures/layerBasisCovariance.js';
export { sampledNetworkLogits } from './predictive/sampledNetworks.js';
export { laplaceLogMarginalLikelihood } from './marginalLikelihood.js';
export {
  laplacePruningScores,
  pruningMask,
  obsUpdate,
  layerMasks,
  type LaplacePruningScores,
  type PruningRule,
} from './pruning.js';
export {
  kroneckerLayerObs,
  kroneckerPrecisionLayers,
  kroneckerPrecisionTimes,
  laplaceObsUpdate,
  laplaceObsPrune,
  obsSparsitySchedule,
  type ObsPruneOptions,
  type KroneckerObsLayerResult,
  type KroneckerObsOptions,
  type KroneckerPrecisionLayer,
} from './kroneckerObs.js';
export {
  checkFullCovarianceSize,
  DEFAULT_MAX_FULL_COVARIANCE_BYTES,
  fullCovarianceBytes,
} from './fullCovarianceLimit.js';
