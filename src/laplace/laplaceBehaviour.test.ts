import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../runtime/backend.js';
import { Random } from '../runtime/random.js';
import { fitLaplace } from './laplacePosterior.js';

beforeAll(async () => {
  await initBackend();
});

/** Three Gaussian blobs in 2-D, 60 points each. */
function blobs(seed: number) {
  const r = new Random(seed);
  const centres = [
    [-2, 0],
    [2, 0],
    [0, 2.5],
  ];
  const x: number[] = [];
  const y: number[] = [];
  for (let i = 0; i < 180; i++) {
    const c = i % 3;
    x.push(centres[c][0] + 0.7 * r.normal(), centres[c][1] + 0.7 * r.normal());
    y.push(c);
  }
  return { x: tf.tensor2d(x, [180, 2]), y: tf.tensor1d(y, 'int32') };
}

describe('Laplace on a trained classifier', () => {
  it('keeps in-distribution predictions and is less confident than MAP far from the data', async () => {
    const model = tf.sequential({
      layers: [
        tf.layers.dense({
          inputShape: [2],
          units: 16,
          activation: 'tanh',
          kernelInitializer: tf.initializers.glorotNormal({ seed: 1 }),
        }),
        tf.layers.dense({
          units: 3,
          activation: 'softmax',
          kernelInitializer: tf.initializers.glorotNormal({ seed: 2 }),
        }),
      ],
    });
    const { x, y } = blobs(3);
    model.compile({ optimizer: tf.train.adam(0.05), loss: 'sparseCategoricalCrossentropy' });
    await model.fit(x, y.toFloat(), { epochs: 150, batchSize: 180, verbose: 0, shuffle: false });
    const far = tf.tensor2d([
      [12, -12],
      [-15, 10],
      [20, 20],
    ]);
    const map = (model.predict(far) as tf.Tensor2D).max(1).dataSync();
    const mapTrain = (model.predict(x) as tf.Tensor2D).argMax(1).dataSync();
    for (const subset of ['lastLayer', 'all'] as const) {
      const post = fitLaplace(model, { x, y }, { hessian: 'kron', subset });
      await post.optimizePriorPrecision();
      const la = post.predict(far).max(1).dataSync();
      // Figures (seeded): MAP 1.000/1.000/0.979 → last-layer KFAC 0.957/0.874/0.702, all-layer KFAC 0.653/0.789/0.723.
      let drop = 0;
      for (let i = 0; i < 3; i++) {
        expect(la[i]).toBeLessThan(map[i] - 0.02);
        drop += (map[i] - la[i]) / 3;
      }
      expect(drop).toBeGreaterThan(0.1);
      const laTrain = post.predict(x).argMax(1).dataSync();
      const agree = Array.from(laTrain).filter((v, i) => v === mapTrain[i]).length / 180;
      expect(agree).toBeGreaterThan(0.97);
      post.dispose();
    }
    expect(Math.min(...map)).toBeGreaterThan(0.9);
  });
});
