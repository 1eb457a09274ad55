import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../runtime/backend.js';
import { BayesianDense } from './bayesianDense.js';
import { logUniformFamily } from './families/logUniformPosterior.js';
import { sparsityReport, withPredictionMode } from './modelLayers.js';

beforeAll(async () => {
  await initBackend();
});

describe('sparsityReport', () => {
  it('counts kernel weights with log α ≥ 3 per layer and in total', () => {
    const model = tf.sequential({
      layers: [
        new BayesianDense({ units: 2, inputShape: [2], family: logUniformFamily(), name: 'a' }),
        new BayesianDense({ units: 2, family: logUniformFamily(), name: 'b' }),
      ],
    });
    const [a, b] = model.layers as BayesianDense[];
    // log σ² = 0: log α = −log θ², so |θ| < e^(−1.5) ≈ 0.223 is pruned.
    a.family().initialise(
      tf.tensor2d([
        [1, 0.1],
        [0.3, 0.2],
      ]),
      0,
    );
    b.family().initialise(
      tf.tensor2d([
        [0.01, 0.01],
        [0.01, 5],
      ]),
      0,
    );
    const report = sparsityReport(model);
    expect(report.layers).toEqual([
      { name: 'a', pruned: 2, total: 4, fraction: 0.5 },
      { name: 'b', pruned: 3, total: 4, fraction: 0.75 },
    ]);
    expect(report.fraction).toBe(5 / 8);
    expect(report.compression).toBeCloseTo(8 / 3, 10);
    const x = tf.tensor2d([[1, 1]]);
    const y = withPredictionMode(model, 'pruned-mean', () => (model.predict(x) as tf.Tensor).dataSync());
    // Kept weights: a = [[1, 0], [0.3, 0]] → h = [1.3, 0]; b keeps only 5 (row 1, col 1) → [0, 0].
    expect(Array.from(y)).toEqual([0, 0]);
  });
});
