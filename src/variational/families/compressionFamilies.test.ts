import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../../runtime/backend.js';
import { Random, setGlobalSeed } from '../../runtime/random.js';
import { BayesianConv2D } from '../bayesianConv2d.js';
import { BayesianDense } from '../bayesianDense.js';
import { toBayesian, toDeterministic } from '../conversion.js';
import { bayesianLayers, setPredictionMode } from '../modelLayers.js';
import { withNoiseSource } from '../noise.js';
import { groupHorseshoeFamily, GroupHorseshoePosterior } from './groupHorseshoe.js';
import { groupNormalJeffreysFamily, GroupNormalJeffreysPosterior } from './groupNormalJeffreys.js';
import { isGroupPosteriorFamily } from './groupStructure.js';
import { type FamilySpec, posteriorFamilyNames } from './posteriorFamily.js';
import { vnqFamily } from './vnqPosterior.js';

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

describe('hierarchical and quantizing families in models', () => {
  it('are registered as group-nj, group-hs and vnq', () => {
    expect(posteriorFamilyNames()).toEqual(expect.arrayContaining(['group-nj', 'group-hs', 'vnq']));
  });

  it('save → load keeps every variable, the family options and the predictions', async () => {
    const model = tf.sequential({
      layers: [
        new BayesianConv2D({
          filters: 3,
          kernelSize: 3,
          inputShape: [6, 6, 2],
          activation: 'relu',
          family: groupNormalJeffreysFamily({ initScaleLogSigma2: -7 }),
          predictionMode: 'pruned-mean',
          pruneThreshold: -3,
        }),
        tf.layers.flatten(),
        new BayesianDense({ units: 5, activation: 'tanh', family: groupHorseshoeFamily({ tau0: 1e-4 }) }),
        new BayesianDense({
          units: 3,
          family: vnqFamily({ codebookInit: 0.1, tau: 0.05 }),
          predictionMode: 'mean',
        }),
      ],
    });
    for (const w of model.weights)
      tf.tidy(() => {
        w.write(tf.add(w.read(), tf.randomNormal(w.shape as number[], 0, 0.05, 'float32', 7)));
      });
    const loaded = await roundTrip(model);
    expect(loaded.weights.map((w) => w.originalName)).toEqual(model.weights.map((w) => w.originalName));
    model.weights.forEach((w, i) =>
      expect(Array.from(loaded.weights[i].read().dataSync())).toEqual(Array.from(w.read().dataSync())),
    );
    const config = (m: tf.LayersModel) => JSON.stringify(m.layers.map((l) => l.getConfig()));
    expect(config(loaded)).toEqual(config(model));
    expect(config(loaded)).toContain('"tau0":0.0001');
    expect(config(loaded)).toContain('"codebookInit":0.1');
    const x = tf.randomNormal([4, 6, 6, 2], 0, 1, 'float32', 5);
    // The horseshoe layer samples in its default mode: fix the noise so both models draw the same.
    const a = withNoiseSource(new Random(3), () => model.predict(x) as tf.Tensor);
    const b = withNoiseSource(new Random(3), () => loaded.predict(x) as tf.Tensor);
    expect(tf.max(tf.abs(tf.sub(a, b))).dataSync()[0]).toBeLessThan(1e-6);
    tf.dispose([x, a, b]);
  });

  it('toBayesian starts each family at the trained weights (posterior-mean predictions within 1e-5)', () => {
    setGlobalSeed(3);
    const trained = tf.sequential({
      layers: [
        tf.layers.conv2d({ filters: 4, kernelSize: 3, inputShape: [6, 6, 2], activation: 'relu' }),
        tf.layers.flatten(),
        tf.layers.dense({ units: 6, activation: 'tanh', biasInitializer: 'glorotNormal' }),
        tf.layers.dense({ units: 3 }),
      ],
    });
    const x = tf.randomNormal([5, 6, 6, 2], 0, 1, 'float32', 9);
    const reference = trained.predict(x) as tf.Tensor;
    for (const family of [groupNormalJeffreysFamily(), groupHorseshoeFamily(), vnqFamily()]) {
      const bayes = toBayesian(trained, { family, initLogSigma2: -12 });
      expect(bayesianLayers(bayes).map((l) => isGroupPosteriorFamily(l.family()))).toEqual(
        Array(3).fill(family.name !== 'vnq'),
      );
      setPredictionMode(bayes, 'mean');
      const mean = bayes.predict(x) as tf.Tensor;
      expect(tf.max(tf.abs(tf.sub(mean, reference))).dataSync()[0]).toBeLessThan(1e-5);
      // At initialisation no group is pruned, so the plain pruned-mean model predicts the same.
      if (family.name !== 'vnq') {
        const plain = toDeterministic(bayes, { use: 'pruned-mean' });
        const pruned = plain.predict(x) as tf.Tensor;
        expect(tf.max(tf.abs(tf.sub(pruned, reference))).dataSync()[0]).toBeLessThan(1e-5);
        tf.dispose([pruned]);
        plain.dispose();
      }
      tf.dispose([mean]);
      bayes.dispose();
    }
    tf.dispose([x, reference]);
    trained.dispose();
  });

  /** Trains a 8-12-2 MLP whose layers use `spec` on a task where only inputs 0..2 matter; returns the first layer. */
  function trainOnNoisyInputs(spec: FamilySpec, epochs: number, learningRate: number) {
    // The families draw their initial values from the global generator: fix it so the test does not depend on order.
    setGlobalSeed(1);
    const n = 600;
    const features = 8;
    const random = new Random(11);
    const xs = new Float32Array(n * features);
    const ys = new Int32Array(n);
    for (let i = 0; i < n; i++) {
      for (let f = 0; f < features; f++) xs[i * features + f] = random.normal();
      ys[i] = xs[i * features] + xs[i * features + 1] - xs[i * features + 2] > 0 ? 1 : 0;
    }
    const x = tf.tensor2d(xs, [n, features]);
    const y = tf.oneHot(tf.tensor1d(ys, 'int32'), 2);
    const first = new BayesianDense({ units: 12, activation: 'relu', inputShape: [features], family: spec });
    const last = new BayesianDense({ units: 2, family: spec });
    const model = tf.sequential({ layers: [first, last] });
    const optimizer = tf.train.adam(learningRate);
    const noise = new Random(5);
    const batch = 100;
    const before = tf.memory().numTensors;
    for (let epoch = 0; epoch < epochs; epoch++) {
      for (let start = 0; start < n; start += batch) {
        withNoiseSource(noise, () =>
          optimizer.minimize(() =>
            tf.tidy(() => {
              const logits = model.apply(x.slice(start, batch), { training: true }) as tf.Tensor;
              const nll = tf.losses.softmaxCrossEntropy(y.slice(start, batch), logits);
              const kl = tf.add(first.kl(), last.kl());
              return tf.add(nll, tf.div(kl, n)) as tf.Scalar;
            }),
          ),
        );
      }
    }
    // Adam adds two slots per variable and two step counters; nothing else may remain.
    expect(tf.memory().numTensors).toBeLessThanOrEqual(before + 2 * model.trainableWeights.length + 2);
    optimizer.dispose();
    /** Accuracy on the training inputs with the first layer's groups of log α ≥ threshold removed. */
    const prunedAccuracy = (threshold: number) => {
      first.predictionMode = 'pruned-mean';
      first.pruneThreshold = threshold;
      last.predictionMode = 'mean';
      return tf.tidy(() => {
        const logits = model.predict(x) as tf.Tensor;
        return tf.mean(tf.cast(tf.equal(tf.argMax(logits, 1), tf.argMax(y, 1)), 'float32')).dataSync()[0];
      });
    };
    const result = { first, prunedAccuracy };
    return { ...result, dispose: () => tf.dispose([x, y]) };
  }

  it('an MLP with group-nj trains on a synthetic task and prunes the input neurons that carry only noise', () => {
    const { first, prunedAccuracy, dispose } = trainOnNoisyInputs(groupNormalJeffreysFamily(), 15, 0.05);
    const family = first.family() as GroupNormalJeffreysPosterior;
    const logAlpha = tf.tidy(() => Array.from(family.groupLogAlpha().dataSync()));
    // After 90 steps the signal inputs keep a small dropout rate (log α ≈ −8), the noise inputs are at 2..6.
    expect(Math.max(...logAlpha.slice(0, 3))).toBeLessThan(-3);
    expect(Math.min(...logAlpha.slice(3))).toBeGreaterThan(0);
    // The pruned network (groups with log α ≥ −1 removed) still fits the task.
    const keep = tf.tidy(() => Array.from(family.groupKeepMask(-1).dataSync()));
    expect(keep).toEqual([1, 1, 1, 0, 0, 0, 0, 0]);
    expect(prunedAccuracy(-1)).toBeGreaterThan(0.9);
    dispose();
  });

  it('an MLP with group-hs does the same (group log α from the log-normal scale posterior)', () => {
    const { first, prunedAccuracy, dispose } = trainOnNoisyInputs(
      groupHorseshoeFamily({ initScaleLogSigma2: -3 }),
      20,
      0.03,
    );
    const family = first.family() as GroupHorseshoePosterior;
    const logAlpha = tf.tidy(() => Array.from(family.groupLogAlpha().dataSync()));
    // After 120 steps the noise groups are on their way to the prior (log α ≳ 0.5 at convergence, ≈ −1.2 here);
    // the signal groups stay near −3.3. The larger initial scale variance only shortens the way (the default −9
    // separates them the same way after ~50 epochs).
    expect(Math.max(...logAlpha.slice(0, 3))).toBeLessThan(-2.7);
    expect(Math.min(...logAlpha.slice(3))).toBeGreaterThan(-1.7);
    // Their posterior mean scales are smaller too.
    const scale = tf.tidy(() => Array.from(family.groupScaleMean().dataSync()));
    expect(Math.max(...scale.slice(3))).toBeLessThan(Math.min(...scale.slice(0, 3)));
    const keep = tf.tidy(() => Array.from(family.groupKeepMask(-2.2).dataSync()));
    expect(keep).toEqual([1, 1, 1, 0, 0, 0, 0, 0]);
    expect(prunedAccuracy(-2.2)).toBeGreaterThan(0.9);
    dispose();
  });
});
