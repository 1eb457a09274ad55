import * as tf from '@tensorflow/tfjs';
import type { Dataset } from '../data/dataset.js';
import { Random } from '../runtime/random.js';

/**
 * Test helpers for the training loop: a small seeded classification problem and a small MLP whose initial weights
 * depend only on a seed. Not part of the public API.
 */

/** `n` points in `d` dimensions from `classes` Gaussian blobs (σ = `spread`) whose centres lie 3 apart. */
export function gaussianBlobs(n: number, d: number, classes: number, seed: number, spread = 1): Dataset {
  const random = new Random(seed);
  const centres = Array.from({ length: classes }, () =>
    Array.from({ length: d }, () => 1.5 * random.normal()),
  );
  // Push the centres apart along distinct axes so the problem is separable whatever the draw.
  centres.forEach((c, k) => (c[k % d] += 3 * (1 + Math.floor(k / d))));
  const x = new Float32Array(n * d);
  const y = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const k = i % classes;
    y[i] = k;
    for (let j = 0; j < d; j++) x[i * d + j] = centres[k][j] + spread * random.normal();
  }
  return { x, y, n, featureShape: [d], numClasses: classes };
}

/** A dense ReLU network `d → hidden… → classes` with seeded Glorot-uniform kernels and zero biases. */
export function smallMlp(d: number, hidden: readonly number[], classes: number, seed: number): tf.Sequential {
  const model = tf.sequential();
  hidden.forEach((units, i) =>
    model.add(
      tf.layers.dense({
        units,
        activation: 'relu',
        inputShape: i === 0 ? [d] : undefined,
        kernelInitializer: tf.initializers.glorotUniform({ seed: seed * 100 + i }),
      }),
    ),
  );
  model.add(
    tf.layers.dense({
      units: classes,
      inputShape: hidden.length === 0 ? [d] : undefined,
      kernelInitializer: tf.initializers.glorotUniform({ seed: seed * 100 + hidden.length }),
    }),
  );
  return model;
}

/** Every weight of the model as one flat array, in `model.weights` order. */
export function flatWeights(model: tf.LayersModel): Float32Array {
  const parts = model.weights.map((w) => w.read().dataSync() as Float32Array);
  const out = new Float32Array(parts.reduce((a, p) => a + p.length, 0));
  let offset = 0;
  for (const p of parts) {
    out.set(p, offset);
    offset += p.length;
  }
  return out;
}
