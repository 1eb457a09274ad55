/**
 * Evaluation of a {@link Predictive} on a labelled test set and, optionally, an out-of-distribution set: the figures
 * of `bayescomp eval` and of every report's metrics table.
 */
import type { Dataset } from '../data/dataset.js';
import { isClassification } from '../data/dataset.js';
import { BayescompError } from '../util/errors.js';
import {
  type ReliabilityBin,
  classwiseCalibrationError,
  eceFromBins,
  reliabilityBins,
} from './calibration.js';
import { accuracy, brierScore, maxProbability, negativeLogLikelihood } from './classification-metrics.js';
import { type OodMetrics, type UncertaintyScores, oodDetectionMetrics } from './ood-detection.js';
import type { PredictOptions, Predictive, PredictiveOutput } from './predictive.js';
import { meanOf } from './shapes.js';
import { predictiveEntropy, uncertaintyDecomposition } from './uncertainty.js';

/** Options for {@link evaluatePredictive}. */
export interface EvaluateOptions {
  /** Out-of-distribution inputs (labels unused) for detection figures. */
  readonly oodData?: Dataset;
  /** Equal-width confidence bins of the ECE and reliability table. Default 15. */
  readonly bins?: number;
  /** Examples per forward pass. */
  readonly batchSize?: number;
}

/**
 * A predictive's test-set figures, plain JSON-serialisable data (`bayescomp eval --json` prints it, reports embed
 * it). Keys of the CLI contract: `accuracy`, `nll`, `ece`, `brier`, `n`, and `ood.auroc_maxprob`,
 * `ood.auroc_entropy`, `ood.auroc_mi`.
 */
export interface EvaluationMetrics {
  /** The predictive's name. */
  readonly method: string;
  readonly accuracy: number;
  /** Mean negative log-likelihood in nats. */
  readonly nll: number;
  /** Expected calibration error (fraction, not percent) with `bins` bins. */
  readonly ece: number;
  /** Multi-class Brier score (summed over classes). */
  readonly brier: number;
  /** Class-wise calibration error (Kull et al. 2019): the mean over classes of each class probability's ECE. */
  readonly classwise_ece: number;
  /** Test examples. */
  readonly n: number;
  readonly numClasses: number;
  readonly bins: number;
  /** Monte-Carlo samples or ensemble members behind each prediction (absent for a deterministic predictive). */
  readonly numSamples?: number;
  /** Mean predictive entropy on the test set, nats. */
  readonly mean_entropy: number;
  /** Mean mutual information on the test set (Monte-Carlo predictives), nats. */
  readonly mean_mi?: number;
  /** The reliability-diagram table (empty bins have null confidence/accuracy once serialised). */
  readonly reliability: ReliabilityBin[];
  /** OOD detection, when `oodData` was given. */
  readonly ood?: OodMetrics;
  /** Seconds spent predicting the test set (and OOD set). */
  readonly predict_seconds: number;
  /** Seconds spent predicting the test set alone. */
  readonly test_predict_seconds: number;
}

/** Per-example scores behind {@link EvaluationMetrics}, for histograms. */
export interface EvaluationScores {
  readonly inDistribution: UncertaintyScores;
  readonly outOfDistribution?: UncertaintyScores;
}

/** Uncertainty scores of one prediction: confidence, entropy, and mutual information when there are samples. */
export function uncertaintyScores(output: PredictiveOutput): UncertaintyScores {
  const maxProb = maxProbability(output.probs, output.numClasses);
  if (output.samples && output.numSamples) {
    const d = uncertaintyDecomposition(output.samples, output.numSamples, output.numClasses);
    return { maxProbability: maxProb, entropy: d.total, mutualInformation: d.mutualInformation };
  }
  return { maxProbability: maxProb, entropy: predictiveEntropy(output.probs, output.numClasses) };
}

/** {@link evaluatePredictive} that also returns the per-example uncertainty scores (for histograms). */
export async function evaluatePredictiveWithScores(
  predictive: Predictive,
  testData: Dataset,
  options: EvaluateOptions = {},
): Promise<{ metrics: EvaluationMetrics; scores: EvaluationScores }> {
  if (!isClassification(testData)) {
    throw new BayescompError(
      'bad-config',
      `${testData.source ?? 'test data'}: evaluation needs class labels`,
    );
  }
  const bins = options.bins ?? 15;
  const predictOptions: PredictOptions = { batchSize: options.batchSize };
  const start = performance.now();
  const out = await predictive.predict(testData, predictOptions);
  const testSeconds = (performance.now() - start) / 1000;
  if (out.numClasses !== testData.numClasses) {
    throw new BayescompError(
      'bad-shape',
      `${predictive.name} predicts ${out.numClasses} classes but ${testData.source ?? 'the test data'} has ${testData.numClasses}`,
    );
  }
  const oodOut = options.oodData ? await predictive.predict(options.oodData, predictOptions) : undefined;
  const seconds = (performance.now() - start) / 1000;

  const labels = testData.y;
  const reliability = reliabilityBins(out.probs, labels, bins);
  const inScores = uncertaintyScores(out);
  const outScores = oodOut ? uncertaintyScores(oodOut) : undefined;
  const metrics: EvaluationMetrics = {
    method: predictive.name,
    accuracy: accuracy(out.probs, labels),
    nll: negativeLogLikelihood(out.probs, labels),
    ece: eceFromBins(reliability),
    brier: brierScore(out.probs, labels),
    classwise_ece: classwiseCalibrationError(out.probs, labels, bins),
    n: out.n,
    numClasses: out.numClasses,
    bins,
    ...(out.numSamples ? { numSamples: out.numSamples } : {}),
    mean_entropy: meanOf(inScores.entropy),
    ...(inScores.mutualInformation ? { mean_mi: meanOf(inScores.mutualInformation) } : {}),
    reliability,
    ...(outScores ? { ood: oodDetectionMetrics(inScores, outScores) } : {}),
    predict_seconds: seconds,
    test_predict_seconds: testSeconds,
  };
  return { metrics, scores: { inDistribution: inScores, outOfDistribution: outScores } };
}

/**
 * Accuracy, NLL, ECE, Brier score, mean entropy (and mutual information for Monte-Carlo predictives) of
 * `predictive` on `testData`, with OOD detection AUROC and FPR@95 against `oodData` when given (in-distribution is
 * the positive class, see `ood-detection.ts`).
 */
export async function evaluatePredictive(
  predictive: Predictive,
  testData: Dataset,
  options: EvaluateOptions = {},
): Promise<EvaluationMetrics> {
  return (await evaluatePredictiveWithScores(predictive, testData, options)).metrics;
}
