import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../runtime/backend.js';
import { Random } from '../runtime/random.js';
import { shrinkModel } from './structured.js';

function convNet(seed: number, padding: 'valid' | 'same'): tf.Sequential {
  const m = tf.sequential();
  m.add(
    tf.layers.conv2d({
      inputShape: [10, 10, 2],
      filters: 4,
      kernelSize: 3,
      activation: 'relu',
      name: 'c1',
      padding,
    }),
  );
  m.add(tf.layers.maxPooling2d({ poolSize: 2 }));
  m.add(tf.layers.conv2d({ filters: 3, kernelSize: 2, activation: 'relu', name: 'c2', padding: 'valid' }));
  m.add(tf.layers.flatten());
  m.add(tf.layers.dense({ units: 6, activation: 'relu', name: 'd1' }));
  m.add(tf.layers.dropout({ rate: 0.5 }));
  m.add(tf.layers.dense({ units: 3, name: 'd2' }));
  const r = new Random(seed);
  for (const layer of m.layers) {
    const ws = layer.getWeights();
    if (ws.length)
      layer.setWeights(
        ws.map((w) =>
          tf.tensor(
            Array.from({ length: w.size }, () => r.normal() * 0.5),
            w.shape,
          ),
        ),
      );
  }
  return m;
}

/** Sets entries of a layer's weight `index` through a callback on the flat array. */
function edit(
  m: tf.LayersModel,
  name: string,
  index: number,
  f: (a: Float32Array, shape: number[]) => void,
): void {
  const layer = m.getLayer(name);
  const ws = layer.getWeights().map((w) => ({ a: Float32Array.from(w.dataSync()), shape: w.shape }));
  f(ws[index].a, ws[index].shape);
  layer.setWeights(ws.map((w) => tf.tensor(w.a, w.shape)));
}

describe('shrinkModel (structured pruning)', () => {
  beforeAll(async () => {
    await initBackend();
  });

  it('removes dead filters and units and predicts exactly what the masked model predicts', async () => {
    const model = convNet(1, 'valid');
    // c1 filter 1: no incoming weights, bias 0.3 → constant relu(0.3) folded into c2's bias ('valid' conv: exact).
    edit(model, 'c1', 0, (k) => k.forEach((_, i) => i % 4 === 1 && (k[i] = 0)));
    edit(model, 'c1', 1, (b) => (b[1] = 0.3));
    // d1 unit 2: no outgoing weights in d2.
    edit(model, 'd2', 0, (k) => k.fill(0, 2 * 3, 3 * 3));
    // c2 filter 0 removed by a group mask: the reference model zeroes its outgoing weights (every 3rd row of d1).
    const reference = convNet(1, 'valid');
    reference.setWeights(model.getWeights());
    edit(reference, 'd1', 0, (k) => {
      for (let r = 0; r < k.length / 6; r++) if (r % 3 === 0) k.fill(0, r * 6, (r + 1) * 6);
    });
    const { model: small, layers } = await shrinkModel(model, {
      unitMasks: { c2: Uint8Array.from([0, 1, 1]) },
    });
    expect(layers).toEqual([
      { name: 'c1', before: 4, after: 3 },
      { name: 'c2', before: 3, after: 2 },
      { name: 'd1', before: 6, after: 5 },
      { name: 'd2', before: 3, after: 3 },
    ]);
    expect(small.countParams()).toBeLessThan(model.countParams());
    const x = tf.randomNormal([5, 10, 10, 2], 0, 1, 'float32', 7);
    const expected = (reference.predict(x) as tf.Tensor).arraySync() as number[][];
    const got = (small.predict(x) as tf.Tensor).arraySync() as number[][];
    got.forEach((row, i) => row.forEach((v, j) => expect(v).toBeCloseTo(expected[i][j], 5)));
  });

  it("keeps a dead filter with a non-zero constant before a 'same' convolution (folding would be inexact)", async () => {
    const m = tf.sequential();
    m.add(
      tf.layers.conv2d({
        inputShape: [6, 6, 1],
        filters: 2,
        kernelSize: 3,
        activation: 'relu',
        name: 'a',
        padding: 'same',
      }),
    );
    m.add(tf.layers.conv2d({ filters: 2, kernelSize: 3, name: 'b', padding: 'same' }));
    edit(m, 'a', 0, (k) => k.forEach((_, i) => i % 2 === 0 && (k[i] = 0)));
    edit(m, 'a', 1, (b) => (b[0] = 0.5));
    const { layers } = await shrinkModel(m);
    expect(layers[0]).toEqual({ name: 'a', before: 2, after: 2 });
    edit(m, 'a', 1, (b) => (b[0] = -0.5)); // relu(−0.5) = 0: now removable exactly
    const shrunk = await shrinkModel(m);
    expect(shrunk.layers[0]).toEqual({ name: 'a', before: 2, after: 1 });
    const x = tf.randomNormal([2, 6, 6, 1], 0, 1, 'float32', 3);
    const a = (m.predict(x) as tf.Tensor).dataSync();
    const b = (shrunk.model.predict(x) as tf.Tensor).dataSync();
    a.forEach((v, i) => expect(b[i]).toBeCloseTo(v, 5));
  });

  it('refuses models that are not a chain', async () => {
    const input = tf.input({ shape: [4] });
    const a = tf.layers.dense({ units: 3 }).apply(input) as tf.SymbolicTensor;
    const b = tf.layers.dense({ units: 3 }).apply(input) as tf.SymbolicTensor;
    const out = tf.layers.add().apply([a, b]) as tf.SymbolicTensor;
    await expect(shrinkModel(tf.model({ inputs: input, outputs: out }))).rejects.toThrow(
      /structured pruning/,
    );
  });
});
