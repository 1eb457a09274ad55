import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../runtime/backend.js';
import { Random } from '../runtime/random.js';
import { BayescompError } from '../util/errors.js';
import {
  kernelVariables,
  mapObjective,
  meanNegativeLogLikelihood,
  softmaxCrossEntropyPerExample,
} from './map-objective.js';
import { smallMlp } from './test-utils.js';
import type { StepContext } from './types.js';

const context: StepContext = { epoch: 0, step: 0, stepsPerEpoch: 1, datasetSize: 4, random: new Random(0) };

describe('MAP objective', () => {
  beforeAll(async () => {
    await initBackend();
  });

  it('softmax cross-entropy equals the mean of logsumexp(z) − z_y, stably for large logits', () => {
    const z = [
      [2, -1, 0.5],
      [0, 0, 0],
      [1000, 998, -1000],
      [-3, 4, 1],
    ];
    const y = [0, 2, 1, 1];
    const expected =
      z
        .map((row, i) => {
          const m = Math.max(...row);
          return m + Math.log(row.reduce((a, v) => a + Math.exp(v - m), 0)) - row[y[i]];
        })
        .reduce((a, b) => a + b) / z.length;
    const loss = meanNegativeLogLikelihood('categorical', tf.tensor2d(z), tf.tensor1d(y, 'int32'));
    expect(loss.dataSync()[0]).toBeCloseTo(expected, 4);
  });

  it('Gaussian NLL with fixed σ, heteroscedastic NLL and MSE follow their formulas', () => {
    const mu = [
      [0.5, -1],
      [2, 0],
    ];
    const t = [
      [1, -1.5],
      [1, 0.25],
    ];
    const sigma = 0.5;
    let gauss = 0;
    let mse = 0;
    mu.forEach((row, i) =>
      row.forEach((m, d) => {
        const r = t[i][d] - m;
        gauss += 0.5 * Math.log(2 * Math.PI * sigma * sigma) + (r * r) / (2 * sigma * sigma);
        mse += r * r;
      }),
    );
    const targets = tf.tensor2d(t);
    const means = tf.tensor2d(mu);
    expect(meanNegativeLogLikelihood('gaussian', means, targets, sigma).dataSync()[0]).toBeCloseTo(
      gauss / 2,
      5,
    );
    expect(meanNegativeLogLikelihood('mse', means, targets).dataSync()[0]).toBeCloseTo(mse / 4, 6);

    const logVar = [
      [0.2, -0.4],
      [1, -2],
    ];
    let hetero = 0;
    mu.forEach((row, i) =>
      row.forEach((m, d) => {
        const s = logVar[i][d];
        hetero += 0.5 * (Math.log(2 * Math.PI) + s + (t[i][d] - m) ** 2 * Math.exp(-s));
      }),
    );
    const outputs = tf.concat([means, tf.tensor2d(logVar)], 1);
    expect(meanNegativeLogLikelihood('heteroscedastic-gaussian', outputs, targets).dataSync()[0]).toBeCloseTo(
      hetero / 2,
      5,
    );
    expect(() => meanNegativeLogLikelihood('heteroscedastic-gaussian', means, targets)).toThrow(
      /\[batch, 4\]/,
    );
  });

  it('coupled weight decay adds (λ/2)Σ‖W‖² over kernels: the gradient gains exactly λW on kernels, nothing on biases', () => {
    const model = smallMlp(3, [4], 2, 1);
    const batch = {
      x: tf.tensor2d([0.1, -0.2, 0.3, 1, 0.5, -1], [2, 3]),
      y: tf.tensor1d([0, 1], 'int32'),
      size: 2,
    };
    const lambda = 0.3;
    const variables = model.trainableWeights.map((w) => w.read() as tf.Variable);
    const gradsOf = (weightDecay: number) =>
      tf.variableGrads(() => mapObjective({ weightDecay }).loss(model, batch, context).loss, variables);
    const plain = gradsOf(0);
    const decayed = gradsOf(lambda);
    const kernels = new Set(kernelVariables(model).map((v) => v.name));
    expect(kernels.size).toBe(2);
    let sumSq = 0;
    for (const v of variables) {
      const diff = tf.sub(decayed.grads[v.name], plain.grads[v.name]).dataSync() as Float32Array;
      const w = v.dataSync() as Float32Array;
      if (kernels.has(v.name)) sumSq += w.reduce((a, b) => a + b * b, 0);
      diff.forEach((d, i) => expect(d).toBeCloseTo(kernels.has(v.name) ? lambda * w[i] : 0, 6));
    }
    const terms = mapObjective({ weightDecay: lambda }).loss(model, batch, context).terms!;
    expect(terms.l2.dataSync()[0]).toBeCloseTo((lambda / 2) * sumSq, 5);
    expect(decayed.value.dataSync()[0] - plain.value.dataSync()[0]).toBeCloseTo((lambda / 2) * sumSq, 5);
    model.dispose();
  });

  it('rejects float targets for classification and class labels for regression', () => {
    const logits = tf.tensor2d([[1, 2]]);
    expect(() => meanNegativeLogLikelihood('categorical', logits, tf.tensor1d([1]))).toThrow(BayescompError);
    expect(() => meanNegativeLogLikelihood('mse', logits, tf.tensor1d([1], 'int32'))).toThrow(
      /real-valued targets/,
    );
    expect(() => mapObjective({ weightDecay: -1 })).toThrow(BayescompError);
  });
});

describe('softmaxCrossEntropyPerExample gradient', () => {
  beforeAll(async () => {
    await initBackend();
  });

  it('values and gradients equal tf.grads of logsumexp(z) − z_y within 1e-5, with large and small logits', () => {
    const rng = new Random(3);
    const logits = tf.tensor2d(
      Float32Array.from({ length: 60 }, (_, i) => rng.normal() * (i < 30 ? 2 : 40)),
      [6, 10],
    );
    const labels = tf.tensor1d([0, 3, 9, 2, 2, 7], 'int32');
    const weights = tf.tensor1d([1, -0.5, 2, 0.3, 1.5, -1]);
    const composed = (z: tf.Tensor) =>
      tf.sum(tf.mul(tf.sub(tf.logSumExp(z, 1), tf.sum(tf.mul(z, tf.oneHot(labels, 10)), 1)), weights));
    const fused = (z: tf.Tensor) => tf.sum(tf.mul(softmaxCrossEntropyPerExample(z, labels), weights));
    const want = tf.valueAndGrad(composed)(logits);
    const got = tf.valueAndGrad(fused)(logits);
    expect(got.value.dataSync()[0]).toBeCloseTo(want.value.dataSync()[0], 3);
    const a = got.grad.dataSync();
    const b = want.grad.dataSync();
    for (let i = 0; i < a.length; i++)
      expect(Math.abs(a[i] - b[i])).toBeLessThan(1e-5 * Math.max(1, Math.abs(b[i])));
    tf.dispose([logits, labels, weights, want.value, want.grad, got.value, got.grad]);
  });
});
