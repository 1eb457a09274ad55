/**
 * Calibration: how well confidence matches accuracy (Guo et al. 2017, "On Calibration of Modern Neural Networks",
 * §2 eqs. 2–3; Naeini et al. 2015 for ECE).
 */
import { BayescompError } from '../util/errors.js';
import { argmaxRow, checkLabels, classCountOf } from './shapes.js';

/** One equal-width confidence bin of a reliability diagram. */
export interface ReliabilityBin {
  /** Lower edge (exclusive, except 0 for the first bin). */
  readonly lower: number;
  /** Upper edge (inclusive). */
  readonly upper: number;
  /** Examples whose confidence falls in the bin. */
  readonly count: number;
  /** Mean confidence of those examples (NaN for an empty bin, null once serialised to JSON). */
  readonly confidence: number;
  /** Fraction of them predicted correctly (NaN for an empty bin). */
  readonly accuracy: number;
}

function checkBins(bins: number): void {
  if (!(bins >= 1) || !Number.isInteger(bins)) {
    throw new BayescompError(
      'bad-config',
      `number of calibration bins must be a positive integer, got ${bins}`,
    );
  }
}

/**
 * The bin of a value in [0, 1] among `bins` equal-width bins, right-closed: bin b holds (b/B, (b+1)/B], and 0 goes
 * to the first bin (the convention of Guo et al. 2017 and of most ECE implementations).
 */
export function calibrationBinIndex(value: number, bins: number): number {
  const b = Math.ceil(value * bins) - 1;
  return b < 0 ? 0 : b >= bins ? bins - 1 : b;
}

/**
 * The reliability-diagram table: for `bins` equal-width bins of confidence maxₖ pᵢ,ₖ, the count, mean
 * confidence and accuracy of the examples in each (Guo et al. 2017, §2).
 */
export function reliabilityBins(probs: Float32Array, labels: Int32Array, bins = 15): ReliabilityBin[] {
  checkBins(bins);
  const c = classCountOf(probs, labels.length);
  const count = new Float64Array(bins);
  const confSum = new Float64Array(bins);
  const correct = new Float64Array(bins);
  for (let i = 0; i < labels.length; i++) {
    const k = argmaxRow(probs, i, c);
    const conf = probs[i * c + k];
    const b = calibrationBinIndex(conf, bins);
    count[b]++;
    confSum[b] += conf;
    if (k === labels[i]) correct[b]++;
  }
  return Array.from({ length: bins }, (_, b) => ({
    lower: b / bins,
    upper: (b + 1) / bins,
    count: count[b],
    confidence: count[b] > 0 ? confSum[b] / count[b] : Number.NaN,
    accuracy: count[b] > 0 ? correct[b] / count[b] : Number.NaN,
  }));
}

/** ECE from a reliability table: Σ_b (n_b / n) |acc_b − conf_b| (Guo et al. 2017, eq. 3). */
export function eceFromBins(table: readonly ReliabilityBin[]): number {
  let n = 0;
  let sum = 0;
  for (const bin of table) {
    if (bin.count === 0) continue;
    n += bin.count;
    sum += bin.count * Math.abs(bin.accuracy - bin.confidence);
  }
  return n > 0 ? sum / n : 0;
}

/**
 * Expected calibration error with `bins` equal-width confidence bins (15 by default, as in Guo et al. 2017 and
 * Laplace Redux): Σ_b (n_b / n) |acc_b − conf_b|, a fraction in [0, 1].
 */
export function expectedCalibrationError(probs: Float32Array, labels: Int32Array, bins = 15): number {
  return eceFromBins(reliabilityBins(probs, labels, bins));
}

/** Calibration of one class's probability, from {@link perClassCalibration}. */
export interface ClassCalibration {
  readonly classIndex: number;
  /** Examples of this class. */
  readonly support: number;
  /** Mean predicted probability of the class over all examples. */
  readonly meanProbability: number;
  /** Frequency of the class among the labels. */
  readonly frequency: number;
  /**
   * Class-wise calibration error: bins of pᵢ,ₖ over all examples, Σ_b (n_b / n) |freq_b(y = k) − mean_b(pᵢ,ₖ)|
   * (Kull et al. 2019, "Beyond temperature scaling", classwise-ECE for one class).
   */
  readonly ece: number;
}

/**
 * Calibration per class (Kull et al. 2019, §3): for each class k, how the predicted probability pᵢ,ₖ matches
 * the frequency of y = k, with equal-width bins over pᵢ,ₖ. The mean of the per-class `ece` is the classwise-ECE.
 */
export function perClassCalibration(probs: Float32Array, labels: Int32Array, bins = 15): ClassCalibration[] {
  checkBins(bins);
  const c = classCountOf(probs, labels.length);
  checkLabels(labels, c);
  const n = labels.length;
  const result: ClassCalibration[] = [];
  for (let k = 0; k < c; k++) {
    const count = new Float64Array(bins);
    const probSum = new Float64Array(bins);
    const hits = new Float64Array(bins);
    let total = 0;
    let support = 0;
    for (let i = 0; i < n; i++) {
      const p = probs[i * c + k];
      const b = calibrationBinIndex(p, bins);
      const isK = labels[i] === k ? 1 : 0;
      count[b]++;
      probSum[b] += p;
      hits[b] += isK;
      total += p;
      support += isK;
    }
    let ece = 0;
    for (let b = 0; b < bins; b++) if (count[b] > 0) ece += Math.abs(hits[b] - probSum[b]) / n;
    result.push({ classIndex: k, support, meanProbability: total / n, frequency: support / n, ece });
  }
  return result;
}

/** The mean of the per-class calibration errors (classwise-ECE, Kull et al. 2019). */
export function classwiseCalibrationError(probs: Float32Array, labels: Int32Array, bins = 15): number {
  const table = perClassCalibration(probs, labels, bins);
  return table.reduce((s, row) => s + row.ece, 0) / table.length;
}
