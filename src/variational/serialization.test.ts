import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../runtime/backend.js';
import { Random } from '../runtime/random.js';
import { BayesianConv2D } from './bayesianConv2d.js';
import { BayesianDense } from './bayesianDense.js';
import { gaussianFamily } from './families/gaussianPosterior.js';
import { logUniformFamily } from './families/logUniformPosterior.js';
import { bayesianLayers, modelKl, withPredictionMode } from './modelLayers.js';
import { withNoiseSource } from './noise.js';

beforeAll(async () => {
  await initBackend();
});

async function roundTrip(model: tf.LayersModel): Promise<tf.LayersModel> {
  let saved: tf.io.ModelArtifacts | undefined;
  await model.save(
    tf.io.withSaveHandler(async (artifacts) => {
      saved = artifacts;
      return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } };
    }),
  );
  return tf.loadLayersModel(tf.io.fromMemory(saved!));
}

function buildModels(): tf.LayersModel[] {
  const sequential = tf.sequential({
    layers: [
      new BayesianConv2D({
        filters: 3,
        kernelSize: 3,
        inputShape: [6, 6, 2],
        activation: 'relu',
        family: gaussianFamily({ empiricalBayes: 'evidence', priorStd: 0.5 }),
        biasFamily: gaussianFamily(),
      }),
      tf.layers.maxPooling2d({ poolSize: 2 }),
      tf.layers.flatten(),
      new BayesianDense({
        units: 5,
        activation: 'tanh',
        family: logUniformFamily({ initStd: 0.1 }),
        reparameterisation: 'flipout',
      }),
      tf.layers.dropout({ rate: 0.2 }),
      tf.layers.dense({ units: 3 }),
    ],
  });
  const input = tf.input({ shape: [4] });
  const h = new BayesianDense({
    units: 6,
    activation: 'relu',
    family: gaussianFamily({ sigma: 'exp' }),
  }).apply(input);
  const skip = tf.layers.dense({ units: 6 }).apply(input);
  const merged = tf.layers.add().apply([h, skip] as tf.SymbolicTensor[]);
  const out = new BayesianDense({ units: 2, family: logUniformFamily(), reparameterisation: 'shared' }).apply(
    merged,
  );
  const functional = tf.model({ inputs: input, outputs: out as tf.SymbolicTensor });
  return [sequential, functional];
}

describe('save → load of Bayesian models', () => {
  it('restores identical posterior parameters, configs and posterior-mean predictions', async () => {
    const inputs = [
      tf.randomNormal([4, 6, 6, 2], 0, 1, 'float32', 5),
      tf.randomNormal([4, 4], 0, 1, 'float32', 6),
    ];
    const models = buildModels();
    for (const [index, model] of models.entries()) {
      // Move the parameters away from their initial values (including the empirical-Bayes prior).
      for (const w of model.weights)
        w.write(tf.add(w.read(), tf.randomNormal(w.shape as number[], 0, 0.05, 'float32', 7)));
      const loaded = await roundTrip(model);
      expect(loaded.layers.map((l) => l.name)).toEqual(model.layers.map((l) => l.name));
      expect(loaded.weights.map((w) => w.originalName)).toEqual(model.weights.map((w) => w.originalName));
      model.weights.forEach((w, i) => {
        expect(Array.from(loaded.weights[i].read().dataSync())).toEqual(Array.from(w.read().dataSync()));
      });
      const loadedLayers = bayesianLayers(loaded);
      expect(loadedLayers.map((l) => l.getConfig())).toEqual(bayesianLayers(model).map((l) => l.getConfig()));
      const x = inputs[index];
      const original = withPredictionMode(model, 'mean', () => (model.predict(x) as tf.Tensor).dataSync());
      const restored = withPredictionMode(loaded, 'mean', () => (loaded.predict(x) as tf.Tensor).dataSync());
      expect(Array.from(restored)).toEqual(Array.from(original));
      // Stochastic predictions agree too when drawn from the same noise stream.
      const a = withNoiseSource(new Random(1), () => (model.predict(x) as tf.Tensor).dataSync());
      const b = withNoiseSource(new Random(1), () => (loaded.predict(x) as tf.Tensor).dataSync());
      expect(Array.from(b)).toEqual(Array.from(a));
      expect(modelKl(loaded).dataSync()[0]).toBe(modelKl(model).dataSync()[0]);
    }
  });

  it('sums the KL of every Bayesian layer', () => {
    const [model] = buildModels();
    const layers = bayesianLayers(model);
    expect(layers.length).toBe(2);
    const parts = layers.map((l) => l.kl().dataSync()[0]);
    expect(modelKl(model).dataSync()[0]).toBeCloseTo(parts[0] + parts[1], 2);
    expect(parts.every((p) => p > 0)).toBe(true);
  });
});
