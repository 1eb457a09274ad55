import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import type { Dataset } from '../../src/data/dataset.js';
import { fitLaplace } from '../../src/laplace/index.js';
import { mlp } from '../../src/models/zoo.js';
import { initBackend } from '../../src/runtime/backend.js';
import { Random } from '../../src/runtime/random.js';
import { toBayesian } from '../../src/variational/conversion.js';
import { logUniformFamily } from '../../src/variational/families/logUniformPosterior.js';
import { bayesianPredictive } from '../../src/variational/prediction.js';

/**
 * Resource limits: Monte-Carlo prediction and curvature accumulation stream the data in batches, so the backend
 * memory they need does not depend on the dataset size. Measured with `tf.profile`'s peak bytes for a dataset and
 * one ten times larger: the peaks must agree (the results themselves are returned as JavaScript arrays or are
 * fixed-size curvature factors).
 */

function blobs(n: number, seed: number): Dataset {
  const random = new Random(seed);
  const x = new Float32Array(n * 16);
  const y = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    y[i] = i % 3;
    for (let j = 0; j < 16; j++) x[i * 16 + j] = random.normal() + (j % 3 === y[i] ? 2 : 0);
  }
  return { x, y, n, featureShape: [16], numClasses: 3 };
}

async function peakBytes(work: () => unknown): Promise<{ peak: number; leftTensors: number }> {
  const before = tf.memory().numTensors;
  const info = await tf.profile(async () => {
    await work();
  });
  return { peak: info.peakBytes - tf.memory().numBytes, leftTensors: tf.memory().numTensors - before };
}

describe('bounded memory for any dataset size', () => {
  beforeAll(async () => {
    await initBackend();
  });

  it('Monte-Carlo prediction (S = 10, batches of 50): the same peak backend memory for 400 and 4000 examples', async () => {
    const model = toBayesian(mlp({ inputShape: [16], hiddenUnits: [32], numClasses: 3, seed: 1 }), {
      family: logUniformFamily(),
    });
    const predictive = bayesianPredictive(model, { samples: 10, batchSize: 50, random: new Random(1) });
    const small = blobs(400, 1);
    const large = blobs(4000, 2);
    const a = await peakBytes(() => predictive.predict(small, { keepSamples: false }));
    const b = await peakBytes(() => predictive.predict(large, { keepSamples: false }));
    expect(a.leftTensors).toBe(0);
    expect(b.leftTensors).toBe(0);
    // One batch's 10 samples of [50, 3] probabilities and the layer activations: tens of kilobytes, not n-sized.
    expect(a.peak).toBeGreaterThan(0);
    expect(a.peak).toBeLessThan(1e6);
    expect(Math.abs(b.peak - a.peak)).toBeLessThanOrEqual(0.05 * a.peak);
    console.log(`MC prediction peak backend bytes: ${a.peak} (n = 400), ${b.peak} (n = 4000)`);
    model.dispose();
  });

  it('Kronecker curvature accumulation (batches of 50): the same peak backend memory for 500 and 5000 examples', async () => {
    const model = mlp({ inputShape: [16], hiddenUnits: [32], numClasses: 3, seed: 2 });
    const small = blobs(500, 3);
    const large = blobs(5000, 4);
    const fit = (data: Dataset) => () =>
      fitLaplace(model, data, { hessian: 'kron', batchSize: 50 }).dispose();
    const a = await peakBytes(fit(small));
    const b = await peakBytes(fit(large));
    expect(a.leftTensors).toBe(0);
    expect(b.leftTensors).toBe(0);
    expect(a.peak).toBeGreaterThan(0);
    expect(Math.abs(b.peak - a.peak)).toBeLessThanOrEqual(0.05 * a.peak);
    console.log(`KFAC curvature peak backend bytes: ${a.peak} (n = 500), ${b.peak} (n = 5000)`);
    model.dispose();
  });
});
