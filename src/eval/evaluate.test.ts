import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import type { Dataset } from '../data/dataset.js';
import { initBackend } from '../runtime/backend.js';
import { evaluatePredictive, evaluatePredictiveWithScores } from './evaluate.js';
import {
  auroc,
  brierScore,
  classwiseCalibrationError,
  expectedCalibrationError,
  fprAtTpr,
  mutualInformation,
  negativeLogLikelihood,
  predictiveEntropy,
} from './metrics.js';
import { createPredictive, deterministicPredictive, monteCarloPredictive } from './predictive.js';

beforeAll(async () => {
  await initBackend();
});

/**
 * A "model" that reads its probabilities from the input: each example's features are its own predictive
 * probabilities (for a deterministic predictive, the logits are their logarithms).
 */
function dataFromProbs(rows: number[][], labels: number[]): Dataset {
  return {
    x: Float32Array.from(rows.flat()),
    y: Int32Array.from(labels),
    n: rows.length,
    featureShape: [rows[0].length],
    numClasses: rows[0].length,
    source: 'hand-made',
  };
}

const testRows = [
  [0.9, 0.05, 0.05],
  [0.62, 0.28, 0.1],
  [0.2, 0.7, 0.1],
  [0.1, 0.08, 0.82],
  [0.41, 0.34, 0.25],
  [0.05, 0.9, 0.05],
];
// Confidences avoid the bin edges (multiples of 0.2), where float32 rounding of the softmax could flip the bin.
const testLabels = [0, 1, 1, 2, 2, 1];
const oodRows = [
  [0.4, 0.3, 0.3],
  [0.5, 0.45, 0.05],
  [0.34, 0.33, 0.33],
];

describe('evaluatePredictive', () => {
  it('matches the metric functions on the same probabilities, with OOD figures', async () => {
    const test = dataFromProbs(testRows, testLabels);
    const ood = dataFromProbs(oodRows, [0, 0, 0]);
    const predictive = deterministicPredictive((x) => tf.log(x), { name: 'hand' });
    const m = await evaluatePredictive(predictive, test, { oodData: ood, bins: 5, batchSize: 4 });
    const probs = test.x;
    const labels = test.y as Int32Array;
    expect(m.method).toBe('hand');
    expect(m.n).toBe(6);
    expect(m.accuracy).toBeCloseTo(4 / 6, 12);
    expect(m.nll).toBeCloseTo(negativeLogLikelihood(probs, labels), 5);
    expect(m.brier).toBeCloseTo(brierScore(probs, labels), 5);
    expect(m.ece).toBeCloseTo(expectedCalibrationError(probs, labels, 5), 5);
    expect(m.reliability).toHaveLength(5);
    expect(m.classwise_ece).toBeCloseTo(classwiseCalibrationError(probs, labels, 5), 5);
    expect(m.numSamples).toBeUndefined();
    expect(m.mean_mi).toBeUndefined();
    const inMax = testRows.map((r) => Math.max(...r));
    const outMax = oodRows.map((r) => Math.max(...r));
    expect(m.ood?.auroc_maxprob).toBeCloseTo(auroc(inMax, outMax), 5);
    expect(m.ood?.fpr95_maxprob).toBeCloseTo(fprAtTpr(inMax, outMax), 12);
    const inEnt = Array.from(predictiveEntropy(Float32Array.from(testRows.flat()), 3));
    const outEnt = Array.from(predictiveEntropy(Float32Array.from(oodRows.flat()), 3));
    expect(m.ood?.auroc_entropy).toBeCloseTo(auroc(outEnt, inEnt), 5);
    expect(m.ood?.auroc_mi).toBeUndefined();
    // JSON-serialisable: NaN confidences of empty bins become null, nothing else is lost.
    const round = JSON.parse(JSON.stringify(m));
    expect(round.accuracy).toBe(m.accuracy);
    expect(round.ood.auroc_maxprob).toBe(m.ood?.auroc_maxprob);
  });

  it('reports mutual information for a Monte-Carlo predictive', async () => {
    const test = dataFromProbs(testRows, testLabels);
    const ood = dataFromProbs(oodRows, [0, 0, 0]);
    // Two "samples": the probabilities themselves and a one-hot at class 0; the mean is their average.
    let k = 0;
    const predictive = monteCarloPredictive(
      (x) => (k++ % 2 === 0 ? tf.log(x) : tf.mul(tf.oneHot(tf.zeros([x.shape[0]], 'int32'), 3), 50)),
      { samples: 2, name: 'two-sample' },
    );
    const { metrics, scores } = await evaluatePredictiveWithScores(predictive, test, {
      oodData: ood,
      bins: 10,
    });
    expect(metrics.numSamples).toBe(2);
    const samples = new Float32Array(2 * 6 * 3);
    samples.set(testRows.flat());
    for (let i = 0; i < 6; i++) samples[18 + 3 * i] = 1;
    const mi = mutualInformation(samples, 2, 3);
    for (let i = 0; i < 6; i++) expect(scores.inDistribution.mutualInformation?.[i]).toBeCloseTo(mi[i], 5);
    expect(metrics.mean_mi).toBeGreaterThan(0);
    expect(metrics.ood?.auroc_mi).toBeDefined();
    expect(metrics.ood?.fpr95_mi).toBeDefined();
  });

  it('rejects unlabelled data and a class-count mismatch', async () => {
    const regression: Dataset = { x: new Float32Array(4), y: new Float32Array(2), n: 2, featureShape: [2] };
    const p = deterministicPredictive((x) => x);
    await expect(evaluatePredictive(p, regression)).rejects.toThrow(/class labels/);
    const test = dataFromProbs(testRows, testLabels);
    const twoClass = createPredictive((x) => ({ probs: tf.softmax(tf.slice(x, [0, 0], [-1, 2])) }));
    await expect(evaluatePredictive(twoClass, test)).rejects.toThrow(/2 classes/);
  });
});
