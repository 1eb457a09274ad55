import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../runtime/backend.js';
import { BayesianConv2D } from './bayesianConv2d.js';
import { BayesianDense } from './bayesianDense.js';
import { toBayesian, toDeterministic } from './conversion.js';
import { logUniformFamily } from './families/logUniformPosterior.js';
import { bayesianLayers, withPredictionMode } from './modelLayers.js';

beforeAll(async () => {
  await initBackend();
});

function maxAbsDiff(a: tf.Tensor, b: tf.Tensor): number {
  return tf.tidy(() => tf.max(tf.abs(tf.sub(a, b))).dataSync()[0]);
}

/** A small CNN with the usual pass-through layers, weights randomised by seeded initialisers. */
function pretrainedCnn(): tf.Sequential {
  return tf.sequential({
    layers: [
      tf.layers.conv2d({
        filters: 4,
        kernelSize: 3,
        activation: 'relu',
        inputShape: [8, 8, 1],
        name: 'conv1',
        kernelInitializer: tf.initializers.glorotNormal({ seed: 1 }),
        biasInitializer: tf.initializers.randomNormal({ seed: 2, stddev: 0.1 }),
      }),
      tf.layers.maxPooling2d({ poolSize: 2 }),
      tf.layers.conv2d({
        filters: 3,
        kernelSize: 2,
        strides: 1,
        padding: 'same',
        name: 'conv2',
        kernelInitializer: tf.initializers.glorotNormal({ seed: 3 }),
      }),
      tf.layers.activation({ activation: 'tanh' }),
      tf.layers.flatten(),
      tf.layers.dropout({ rate: 0.3 }),
      tf.layers.dense({
        units: 16,
        activation: 'relu',
        name: 'fc1',
        kernelInitializer: tf.initializers.glorotNormal({ seed: 4 }),
        biasInitializer: tf.initializers.randomNormal({ seed: 5, stddev: 0.1 }),
      }),
      tf.layers.dense({
        units: 10,
        name: 'logits',
        kernelInitializer: tf.initializers.glorotNormal({ seed: 6 }),
      }),
    ],
  });
}

function pretrainedFunctional(): tf.LayersModel {
  const input = tf.input({ shape: [6] });
  const a = tf.layers
    .dense({
      units: 8,
      activation: 'relu',
      name: 'a',
      kernelInitializer: tf.initializers.glorotNormal({ seed: 7 }),
    })
    .apply(input) as tf.SymbolicTensor;
  const b = tf.layers
    .dense({ units: 8, name: 'b', kernelInitializer: tf.initializers.glorotNormal({ seed: 8 }) })
    .apply(input) as tf.SymbolicTensor;
  const sum = tf.layers.add().apply([a, b]) as tf.SymbolicTensor;
  const out = tf.layers
    .dense({ units: 3, name: 'out', kernelInitializer: tf.initializers.glorotNormal({ seed: 9 }) })
    .apply(sum) as tf.SymbolicTensor;
  return tf.model({ inputs: input, outputs: out });
}

describe('toBayesian', () => {
  it('a converted pretrained CNN predicts like the original at posterior means (within 1e-5)', () => {
    const original = pretrainedCnn();
    const x = tf.randomNormal([5, 8, 8, 1], 0, 1, 'float32', 11);
    const converted = toBayesian(original, { family: logUniformFamily() });
    const layers = bayesianLayers(converted);
    expect(layers.map((l) => l.name)).toEqual(['conv1', 'conv2', 'fc1', 'logits']);
    expect(layers[0]).toBeInstanceOf(BayesianConv2D);
    expect(layers[3]).toBeInstanceOf(BayesianDense);
    const y0 = original.predict(x) as tf.Tensor;
    const y1 = withPredictionMode(converted, 'mean', () => converted.predict(x) as tf.Tensor);
    expect(maxAbsDiff(y0, y1)).toBeLessThan(1e-5);
    // Small initial variances: a stochastic pass stays close to the original too.
    const ys = converted.predict(x) as tf.Tensor;
    expect(maxAbsDiff(y0, ys)).toBeLessThan(0.05);
    for (const l of layers)
      expect(Math.max(...l.family().variance().dataSync())).toBeCloseTo(Math.exp(-10), 8);
  });

  it('converts only the named layers of a functional model', () => {
    const original = pretrainedFunctional();
    const converted = toBayesian(original, { layers: ['a', 'out'], initLogSigma2: -12 });
    expect(bayesianLayers(converted).map((l) => l.name)).toEqual(['a', 'out']);
    expect(converted.getLayer('b').getClassName()).toBe('Dense');
    const x = tf.randomNormal([4, 6], 0, 1, 'float32', 12);
    const y1 = withPredictionMode(converted, 'mean', () => converted.predict(x) as tf.Tensor);
    expect(maxAbsDiff(original.predict(x) as tf.Tensor, y1)).toBeLessThan(1e-5);
    expect(() => toBayesian(original, { layers: ['nope'] })).toThrow(/no layer named 'nope'/);
  });
});

describe('toDeterministic', () => {
  it('returns stock layers with posterior means, pruned means or a sample, saveable by stock TF.js', async () => {
    const converted = toBayesian(pretrainedCnn(), { family: logUniformFamily() });
    const fc1 = converted.getLayer('fc1') as BayesianDense;
    // Make half of fc1's weights prunable: large variance relative to the mean.
    const logSigma2 = tf.tidy(() =>
      tf.where(
        tf.greater(tf.randomUniform([27, 16], 0, 1, 'float32', 3), 0.5),
        tf.fill([27, 16], 5),
        tf.fill([27, 16], -10),
      ),
    );
    fc1.family().initialise(fc1.family().mean(), logSigma2);
    const x = tf.randomNormal([3, 8, 8, 1], 0, 1, 'float32', 13);
    for (const use of ['mean', 'pruned-mean'] as const) {
      const plain = toDeterministic(converted, { use });
      expect(plain.layers.map((l) => l.getClassName())).toEqual([
        'Conv2D',
        'MaxPooling2D',
        'Conv2D',
        'Activation',
        'Flatten',
        'Dropout',
        'Dense',
        'Dense',
      ]);
      const reference = withPredictionMode(converted, use, () => converted.predict(x) as tf.Tensor);
      expect(maxAbsDiff(plain.predict(x) as tf.Tensor, reference)).toBeLessThan(1e-6);
      if (use === 'pruned-mean') {
        const kernel = plain.getLayer('fc1').getWeights()[0].dataSync();
        const zeros = kernel.filter((v) => v === 0).length / kernel.length;
        expect(zeros).toBeGreaterThan(0.45);
        expect(zeros).toBeLessThan(0.55);
      }
      // Stock TF.js round trip: the saved topology names only stock classes.
      let artifacts: tf.io.ModelArtifacts | undefined;
      await plain.save(
        tf.io.withSaveHandler(async (a) => {
          artifacts = a;
          return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } };
        }),
      );
      expect(JSON.stringify(artifacts!.modelTopology)).not.toMatch(/Bayesian/);
      const loaded = await tf.loadLayersModel(tf.io.fromMemory(artifacts!));
      expect(maxAbsDiff(loaded.predict(x) as tf.Tensor, plain.predict(x) as tf.Tensor)).toBe(0);
    }
    const sampled = toDeterministic(converted, { use: 'sample' });
    const kernel = sampled.getLayer('fc1').getWeights()[0];
    expect(maxAbsDiff(kernel, fc1.family().mean())).toBeGreaterThan(1);
  });
});
