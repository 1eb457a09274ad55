/**
 * Variational Bayesian networks: posterior/prior families, Bayesian layers, objectives (ELBO, Rényi), conversion
 * from and to plain TF.js models, and predictions. See README.md in this folder.
 */
export * from './families/posteriorFamily.js';
export * from './families/gaussianPosterior.js';
export * from './families/logUniformPosterior.js';
export * from './families/groupNormalJeffreys.js';
export * from './families/groupHorseshoe.js';
export * from './families/vnqPosterior.js';
export {
  groupWeightMask,
  isGroupPosteriorFamily,
  type GroupAxisChoice,
  type GroupLayout,
  type GroupPosteriorFamily,
} from './families/groupStructure.js';
export { logNormalGammaKl, logNormalInverseGammaKl } from './families/logNormalKl.js';
export {
  VNQ_TAU,
  quantizingPriorKl,
  quantizingPriorKlPerWeight,
  vnqCodebookIndices,
  type QuantizingKlOptions,
} from './families/quantizingPrior.js';
export { gaussianKl, gaussianLogDensity } from './gaussianKl.js';
export {
  LOG_ALPHA_CLIP,
  SPARSE_VD_KL_CONSTANTS,
  logUniformKl,
  logUniformKlScalar,
  sparseLogAlpha,
} from './logUniformKl.js';
export { noiseSource, randomSigns, standardNormal, withNoiseSource } from './noise.js';
export { fillZigguratNormal } from './zigguratNormal.js';
export { sparseVdKl } from './sparseVdKl.js';
export {
  LRT_VARIANCE_EPSILON,
  localReparameterisedDense,
  type LocalReparameterisedDenseInputs,
} from './localReparameterisation.js';
export {
  BayesianLayer,
  type BayesianLayerArgs,
  type BaseLayerArgs,
  type PredictionMode,
  type Reparameterisation,
  type WeightSample,
} from './bayesianLayer.js';
export { BayesianDense, bayesianDense, type BayesianDenseArgs } from './bayesianDense.js';
export { BayesianConv2D, bayesianConv2d, type BayesianConv2DArgs } from './bayesianConv2d.js';
export {
  bayesianLayers,
  modelKl,
  modelKlPart,
  setPredictionMode,
  setReparameterisation,
  sparsityReport,
  updatePriors,
  withPredictionMode,
  type BayesianLayerSparsity,
  type BayesianSparsityReport,
} from './modelLayers.js';
export * from './objectives/klWeightSchedules.js';
export { elboObjective, type ElboObjectiveOptions } from './objectives/elboObjective.js';
export { renyiObjective, type RenyiObjectiveOptions } from './objectives/renyiObjective.js';
export { renyiBound, stopGradient, type RenyiBoundTerms } from './objectives/renyiBound.js';
export type { VariationalLikelihood } from './objectives/likelihood.js';
export {
  toBayesian,
  toDeterministic,
  type ToBayesianOptions,
  type ToDeterministicOptions,
} from './conversion.js';
export {
  bayesianPredictive,
  predictMonteCarlo,
  predictPosteriorMean,
  type MonteCarloPrediction,
  type MonteCarloPredictionOptions,
} from './prediction.js';
