import { describe, expect, it } from 'vitest';
import { Random } from '../runtime/random.js';
import {
  accuracy,
  auroc,
  calibrationBinIndex,
  brierScore,
  classwiseCalibrationError,
  expectedCalibrationError,
  expectedEntropy,
  fprAtTpr,
  gaussianNll,
  intervalCoverage,
  maxProbability,
  meanOverSamples,
  mutualInformation,
  negativeLogLikelihood,
  normalQuantile,
  oodDetectionMetrics,
  perClassCalibration,
  predictiveEntropy,
  reliabilityBins,
  regressionMetrics,
  rmse,
  uncertaintyDecomposition,
} from './metrics.js';

const f32 = (rows: number[][]) => Float32Array.from(rows.flat());

describe('classification metrics', () => {
  // Predictions: 0 (right), 1 (wrong), 2 (right), 0 by the first-maximum tie rule (wrong).
  const probs = f32([
    [0.7, 0.2, 0.1],
    [0.1, 0.6, 0.3],
    [0.3, 0.3, 0.4],
    [0.5, 0.5, 0.0],
  ]);
  const labels = Int32Array.from([0, 2, 2, 1]);

  it('accuracy counts the first maximum on ties', () => {
    expect(accuracy(probs, labels)).toBe(0.5);
  });

  it('NLL is the mean of −log p(label)', () => {
    const expected = -(Math.log(0.7) + Math.log(0.3) + Math.log(0.4) + Math.log(0.5)) / 4;
    expect(negativeLogLikelihood(probs, labels)).toBeCloseTo(expected, 6);
  });

  it('NLL floors a zero probability at 1e-12', () => {
    expect(negativeLogLikelihood(f32([[1, 0]]), Int32Array.from([1]))).toBeCloseTo(-Math.log(1e-12), 9);
    expect(negativeLogLikelihood(f32([[1, 0]]), Int32Array.from([1]), 1e-3)).toBeCloseTo(-Math.log(1e-3), 9);
  });

  it('Brier score sums squared errors over classes: (0.14 + 0.86 + 0.54 + 0.5) / 4', () => {
    expect(brierScore(probs, labels)).toBeCloseTo(0.51, 6);
  });

  it('rejects mismatched shapes and out-of-range labels', () => {
    expect(() => accuracy(Float32Array.from([0.5, 0.5, 1]), Int32Array.from([0, 1]))).toThrow(/multiple/);
    expect(() => negativeLogLikelihood(probs, Int32Array.from([0, 1, 2, 3]))).toThrow(/outside/);
  });

  it('maxProbability returns the confidence of each row', () => {
    expect(Array.from(maxProbability(probs, 3))).toEqual(Array.from(Float32Array.from([0.7, 0.6, 0.4, 0.5])));
  });
});

describe('calibration', () => {
  // Confidences .9 ✓, .85 ✗, .7 ✓, .55 ✗, .95 ✓ in 5 bins of width 0.2:
  // (0.8,1]: 3 examples, conf 0.9, acc 2/3; (0.6,0.8]: conf .7, acc 1; (0.4,0.6]: conf .55, acc 0.
  // ECE = 3/5·|2/3 − 0.9| + 1/5·0.3 + 1/5·0.55 = 0.14 + 0.06 + 0.11 = 0.31.
  const probs = f32([
    [0.9, 0.1],
    [0.85, 0.15],
    [0.3, 0.7],
    [0.45, 0.55],
    [0.95, 0.05],
  ]);
  const labels = Int32Array.from([0, 1, 1, 0, 0]);

  it('bins are right-closed with 0 in the first bin', () => {
    expect(calibrationBinIndex(0, 5)).toBe(0);
    expect(calibrationBinIndex(0.2, 5)).toBe(0);
    expect(calibrationBinIndex(0.2000001, 5)).toBe(1);
    expect(calibrationBinIndex(0.6, 5)).toBe(2);
    expect(calibrationBinIndex(1, 5)).toBe(4);
  });

  it('reliability table matches the hand count', () => {
    const table = reliabilityBins(probs, labels, 5);
    expect(table.map((b) => b.count)).toEqual([0, 0, 1, 1, 3]);
    expect(table[4].confidence).toBeCloseTo(0.9, 6);
    expect(table[4].accuracy).toBeCloseTo(2 / 3, 12);
    expect(table[3].accuracy).toBe(1);
    expect(table[2].accuracy).toBe(0);
    expect(Number.isNaN(table[0].confidence)).toBe(true);
    expect(table[1].lower).toBeCloseTo(0.2, 12);
    expect(table[1].upper).toBeCloseTo(0.4, 12);
  });

  it('ECE equals the hand-computed 0.31', () => {
    expect(expectedCalibrationError(probs, labels, 5)).toBeCloseTo(0.31, 6);
  });

  it('ECE is 0 for a perfectly calibrated predictor and |acc − conf| with one bin', () => {
    // Confidence 0.75 on four examples, three right.
    const p = f32([
      [0.75, 0.25],
      [0.75, 0.25],
      [0.75, 0.25],
      [0.25, 0.75],
    ]);
    expect(expectedCalibrationError(p, Int32Array.from([0, 0, 1, 1]), 10)).toBeCloseTo(0, 7);
    expect(expectedCalibrationError(probs, labels, 1)).toBeCloseTo(
      Math.abs(3 / 5 - (0.9 + 0.85 + 0.7 + 0.55 + 0.95) / 5),
      6,
    );
  });

  it('per-class calibration matches the hand count (0.31 for both classes of this binary case)', () => {
    const table = perClassCalibration(probs, labels, 5);
    expect(table.map((r) => r.support)).toEqual([3, 2]);
    expect(table[0].meanProbability).toBeCloseTo(0.69, 6);
    expect(table[0].frequency).toBeCloseTo(0.6, 12);
    expect(table[0].ece).toBeCloseTo(0.31, 6);
    expect(table[1].ece).toBeCloseTo(0.31, 6);
    expect(classwiseCalibrationError(probs, labels, 5)).toBeCloseTo(0.31, 6);
  });

  it('rejects a non-integer bin count', () => {
    expect(() => expectedCalibrationError(probs, labels, 2.5)).toThrow(/bins/);
  });
});

describe('uncertainty from Monte-Carlo samples', () => {
  it('entropy of uniform and one-hot rows', () => {
    const h = predictiveEntropy(
      f32([
        [0.5, 0.5, 0, 0],
        [1, 0, 0, 0],
        [0.25, 0.25, 0.25, 0.25],
      ]),
      4,
    );
    expect(h[0]).toBeCloseTo(Math.LN2, 7);
    expect(h[1]).toBe(0);
    expect(h[2]).toBeCloseTo(Math.log(4), 7);
  });

  it('two disagreeing one-hot samples: MI = ln 2, expected entropy 0', () => {
    // S=2, n=1, C=2.
    const samples = Float32Array.from([1, 0, 0, 1]);
    expect(mutualInformation(samples, 2, 2)[0]).toBeCloseTo(Math.LN2, 12);
    expect(expectedEntropy(samples, 2, 2)[0]).toBe(0);
    expect(Array.from(meanOverSamples(samples, 2, 2))).toEqual([0.5, 0.5]);
  });

  it('MI is exactly 0 for identical samples and non-negative, ≤ ln C, additive otherwise', () => {
    const random = new Random(7);
    const S = 5;
    const n = 40;
    const C = 3;
    const row = () => {
      const v = [random.uniform() ** 3, random.uniform(), random.uniform()];
      const s = v[0] + v[1] + v[2];
      return v.map((x) => x / s);
    };
    const one = Array.from({ length: n }, row).flat();
    const identical = Float32Array.from(Array.from({ length: S }, () => one).flat());
    expect(Array.from(mutualInformation(identical, S, C)).every((m) => m === 0)).toBe(true);

    const varied = Float32Array.from(Array.from({ length: S * n }, row).flat());
    const d = uncertaintyDecomposition(varied, S, C);
    for (let i = 0; i < n; i++) {
      expect(d.mutualInformation[i]).toBeGreaterThanOrEqual(0);
      expect(d.mutualInformation[i]).toBeLessThanOrEqual(Math.log(C));
      expect(d.total[i]).toBeCloseTo(d.aleatoric[i] + d.mutualInformation[i], 12);
    }
    expect(Math.max(...d.mutualInformation)).toBeGreaterThan(0.01);
  });

  it('sample layout is S×n×C: example i of sample s at (s·n + i)·C', () => {
    // S=2, n=2, C=2: example 0 agrees ([1,0] twice), example 1 disagrees.
    const samples = Float32Array.from([1, 0, 1, 0, /* s=1 */ 1, 0, 0, 1]);
    const mi = mutualInformation(samples, 2, 2);
    expect(mi[0]).toBe(0);
    expect(mi[1]).toBeCloseTo(Math.LN2, 12);
  });
});

/** AUROC as the pairwise count: P(s⁺ > s⁻) + ½ P(s⁺ = s⁻). */
function pairwiseAuroc(pos: number[], neg: number[]): number {
  let s = 0;
  for (const p of pos) for (const q of neg) s += p > q ? 1 : p === q ? 0.5 : 0;
  return s / (pos.length * neg.length);
}

/** The smallest FPR over every threshold whose TPR (score ≥ t) reaches `tpr`. */
function bruteForceFpr(pos: number[], neg: number[], tpr: number): number {
  let best = Infinity;
  for (const t of [...pos, ...neg, Infinity, -Infinity]) {
    const tp = pos.filter((p) => p >= t).length / pos.length;
    const fp = neg.filter((q) => q >= t).length / neg.length;
    if (tp >= tpr - 1e-12) best = Math.min(best, fp);
  }
  return best;
}

describe('OOD detection', () => {
  it('AUROC with ties by hand: positives [3,2,2], negatives [2,1] → 5/6', () => {
    expect(auroc([3, 2, 2], [2, 1])).toBeCloseTo(5 / 6, 12);
    expect(auroc([1, 1], [1, 1, 1])).toBe(0.5);
    expect(auroc([2, 3], [0, 1])).toBe(1);
    expect(auroc([0, 1], [2, 3])).toBe(0);
  });

  it('AUROC equals the brute-force pairwise count on heavily tied random scores', () => {
    const random = new Random(11);
    for (let trial = 0; trial < 20; trial++) {
      const pos = Array.from({ length: 1 + random.int(30) }, () => random.int(5));
      const neg = Array.from({ length: 1 + random.int(30) }, () => random.int(5) - 1);
      expect(auroc(pos, neg)).toBeCloseTo(pairwiseAuroc(pos, neg), 12);
    }
  });

  it('FPR at 95% TPR by hand: 20 positives 1..20 keep threshold 2, so 3 of 6 negatives pass', () => {
    const pos = Array.from({ length: 20 }, (_, i) => i + 1);
    expect(fprAtTpr(pos, [0.5, 1, 1.5, 2, 10, 25])).toBe(0.5);
    expect(fprAtTpr(pos, [0.5, 1, 1.5])).toBe(0);
    // With 10 positives, 95% needs all 10: threshold 1, so 1 and 1.5 and up pass.
    expect(fprAtTpr([1, 2, 3, 4, 5, 6, 7, 8, 9, 10], [0.5, 1, 1.5, 20])).toBe(0.75);
  });

  it('FPR at 95% TPR equals a brute-force threshold scan, ties included', () => {
    const random = new Random(3);
    for (let trial = 0; trial < 20; trial++) {
      const pos = Array.from({ length: 1 + random.int(60) }, () => random.int(6));
      const neg = Array.from({ length: 1 + random.int(60) }, () => random.int(6) - 2);
      for (const tpr of [0.5, 0.9, 0.95, 1])
        expect(fprAtTpr(pos, neg, tpr)).toBe(bruteForceFpr(pos, neg, tpr));
    }
  });

  it('in-distribution is positive for every score; entropy and MI are negated', () => {
    const inScores = {
      maxProbability: Float64Array.from([0.9, 0.8, 0.95, 0.7]),
      entropy: Float64Array.from([0.1, 0.3, 0.05, 0.5]),
      mutualInformation: Float64Array.from([0.01, 0.02, 0.0, 0.2]),
    };
    const outScores = {
      maxProbability: Float64Array.from([0.6, 0.75, 0.5]),
      entropy: Float64Array.from([0.6, 0.4, 0.7]),
      mutualInformation: Float64Array.from([0.3, 0.1, 0.25]),
    };
    const m = oodDetectionMetrics(inScores, outScores);
    expect(m.auroc_maxprob).toBeCloseTo(pairwiseAuroc([0.9, 0.8, 0.95, 0.7], [0.6, 0.75, 0.5]), 12);
    // Same as OOD-positive with entropy as the score.
    expect(m.auroc_entropy).toBeCloseTo(pairwiseAuroc([0.6, 0.4, 0.7], [0.1, 0.3, 0.05, 0.5]), 12);
    expect(m.auroc_entropy).toBeCloseTo(11 / 12, 12);
    expect(m.auroc_mi).toBeCloseTo(pairwiseAuroc([0.3, 0.1, 0.25], [0.01, 0.02, 0, 0.2]), 12);
    // 95% of 4 in-distribution examples = all 4; the lowest confidence 0.7 lets 0.75 through.
    expect(m.fpr95_maxprob).toBeCloseTo(1 / 3, 12);
    // Entropy threshold 0.5 (negated −0.5): OOD entropies ≤ 0.5 are accepted: only 0.4.
    expect(m.fpr95_entropy).toBeCloseTo(1 / 3, 12);
    expect(m.fpr95_mi).toBeCloseTo(1 / 3, 12);
    expect(m.n_in).toBe(4);
    expect(m.n_out).toBe(3);
    const noMi = oodDetectionMetrics(
      { maxProbability: inScores.maxProbability, entropy: inScores.entropy },
      outScores,
    );
    expect(noMi.auroc_mi).toBeUndefined();
  });
});

describe('regression metrics', () => {
  it('Gaussian NLL by hand', () => {
    expect(gaussianNll([0], [1], [0])).toBeCloseTo(0.5 * Math.log(2 * Math.PI), 12);
    expect(gaussianNll([0, 1], [1, 4], [0, 2])).toBeCloseTo(
      (0.5 * Math.log(2 * Math.PI) + 0.5 * (Math.log(8 * Math.PI) + 0.25)) / 2,
      12,
    );
    expect(() => gaussianNll([0], [0], [0])).toThrow(/variance/);
  });

  it('RMSE of errors 3 and 4 is √12.5', () => {
    expect(rmse([0, 0], [3, -4])).toBeCloseTo(Math.sqrt(12.5), 12);
  });

  it('normal quantile matches tabulated values', () => {
    expect(normalQuantile(0.975)).toBeCloseTo(1.959963984540054, 6);
    expect(normalQuantile(0.5)).toBeCloseTo(0, 9);
    expect(normalQuantile(0.95)).toBeCloseTo(1.6448536269514722, 6);
    expect(normalQuantile(0.001)).toBeCloseTo(-3.090232306167813, 5);
  });

  it('interval coverage counts targets inside μ ± zσ', () => {
    // σ = 2; 95% half-width 3.92, 50% half-width 1.349.
    const mean = [0, 0, 0, 0];
    const variance = [4, 4, 4, 4];
    const target = [0.5, 1.5, 3.5, 5];
    const [c50, c95] = intervalCoverage(mean, variance, target, [0.5, 0.95]);
    expect(c50.coverage).toBe(0.25);
    expect(c95.coverage).toBe(0.75);
    expect(c95.meanWidth).toBeCloseTo(4 * 1.959963984540054, 5);
  });

  it('regressionMetrics bundles NLL, RMSE and coverage', () => {
    const r = regressionMetrics([0, 0], [1, 1], [3, -4], [0.95]);
    expect(r.rmse).toBeCloseTo(Math.sqrt(12.5), 12);
    expect(r.nll).toBeCloseTo(0.5 * Math.log(2 * Math.PI) + 25 / 4, 12);
    expect(r.coverage[0].coverage).toBe(0);
    expect(r.n).toBe(2);
  });

  it('a calibrated Gaussian predictive covers its nominal levels', () => {
    const random = new Random(5);
    const n = 20000;
    const mean = Array.from({ length: n }, () => random.normal());
    const variance = Array.from({ length: n }, () => 0.5 + random.uniform());
    const target = mean.map((m, i) => m + Math.sqrt(variance[i]) * random.normal());
    for (const { level, coverage } of intervalCoverage(mean, variance, target, [0.5, 0.9, 0.95])) {
      expect(Math.abs(coverage - level)).toBeLessThan(0.015);
    }
  });
});
