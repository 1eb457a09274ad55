import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import type { Dataset } from '../data/dataset.js';
import { initBackend } from '../runtime/backend.js';
import { Random } from '../runtime/random.js';
import { trainEnsemble } from './baselines.js';
import { evaluatePredictive } from './evaluate.js';

beforeAll(async () => {
  await initBackend();
});

/** Three Gaussian blobs in 2-D, well separated (a linear classifier reaches ~100%). */
function blobs(n: number, seed: number): Dataset {
  const random = new Random(seed);
  const centres = [
    [3, 0],
    [-3, 0],
    [0, 3],
  ];
  const x = new Float32Array(n * 2);
  const y = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    y[i] = i % 3;
    x[2 * i] = centres[y[i]][0] + 0.7 * random.normal();
    x[2 * i + 1] = centres[y[i]][1] + 0.7 * random.normal();
  }
  return { x, y, n, featureShape: [2], numClasses: 3 };
}

function build(seed: number): tf.LayersModel {
  return tf.sequential({
    layers: [
      tf.layers.dense({
        units: 8,
        activation: 'relu',
        inputShape: [2],
        kernelInitializer: tf.initializers.glorotUniform({ seed }),
      }),
      tf.layers.dense({ units: 3, kernelInitializer: tf.initializers.glorotUniform({ seed: seed + 1 }) }),
    ],
  });
}

describe('trainEnsemble', () => {
  it('trains M differently seeded members whose ensemble predictive sums to 1 and fits the data', async () => {
    const data = blobs(150, 1);
    const test = blobs(90, 2);
    const options = {
      members: 3,
      seed: 5,
      epochs: 15,
      batchSize: 30,
      optimizer: { name: 'adam' as const, learningRate: 0.03 },
      progress: 'none' as const,
    };
    const ensemble = await trainEnsemble(build, data, options);
    expect(ensemble.models).toHaveLength(3);
    expect(new Set(ensemble.seeds).size).toBe(3);
    expect(ensemble.results.every((r) => r.epochsCompleted === 15)).toBe(true);
    const out = await ensemble.predictive.predict(test);
    expect(out.numSamples).toBe(3);
    for (let i = 0; i < test.n; i++) {
      expect(Math.abs(out.probs[3 * i] + out.probs[3 * i + 1] + out.probs[3 * i + 2] - 1)).toBeLessThan(1e-5);
    }
    // Members start from different weights, so they end in different places.
    const w0 = ensemble.models[0].getWeights()[0].dataSync();
    const w1 = ensemble.models[1].getWeights()[0].dataSync();
    expect(Array.from(w0)).not.toEqual(Array.from(w1));
    const metrics = await evaluatePredictive(ensemble.predictive, test);
    expect(metrics.accuracy).toBeGreaterThan(0.95);
    expect(metrics.mean_mi).toBeGreaterThanOrEqual(0);

    // Same seed, same ensemble.
    const again = await trainEnsemble(build, data, options);
    const outAgain = await again.predictive.predict(test);
    expect(Array.from(outAgain.probs)).toEqual(Array.from(out.probs));
    [...ensemble.models, ...again.models].forEach((m) => m.dispose());
  });
});
