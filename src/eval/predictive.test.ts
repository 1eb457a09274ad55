import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import type { Dataset } from '../data/dataset.js';
import { initBackend } from '../runtime/backend.js';
import { Random } from '../runtime/random.js';
import { mcDropoutPredictive } from './baselines.js';
import {
  createPredictive,
  deterministicPredictive,
  ensemblePredictive,
  monteCarloPredictive,
} from './predictive.js';
import { stochasticForward } from './stochastic-forward.js';

beforeAll(async () => {
  await initBackend();
});

function randomData(n: number, d: number, classes: number, seed: number): Dataset {
  const random = new Random(seed);
  return {
    x: random.fillNormal(new Float32Array(n * d)),
    y: Int32Array.from({ length: n }, () => random.int(classes)),
    n,
    featureShape: [d],
    numClasses: classes,
  };
}

function mlp(seed: number, dropout = 0): tf.Sequential {
  const init = (s: number) => tf.initializers.glorotUniform({ seed: s });
  return tf.sequential({
    layers: [
      tf.layers.dense({ units: 16, activation: 'relu', inputShape: [5], kernelInitializer: init(seed) }),
      ...(dropout > 0 ? [tf.layers.dropout({ rate: dropout })] : []),
      tf.layers.dense({ units: 3, kernelInitializer: init(seed + 1) }),
    ],
  });
}

/** Softmax of each row of a row-major matrix, in float64. */
function softmaxRows(logits: Float32Array, c: number): Float64Array {
  const out = new Float64Array(logits.length);
  for (let i = 0; i < logits.length / c; i++) {
    const row = Array.from(logits.subarray(i * c, (i + 1) * c));
    const m = Math.max(...row);
    const e = row.map((v) => Math.exp(v - m));
    const s = e.reduce((a, b) => a + b, 0);
    e.forEach((v, k) => (out[i * c + k] = v / s));
  }
  return out;
}

function expectRowsSumToOne(probs: Float32Array, c: number): void {
  for (let i = 0; i < probs.length / c; i++) {
    let s = 0;
    for (let k = 0; k < c; k++) s += probs[i * c + k];
    expect(Math.abs(s - 1)).toBeLessThan(1e-5);
  }
}

describe('deterministic predictive', () => {
  it('equals the softmax of the logits, whatever the batch size, for a dataset or a tensor', async () => {
    const data = randomData(23, 5, 3, 1);
    const model = mlp(3);
    const x = tf.tensor2d(data.x, [23, 5]);
    const logits = model.predict(x) as tf.Tensor;
    const expected = softmaxRows(logits.dataSync() as Float32Array, 3);
    logits.dispose();
    const predictive = deterministicPredictive(model);
    for (const batchSize of [1, 7, 256]) {
      const fromData = await predictive.predict(data, { batchSize });
      const fromTensor = await predictive.predict(x, { batchSize });
      expect(fromData.n).toBe(23);
      expect(fromData.numClasses).toBe(3);
      expect(fromData.samples).toBeUndefined();
      for (let j = 0; j < expected.length; j++) {
        expect(fromData.probs[j]).toBeCloseTo(expected[j], 6);
        expect(fromTensor.probs[j]).toBeCloseTo(expected[j], 6);
      }
    }
    expect(x.isDisposed).toBe(false);
    x.dispose();
    model.dispose();
  });

  it('leaks no tensors over repeated predictions', async () => {
    const data = randomData(50, 5, 3, 2);
    const model = mlp(4, 0.5);
    const predictives = [
      deterministicPredictive(model),
      mcDropoutPredictive(model, { samples: 4 }),
      ensemblePredictive([model, mlp(9)]),
    ];
    for (const p of predictives) await p.predict(data, { batchSize: 16 });
    const before = tf.memory().numTensors;
    for (let r = 0; r < 3; r++) for (const p of predictives) await p.predict(data, { batchSize: 16 });
    expect(tf.memory().numTensors).toBe(before);
  });
});

describe('Monte-Carlo and ensemble predictives', () => {
  it('MC dropout: rows sum to 1, probs is the mean of S differing samples, reproducible from the seed', async () => {
    const data = randomData(30, 5, 3, 5);
    const model = mlp(6, 0.5);
    const out = await mcDropoutPredictive(model, { samples: 8, seed: 1 }).predict(data, { batchSize: 11 });
    expect(out.numSamples).toBe(8);
    expect(out.samples?.length).toBe(8 * 30 * 3);
    expectRowsSumToOne(out.probs, 3);
    const samples = out.samples as Float32Array;
    for (let s = 0; s < 8; s++) expectRowsSumToOne(samples.subarray(s * 90, (s + 1) * 90), 3);
    for (let j = 0; j < 90; j++) {
      let mean = 0;
      for (let s = 0; s < 8; s++) mean += samples[s * 90 + j] / 8;
      expect(out.probs[j]).toBeCloseTo(mean, 6);
    }
    // Dropout is active: the first two samples differ.
    let diff = 0;
    for (let j = 0; j < 90; j++) diff += Math.abs(samples[j] - samples[90 + j]);
    expect(diff).toBeGreaterThan(0.1);
    const again = await mcDropoutPredictive(model, { samples: 8, seed: 1 }).predict(data, { batchSize: 11 });
    expect(Array.from(again.probs)).toEqual(Array.from(out.probs));
    const other = await mcDropoutPredictive(model, { samples: 8, seed: 2 }).predict(data, { batchSize: 11 });
    expect(Array.from(other.probs)).not.toEqual(Array.from(out.probs));
    model.dispose();
  });

  it('seeded dropout is inverted dropout: the mean of many passes of a linear layer equals the deterministic output', () => {
    const model = tf.sequential({
      layers: [
        tf.layers.dropout({ rate: 0.3, inputShape: [4] }),
        tf.layers.dense({ units: 2, kernelInitializer: tf.initializers.ones() }),
      ],
    });
    const x = tf.tensor2d([[1, 2, 3, 4]]);
    const random = new Random(3);
    const passes = 4000;
    const mean = tf.tidy(() => {
      let sum = tf.zeros([1, 2]);
      for (let s = 0; s < passes; s++)
        sum = tf.add(sum, stochasticForward(model, x, { random }) as tf.Tensor);
      return tf.div(sum, passes);
    });
    // Output = Σ mask_j x_j / 0.7 with Var = Σ x_j² · 0.3/0.7 = 30·0.3/0.7 ≈ 12.9; SE of the mean ≈ 0.057.
    const m = mean.dataSync();
    expect(Math.abs(m[0] - 10)).toBeLessThan(0.25);
    expect(Math.abs(m[1] - 10)).toBeLessThan(0.25);
    tf.dispose([mean, x]);
    model.dispose();
  });

  it('stochastic forward leaves batch normalisation in inference mode and equals predict without noise', () => {
    const input = tf.input({ shape: [5] });
    const a = tf.layers
      .dense({ units: 4, kernelInitializer: tf.initializers.glorotUniform({ seed: 1 }) })
      .apply(input);
    const b = tf.layers
      .dense({ units: 4, kernelInitializer: tf.initializers.glorotUniform({ seed: 2 }) })
      .apply(input);
    const sum = tf.layers.add().apply([a, b] as tf.SymbolicTensor[]) as tf.SymbolicTensor;
    const bn = tf.layers
      .batchNormalization({ movingMeanInitializer: tf.initializers.constant({ value: 0.5 }) })
      .apply(sum) as tf.SymbolicTensor;
    // A nested Sequential after a concatenation: the walk recurses into it.
    const inner8 = tf.sequential({ layers: [tf.layers.dense({ units: 3, inputShape: [8] })] });
    const out8 = inner8.apply(
      tf.layers.concatenate().apply([bn, sum]) as tf.SymbolicTensor,
    ) as tf.SymbolicTensor;
    const model = tf.model({ inputs: input, outputs: out8 });
    const x = tf.randomNormal([6, 5], 0, 1, 'float32', 4);
    const predicted = model.predict(x) as tf.Tensor;
    const walked = stochasticForward(model, x, { random: new Random(1) }) as tf.Tensor;
    const trainingMode = model.apply(x, { training: true }) as tf.Tensor;
    expect(tf.max(tf.abs(tf.sub(predicted, walked))).dataSync()[0]).toBeLessThan(1e-6);
    // TF.js's own training mode normalises with batch statistics instead, a different function.
    expect(tf.max(tf.abs(tf.sub(predicted, trainingMode))).dataSync()[0]).toBeGreaterThan(1e-3);
    tf.dispose([x, predicted, walked, trainingMode]);
    model.dispose();
  });

  it('ensemble: probs are the mean of the members’ softmax, members are the samples, rows sum to 1', async () => {
    const data = randomData(17, 5, 3, 8);
    const members = [mlp(10), mlp(20), mlp(30)];
    const out = await ensemblePredictive(members).predict(data, { batchSize: 5 });
    expect(out.numSamples).toBe(3);
    expectRowsSumToOne(out.probs, 3);
    const x = tf.tensor2d(data.x, [17, 5]);
    const perMember = members.map((m) => {
      const logits = m.predict(x) as tf.Tensor;
      const p = softmaxRows(logits.dataSync() as Float32Array, 3);
      logits.dispose();
      return p;
    });
    for (let j = 0; j < 51; j++) {
      const mean = (perMember[0][j] + perMember[1][j] + perMember[2][j]) / 3;
      expect(out.probs[j]).toBeCloseTo(mean, 6);
      for (let m = 0; m < 3; m++)
        expect((out.samples as Float32Array)[m * 51 + j]).toBeCloseTo(perMember[m][j], 6);
    }
    x.dispose();
    members.forEach((m) => m.dispose());
  });

  it('monteCarloPredictive over a custom sampler, and createPredictive with an async batch predictor', async () => {
    const x = tf.tensor2d([
      [0, 1],
      [2, 3],
      [4, 5],
    ]);
    // A sampler that adds ±1 alternately to the first logit.
    let call = 0;
    const mc = monteCarloPredictive((xb) => tf.add(xb, tf.tensor1d([call++ % 2 === 0 ? 1 : -1, 0])), {
      samples: 2,
    });
    const out = await mc.predict(x, { batchSize: 2 });
    const expected = (a: number, b: number) => {
      const p1 = Math.exp(a + 1) / (Math.exp(a + 1) + Math.exp(b));
      const p2 = Math.exp(a - 1) / (Math.exp(a - 1) + Math.exp(b));
      return (p1 + p2) / 2;
    };
    expect(out.probs[0]).toBeCloseTo(expected(0, 1), 6);
    expect(out.probs[4]).toBeCloseTo(expected(4, 5), 6);
    expect(() => monteCarloPredictive((xb) => xb, { samples: 0 })).toThrow(/samples/);

    const before = tf.memory().numTensors;
    const asyncPredictive = createPredictive(async (xb) => {
      const values = await xb.data();
      const n = xb.shape[0];
      return {
        probs: tf.tensor2d(Array.from({ length: n }, (_, i) => [values[2 * i] / 10, 1 - values[2 * i] / 10])),
      };
    });
    const asyncOut = await asyncPredictive.predict(x, { batchSize: 2 });
    expect(Array.from(asyncOut.probs)).toEqual(Array.from(Float32Array.from([0, 1, 0.2, 0.8, 0.4, 0.6])));
    expect(tf.memory().numTensors).toBe(before);
    x.dispose();
  });

  it('rejects a batch predictor with the wrong output shape', async () => {
    const bad = createPredictive((xb) => ({ probs: tf.ones([xb.shape[0] + 1, 2]) }), { name: 'bad' });
    const x = tf.ones([4, 2]);
    await expect(bad.predict(x)).rejects.toThrow(/bad: batch probabilities/);
    x.dispose();
  });
});
