import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../../runtime/backend.js';
import { ggnCotangents, lossGradientCotangents, unitCotangents } from '../likelihood.js';
import { maxRelativeError, randomInputs, randomLabels, tinyConvNet, tinyMlp } from '../test-utils.js';
import { chainPlan } from './chainPullback.js';
import { laplaceLayout } from './laplaceLayers.js';
import {
  type CotangentFn,
  disposeQuantities,
  type LayerQuantities,
  preactivationGradients,
} from './preactivationGradients.js';

beforeAll(async () => {
  await initBackend();
});

const init = (seed: number) => tf.initializers.glorotNormal({ seed });
const bias = (seed: number) => tf.initializers.randomNormal({ stddev: 0.2, seed });

/** LeNet-like: ReLU convolutions with 2×2 max pooling (the second crops a row and a column), a ReLU dense layer. */
function reluPoolNet(): tf.Sequential {
  return tf.sequential({
    layers: [
      tf.layers.conv2d({
        inputShape: [12, 12, 2],
        filters: 4,
        kernelSize: 3,
        activation: 'relu',
        kernelInitializer: init(1),
        biasInitializer: bias(2),
      }),
      tf.layers.maxPooling2d({ poolSize: 2 }),
      tf.layers.conv2d({
        filters: 5,
        kernelSize: 2,
        strides: 1,
        padding: 'same',
        activation: 'relu',
        kernelInitializer: init(3),
        biasInitializer: bias(4),
      }),
      tf.layers.maxPooling2d({ poolSize: 2 }),
      tf.layers.flatten(),
      tf.layers.dense({ units: 6, activation: 'relu', kernelInitializer: init(5), biasInitializer: bias(6) }),
      tf.layers.dropout({ rate: 0.5 }),
      tf.layers.dense({
        units: 4,
        activation: 'softmax',
        kernelInitializer: init(7),
        biasInitializer: bias(8),
      }),
    ],
  });
}

/** Separate Activation layers (sigmoid, elu, relu6), a strided convolution, and a standalone softmax at the end. */
function activationNet(): tf.Sequential {
  return tf.sequential({
    layers: [
      tf.layers.conv2d({
        inputShape: [7, 7, 1],
        filters: 3,
        kernelSize: 3,
        strides: 2,
        padding: 'same',
        kernelInitializer: init(11),
        biasInitializer: bias(12),
      }),
      tf.layers.activation({ activation: 'sigmoid' }),
      tf.layers.flatten(),
      tf.layers.dense({
        units: 5,
        activation: 'elu',
        kernelInitializer: init(13),
        biasInitializer: bias(14),
      }),
      tf.layers.dense({ units: 5, kernelInitializer: init(15), biasInitializer: bias(16) }),
      tf.layers.activation({ activation: 'relu6' }),
      tf.layers.dense({ units: 3, kernelInitializer: init(17), biasInitializer: bias(18) }),
      tf.layers.activation({ activation: 'softmax' }),
    ],
  });
}

/** Largest relative difference between two quantity sets (logits, inputs and gradients of every layer). */
function compare(a: LayerQuantities, b: LayerQuantities): number {
  let err = maxRelativeError(a.logits.dataSync(), b.logits.dataSync());
  for (const [name, t] of b.inputs) {
    expect(a.inputs.get(name)!.shape).toEqual(t.shape);
    err = Math.max(err, maxRelativeError(a.inputs.get(name)!.dataSync(), t.dataSync()));
  }
  for (const [name, t] of b.gradients) {
    expect(a.gradients.get(name)!.shape).toEqual(t.shape);
    err = Math.max(err, maxRelativeError(a.gradients.get(name)!.dataSync(), t.dataSync()));
  }
  expect([...a.gradients.keys()].sort()).toEqual([...b.gradients.keys()].sort());
  return err;
}

function chainVersusTape(model: tf.LayersModel, x: tf.Tensor, cot: CotangentFn, which?: number[]): number {
  const layout = laplaceLayout(model);
  const layers = which ? which.map((i) => layout.layers[i]) : layout.layers;
  const chain = preactivationGradients(model, layout, layers, x, cot, 'chain');
  const tape = preactivationGradients(model, layout, layers, x, cot, 'tape');
  const err = compare(chain, tape);
  disposeQuantities(chain);
  disposeQuantities(tape);
  return err;
}

describe('hand-written chain pullback', () => {
  it('accepts Sequential chains of supported layers and refuses functional models and overlapping pools', () => {
    const model = reluPoolNet();
    expect(chainPlan(model, laplaceLayout(model))?.steps.map((s) => s.kind)).toEqual([
      'affine',
      'pool',
      'affine',
      'pool',
      'reshape',
      'affine',
      'identity',
      'affine',
    ]);
    const overlapping = tf.sequential({
      layers: [
        tf.layers.conv2d({ inputShape: [6, 6, 1], filters: 2, kernelSize: 2 }),
        tf.layers.maxPooling2d({ poolSize: 3, strides: 1 }),
        tf.layers.flatten(),
        tf.layers.dense({ units: 2 }),
      ],
    });
    expect(chainPlan(overlapping, laplaceLayout(overlapping))).toBeUndefined();
    const input = tf.input({ shape: [3] });
    const out = tf.layers.dense({ units: 2 }).apply(input) as tf.SymbolicTensor;
    const functional = tf.model({ inputs: input, outputs: out });
    expect(chainPlan(functional, laplaceLayout(functional))).toBeUndefined();
  });

  it('equals the taped pullback on a ReLU/max-pool conv net (unit, GGN and loss-gradient cotangents; layer subsets)', () => {
    const model = reluPoolNet();
    const x = randomInputs(5, [12, 12, 2]);
    const y = randomLabels(5, 4);
    expect(chainVersusTape(model, x, unitCotangents)).toBeLessThan(1e-5);
    expect(chainVersusTape(model, x, ggnCotangents('classification'))).toBeLessThan(1e-5);
    expect(chainVersusTape(model, x, lossGradientCotangents('classification', y))).toBeLessThan(1e-5);
    expect(chainVersusTape(model, x, unitCotangents, [3])).toBeLessThan(1e-5);
    expect(chainVersusTape(model, x, unitCotangents, [1, 2])).toBeLessThan(1e-5);
  });

  it('routes tied maxima to the first position of the window, as TF.js does', () => {
    const model = reluPoolNet();
    // Constant images: every pooling window of the first layer ties.
    const x = tf.fill([2, 12, 12, 2], 0.5);
    expect(chainVersusTape(model, x, unitCotangents)).toBeLessThan(1e-5);
  });

  it('equals the taped pullback with average pooling, same padding, tanh, sigmoid/elu/relu6 and a standalone softmax', () => {
    expect(chainVersusTape(tinyConvNet(3), randomInputs(4, [6, 6, 2]), unitCotangents)).toBeLessThan(1e-5);
    expect(chainVersusTape(activationNet(), randomInputs(4, [7, 7, 1]), unitCotangents)).toBeLessThan(1e-5);
    expect(chainVersusTape(tinyMlp(3, 4, 3, true), randomInputs(6, [3]), unitCotangents)).toBeLessThan(1e-5);
  });

  it('leaves no tensors behind', () => {
    const model = reluPoolNet();
    const layout = laplaceLayout(model);
    const x = randomInputs(3, [12, 12, 2]);
    const run = () =>
      disposeQuantities(preactivationGradients(model, layout, layout.layers, x, unitCotangents));
    run();
    const before = tf.memory().numTensors;
    for (let i = 0; i < 3; i++) run();
    expect(tf.memory().numTensors).toBe(before);
  });
});
