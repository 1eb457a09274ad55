import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../runtime/backend.js';
import { setGlobalSeed } from '../runtime/random.js';
import { BayescompError } from '../util/errors.js';
import { buildZooModel, cnn, lenet300, lenet5, mlp, ZOO_MODELS } from './zoo.js';

function weightsOf(model: tf.LayersModel): Float32Array[] {
  return model.getWeights().map((w) => w.dataSync() as Float32Array);
}

describe('model zoo', () => {
  beforeAll(async () => {
    await initBackend();
  });

  it('LeNet-300-100 has 784·300+300 + 300·100+100 + 100·10+10 = 266,610 parameters', () => {
    const model = lenet300({ seed: 1 });
    expect(model.countParams()).toBe(266_610);
    expect(model.layers.map((l) => l.name)).toEqual(['flatten', 'dense_1', 'dense_2', 'dense_3']);
    model.dispose();
  });

  it('LeNet-5-Caffe has 520 + 25,050 + 400,500 + 5,010 = 431,080 parameters and flattens to 800', () => {
    const model = lenet5({ seed: 1 });
    expect(model.countParams()).toBe(431_080);
    const names = model.layers.map((l) => l.name);
    expect(names).toEqual(['conv_1', 'pool_1', 'conv_2', 'pool_2', 'flatten', 'dense_1', 'dense_2']);
    expect(model.getLayer('flatten').outputShape).toEqual([null, 800]);
    expect(model.getLayer('conv_1').countParams()).toBe(5 * 5 * 1 * 20 + 20);
    expect(model.getLayer('conv_2').countParams()).toBe(5 * 5 * 20 * 50 + 50);
    model.dispose();
  });

  it('the same seed gives bit-identical weights, another seed different ones, and layers differ', () => {
    for (const build of [lenet300, lenet5, mlp, cnn]) {
      const a = build({ seed: 42 });
      const b = build({ seed: 42 });
      const c = build({ seed: 43 });
      const wa = weightsOf(a);
      const wb = weightsOf(b);
      const wc = weightsOf(c);
      expect(wa.length).toBe(wb.length);
      wa.forEach((w, i) => expect(Buffer.from(w.buffer).equals(Buffer.from(wb[i].buffer))).toBe(true));
      // Kernels (even indices) differ between seeds; biases start at zero.
      expect(Buffer.from(wa[0].buffer).equals(Buffer.from(wc[0].buffer))).toBe(false);
      wa.filter((_, i) => i % 2 === 1).forEach((bias) => expect(bias.every((v) => v === 0)).toBe(true));
      [a, b, c].forEach((m) => m.dispose());
    }
  });

  it('the global seed makes unseeded builds reproducible', () => {
    setGlobalSeed(7);
    const a = weightsOf(mlp({ hiddenUnits: [8], inputShape: [4], numClasses: 3 }));
    setGlobalSeed(7);
    const b = weightsOf(mlp({ hiddenUnits: [8], inputShape: [4], numClasses: 3 }));
    expect(Array.from(a[0])).toEqual(Array.from(b[0]));
    expect(Array.from(a[2])).toEqual(Array.from(b[2]));
  });

  it('glorot-uniform kernels stay within ±sqrt(6/(fan_in+fan_out))', () => {
    const model = lenet300({ seed: 3 });
    const kernel = model.getLayer('dense_1').getWeights()[0].dataSync();
    const limit = Math.sqrt(6 / (784 + 300));
    let maxAbs = 0;
    let sumSq = 0;
    for (const v of kernel) {
      maxAbs = Math.max(maxAbs, Math.abs(v));
      sumSq += v * v;
    }
    expect(maxAbs).toBeLessThanOrEqual(limit);
    // Variance of U(-l, l) is l²/3.
    expect(sumSq / kernel.length).toBeCloseTo((limit * limit) / 3, 4);
    model.dispose();
  });

  it('produces [batch, numClasses] logits by default and probabilities with softmax', () => {
    const x = tf.randomUniform([3, 28, 28, 1], 0, 1, 'float32', 5);
    for (const name of ['lenet300', 'lenet5', 'mlp', 'cnn']) {
      const logitsModel = buildZooModel(name, { seed: 9 });
      const probModel = buildZooModel(name, { seed: 9, outputActivation: 'softmax' });
      const logits = logitsModel.predict(x) as tf.Tensor;
      const probs = probModel.predict(x) as tf.Tensor;
      expect(logits.shape).toEqual([3, 10]);
      const expected = tf.softmax(logits);
      const diff = tf.max(tf.abs(tf.sub(expected, probs))).dataSync()[0];
      expect(diff).toBeLessThan(1e-6);
      // Logits are not normalised: rows do not sum to 1.
      const rowSums = tf.sum(logits, 1).dataSync();
      expect(rowSums.some((s) => Math.abs(s - 1) > 1e-3)).toBe(true);
      tf.dispose([logits, probs, expected]);
      logitsModel.dispose();
      probModel.dispose();
    }
    x.dispose();
  });

  it('honours options: input shape, classes, hidden sizes, dropout, filters', () => {
    const m = mlp({
      inputShape: [5],
      numClasses: 3,
      hiddenUnits: [7, 6],
      dropout: 0.5,
      activation: 'tanh',
      seed: 1,
    });
    expect(m.layers.map((l) => l.getClassName())).toEqual(['Dense', 'Dropout', 'Dense', 'Dropout', 'Dense']);
    expect(m.countParams()).toBe(5 * 7 + 7 + 7 * 6 + 6 + 6 * 3 + 3);
    expect(m.outputShape).toEqual([null, 3]);
    const c = cnn({
      inputShape: [8, 8, 2],
      filters: [4],
      kernelSize: 3,
      denseUnits: [5],
      numClasses: 2,
      seed: 1,
    });
    // same padding: 8×8 → pool → 4×4×4 = 64 → 5 → 2
    expect(c.countParams()).toBe(3 * 3 * 2 * 4 + 4 + 64 * 5 + 5 + 5 * 2 + 2);
    [m, c].forEach((model) => model.dispose());
  });

  it('LeNets with dropout put Dropout on each hidden representation entering a Dense layer, same weights', () => {
    const l300 = lenet300({ seed: 4, dropout: 0.5 });
    expect(l300.layers.map((l) => l.name)).toEqual([
      'flatten',
      'dense_1',
      'dropout_1',
      'dense_2',
      'dropout_2',
      'dense_3',
    ]);
    const l5 = buildZooModel('lenet5', { seed: 4, dropout: 0.25 });
    expect(l5.layers.map((l) => l.name)).toEqual([
      'conv_1',
      'pool_1',
      'conv_2',
      'pool_2',
      'flatten',
      'dropout_1',
      'dense_1',
      'dropout_2',
      'dense_2',
    ]);
    expect((l5.getLayer('dropout_1').getConfig() as { rate: number }).rate).toBe(0.25);
    // Dropout has no weights and draws nothing at construction: the same seed gives the plain LeNet's weights, and
    // in inference mode the same outputs.
    const plain300 = lenet300({ seed: 4 });
    const plain5 = lenet5({ seed: 4 });
    expect(l300.countParams()).toBe(266_610);
    expect(l5.countParams()).toBe(431_080);
    expect(weightsOf(l300)).toEqual(weightsOf(plain300));
    expect(weightsOf(l5)).toEqual(weightsOf(plain5));
    const x = tf.randomUniform([3, 28, 28, 1], 0, 1, 'float32', 7);
    const a = l5.predict(x) as tf.Tensor;
    const b = plain5.predict(x) as tf.Tensor;
    expect(tf.max(tf.abs(tf.sub(a, b))).dataSync()[0]).toBe(0);
    // In training mode half of the flattened activations are dropped: the outputs change.
    const c = l5.apply(x, { training: true }) as tf.Tensor;
    expect(tf.max(tf.abs(tf.sub(c, b))).dataSync()[0]).toBeGreaterThan(1e-3);
    tf.dispose([x, a, b, c]);
    [l300, l5, plain300, plain5].forEach((m) => m.dispose());
  });

  it('rejects unknown names and impossible options with a BayescompError', () => {
    expect(() => buildZooModel('resnet')).toThrow(BayescompError);
    expect(() => buildZooModel('resnet')).toThrow(/unknown zoo model 'resnet'/);
    expect(() => lenet5({ inputShape: [784] })).toThrow(/input shape/);
    expect(() => lenet5({ inputShape: [8, 8, 1] })).toThrow(/too small/);
    expect(() => mlp({ dropout: 1 })).toThrow(/dropout/);
    expect(ZOO_MODELS.map((m) => m.name)).toEqual(['lenet300', 'lenet5', 'mlp', 'cnn']);
  });
});
