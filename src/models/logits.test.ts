import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../runtime/backend.js';
import { BayescompError } from '../util/errors.js';
import { applyOutputActivation, splitOutputActivation, type OutputActivation } from './logits.js';
import { cnn, lenet300, lenet5, mlp } from './zoo.js';

function maxAbsDiff(a: tf.Tensor, b: tf.Tensor): number {
  return tf.tidy(() => tf.max(tf.abs(tf.sub(a, b))).dataSync()[0]);
}

/** Asserts activation(logits(x)) = model(x) within `tol` and returns the logits' values. */
function expectSplitReproduces(
  model: tf.LayersModel,
  x: tf.Tensor,
  expected: OutputActivation,
  tol = 1e-6,
): void {
  const { logits, outputActivation } = splitOutputActivation(model);
  expect(outputActivation).toBe(expected);
  tf.tidy(() => {
    const z = logits.predict(x) as tf.Tensor;
    const y = model.predict(x) as tf.Tensor;
    expect(maxAbsDiff(applyOutputActivation(z, outputActivation), y)).toBeLessThan(tol);
    if (expected !== 'linear') {
      // Really logits: not already normalised.
      expect(maxAbsDiff(z, y)).toBeGreaterThan(1e-3);
    }
  });
}

function functionalWith(ending: 'dense-softmax' | 'activation' | 'softmax-layer' | 'sigmoid' | 'linear') {
  const input = tf.input({ shape: [6] });
  const hidden = tf.layers
    .dense({ units: 5, activation: 'relu', name: 'h' })
    .apply(input) as tf.SymbolicTensor;
  const dropped = tf.layers.dropout({ rate: 0.5, name: 'drop' }).apply(hidden) as tf.SymbolicTensor;
  const units = ending === 'sigmoid' ? 1 : 4;
  const folded = ending === 'dense-softmax' ? 'softmax' : ending === 'sigmoid' ? 'sigmoid' : 'linear';
  const kernelInitializer = tf.initializers.randomNormal({ mean: 0, stddev: 1, seed: 3 });
  let out = tf.layers
    .dense({ units, activation: folded, name: 'out', kernelInitializer, biasInitializer: 'ones' })
    .apply(dropped) as tf.SymbolicTensor;
  if (ending === 'activation')
    out = tf.layers.activation({ activation: 'softmax', name: 'act' }).apply(out) as tf.SymbolicTensor;
  if (ending === 'softmax-layer') out = tf.layers.softmax({ name: 'sm' }).apply(out) as tf.SymbolicTensor;
  return tf.model({ inputs: input, outputs: out, name: `f_${ending}` });
}

describe('splitOutputActivation', () => {
  beforeAll(async () => {
    await initBackend();
  });

  it('recovers logits from zoo models built with a folded softmax', () => {
    const images = tf.randomUniform([4, 28, 28, 1], 0, 1, 'float32', 1);
    for (const build of [lenet300, lenet5, mlp, cnn]) {
      const model = build({ seed: 5, outputActivation: 'softmax' });
      expectSplitReproduces(model, images, 'softmax');
      const { logits } = splitOutputActivation(model);
      expect(logits.countParams()).toBe(model.countParams());
      // A Sequential's logits model is functional, so it lists its InputLayer; the other layers are the originals.
      const ownLayers = logits.layers.filter((l) => l.getClassName() !== 'InputLayer');
      expect(ownLayers.map((l) => l.name)).toEqual(model.layers.map((l) => l.name));
      ownLayers.slice(0, -1).forEach((l, i) => expect(l).toBe(model.layers[i]));
      // The view reports itself as the layer it stands for, with a linear activation.
      const last = logits.layers[logits.layers.length - 1];
      expect(last.getClassName()).toBe('Dense');
      expect(last.getConfig().activation).toBe('linear');
      model.dispose();
    }
    images.dispose();
  });

  it('handles functional models ending in Dense+softmax, Activation, Softmax layer and sigmoid', () => {
    const x = tf.randomNormal([7, 6], 0, 2, 'float32', 2);
    expectSplitReproduces(functionalWith('dense-softmax'), x, 'softmax');
    expectSplitReproduces(functionalWith('activation'), x, 'softmax');
    expectSplitReproduces(functionalWith('softmax-layer'), x, 'softmax');
    expectSplitReproduces(functionalWith('sigmoid'), x, 'sigmoid');
    x.dispose();
  });

  it('splits a classifier nested as the last layer of a functional model', () => {
    const head = tf.sequential({ name: 'head' });
    head.add(tf.layers.dense({ inputShape: [5], units: 3, activation: 'softmax', name: 'head_out' }));
    const input = tf.input({ shape: [6] });
    const hidden = tf.layers
      .dense({ units: 5, activation: 'tanh', name: 'trunk' })
      .apply(input) as tf.SymbolicTensor;
    const outer = tf.model({
      inputs: input,
      outputs: head.apply(hidden) as tf.SymbolicTensor,
      name: 'outer',
    });
    const x = tf.randomNormal([4, 6], 0, 1, 'float32', 3);
    expectSplitReproduces(outer, x, 'softmax');
    x.dispose();
  });

  it('refuses custom layers whose folded activation it cannot remove, and uses callWithoutActivation', () => {
    /** A custom Dense-like layer that keeps its activation as a name, like the Bayesian layers do. */
    class NamedActivationDense extends tf.layers.Layer {
      static readonly className: string = 'BayescompTestNamedActivationDense';
      private kernel?: tf.LayerVariable;
      constructor(
        readonly units: number,
        readonly activationName: string,
      ) {
        super({});
      }
      override build(inputShape: tf.Shape | tf.Shape[]): void {
        const n = (inputShape as tf.Shape)[1] as number;
        this.kernel = this.addWeight('kernel', [n, this.units], 'float32', tf.initializers.ones());
        this.built = true;
      }
      override computeOutputShape(inputShape: tf.Shape | tf.Shape[]): tf.Shape {
        return [(inputShape as tf.Shape)[0], this.units];
      }
      linear(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
        return tf.matMul(Array.isArray(inputs) ? inputs[0] : inputs, this.kernel!.read());
      }
      override call(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
        return tf.tidy(() => tf.softmax(this.linear(inputs)));
      }
      override getConfig(): tf.serialization.ConfigDict {
        return { ...super.getConfig(), units: this.units, activation: this.activationName };
      }
    }
    class WithHook extends NamedActivationDense {
      static override readonly className = 'BayescompTestWithHook';
      callWithoutActivation(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
        return this.linear(inputs);
      }
    }
    const build = (layer: tf.layers.Layer) => {
      const model = tf.sequential();
      model.add(tf.layers.dense({ inputShape: [3], units: 4, name: 'd' }));
      model.add(layer);
      return model;
    };
    const plain = build(new NamedActivationDense(2, 'softmax'));
    expect(() => splitOutputActivation(plain)).toThrow(BayescompError);
    expect(() => splitOutputActivation(plain)).toThrow(
      /cannot take the logits before the softmax folded into layer/,
    );
    const x = tf.randomNormal([3, 3], 0, 1, 'float32', 4);
    expectSplitReproduces(build(new WithHook(2, 'softmax')), x, 'softmax');
    x.dispose();
  });

  it('returns models that already produce logits unchanged', () => {
    const zoo = lenet300({ seed: 1 });
    expect(splitOutputActivation(zoo)).toEqual({ logits: zoo, outputActivation: 'linear' });
    const f = functionalWith('linear');
    expect(splitOutputActivation(f).logits).toBe(f);
    zoo.dispose();
  });

  it('shares weights both ways: changing one model changes the other', () => {
    const model = mlp({
      inputShape: [3],
      hiddenUnits: [4],
      numClasses: 2,
      outputActivation: 'softmax',
      seed: 8,
    });
    const { logits } = splitOutputActivation(model);
    expect(logits.trainableWeights.map((w) => w.name)).toEqual(model.trainableWeights.map((w) => w.name));
    // The same variables, not copies.
    logits.trainableWeights.forEach((w, i) => expect(w.read()).toBe(model.trainableWeights[i].read()));
    const x = tf.tensor2d([[0.5, -1, 2]]);
    const hidden = tf.tidy(() => tf.relu(model.getLayer('dense_1').apply(x) as tf.Tensor));
    // New last-layer weights set on the original: logits = h·W + b computed by hand.
    const w = tf.tensor2d([
      [1, -1],
      [0.5, 2],
      [-3, 0],
      [0.25, 0.75],
    ]);
    const b = tf.tensor1d([0.1, -0.2]);
    model.getLayer('dense_2').setWeights([w, b]);
    const expected = tf.tidy(() => tf.add(tf.matMul(hidden, w), b));
    const z = logits.predict(x) as tf.Tensor;
    expect(maxAbsDiff(z, expected)).toBeLessThan(1e-6);
    // And the other way round: setting weights through the logits model changes the original.
    logits.layers[logits.layers.length - 1].setWeights([tf.zeros([4, 2]), tf.tensor1d([1, 3])]);
    const p = model.predict(x) as tf.Tensor;
    const e = Math.exp(2);
    expect(Array.from(p.dataSync())).toEqual([
      expect.closeTo(1 / (1 + e), 6),
      expect.closeTo(e / (1 + e), 6),
    ]);
    tf.dispose([x, hidden, w, b, expected, z, p]);
    model.dispose();
  });

  it('gradients through the logits model reach the shared variables', () => {
    const model = mlp({
      inputShape: [3],
      hiddenUnits: [4],
      numClasses: 2,
      outputActivation: 'softmax',
      seed: 9,
    });
    const { logits } = splitOutputActivation(model);
    const x = tf.tensor2d([
      [1, 2, 3],
      [-1, 0, 1],
    ]);
    const kernel = model.getLayer('dense_2').trainableWeights[0];
    const { grads } = tf.variableGrads(
      () => tf.sum(logits.apply(x) as tf.Tensor) as tf.Scalar,
      [kernel.read() as tf.Variable],
    );
    // d Σ(hW + b) / dW = Σ_n h_n ⊗ 1.
    const expected = tf.tidy(() => {
      const h = tf.relu(model.getLayer('dense_1').apply(x) as tf.Tensor);
      return tf.matMul(tf.sum(h, 0, true), tf.ones([1, 2]), true, false);
    });
    expect(maxAbsDiff(grads[(kernel.read() as tf.Variable).name], expected)).toBeLessThan(1e-6);
    tf.dispose([x, expected, ...Object.values(grads)]);
    model.dispose();
  });

  it('disposing the logits model leaves the original usable and frees nothing', () => {
    const model = cnn({
      inputShape: [8, 8, 1],
      filters: [2],
      denseUnits: [3],
      outputActivation: 'softmax',
      seed: 2,
    });
    const before = tf.memory().numTensors;
    const { logits } = splitOutputActivation(model);
    logits.dispose();
    expect(tf.memory().numTensors).toBe(before);
    const y = model.predict(tf.ones([1, 8, 8, 1])) as tf.Tensor;
    expect(y.sum().dataSync()[0]).toBeCloseTo(1, 5);
    model.dispose();
  });

  it('serialises the logits model as ordinary layers with the original weight names', async () => {
    const model = mlp({
      inputShape: [3],
      hiddenUnits: [4],
      numClasses: 2,
      outputActivation: 'softmax',
      seed: 4,
    });
    const { logits } = splitOutputActivation(model);
    let saved: tf.io.ModelArtifacts | undefined;
    await logits.save(
      tf.io.withSaveHandler(async (a) => {
        saved = a;
        return { modelArtifactsInfo: tf.io.getModelArtifactsInfoForJSON(a) };
      }),
    );
    expect(saved!.weightSpecs!.map((s) => s.name)).toEqual([
      'dense_1/kernel',
      'dense_1/bias',
      'dense_2/kernel',
      'dense_2/bias',
    ]);
    const reloaded = await tf.loadLayersModel(tf.io.fromMemory(saved!));
    const x = tf.tensor2d([[0.3, -0.7, 1.1]]);
    expect(maxAbsDiff(reloaded.predict(x) as tf.Tensor, logits.predict(x) as tf.Tensor)).toBe(0);
    model.dispose();
    reloaded.dispose();
  });
});
