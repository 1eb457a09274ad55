import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { lenet300 } from '../models/zoo.js';
import { initBackend } from '../runtime/backend.js';
import { Random } from '../runtime/random.js';
import { decodeCompactModel, encodeCompactModel } from './compact-model.js';
import { kmeansQuantize } from './quantize.js';
import { chooseDensePath, SparseInferenceModel } from './sparse-inference.js';
import { shrinkModel } from './structured.js';

/** Random weights (normal · scale) and biases; kernels keep each weight with probability density[layer]. */
function prune(model: tf.LayersModel, seed: number, density: Record<string, number>): void {
  const r = new Random(seed);
  for (const layer of model.layers) {
    const ws = layer.getWeights();
    if (!ws.length) continue;
    const keep = density[layer.name] ?? 1;
    const values = ws.map((w, i) =>
      tf.tensor(
        Array.from({ length: w.size }, () => {
          const v = r.normal() * (i === 0 ? 0.4 : 0.1);
          return i === 0 && r.uniform() >= keep ? 0 : v;
        }),
        w.shape,
      ),
    );
    layer.setWeights(values);
    tf.dispose(values);
  }
}

function mlp(): tf.Sequential {
  const m = tf.sequential();
  m.add(tf.layers.flatten({ inputShape: [6, 5, 1], name: 'flatten' }));
  m.add(tf.layers.dense({ units: 24, activation: 'relu', name: 'd1' }));
  m.add(tf.layers.dropout({ rate: 0.3, name: 'drop' }));
  m.add(tf.layers.dense({ units: 17, name: 'd2' }));
  m.add(tf.layers.activation({ activation: 'tanh', name: 'act' }));
  m.add(tf.layers.dense({ units: 5, name: 'd3' }));
  return m;
}

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let d = 0;
  for (let i = 0; i < a.length; i++) d = Math.max(d, Math.abs(a[i] - b[i]));
  return d;
}

/** TF.js logits and the sparse model's on the same batch. */
function both(model: tf.LayersModel, sparse: SparseInferenceModel, batch: number, seed: number) {
  return tf.tidy(() => {
    const x = tf.randomNormal([batch, ...sparse.inputShape], 0, 1, 'float32', seed);
    const want = (model.predict(x) as tf.Tensor).dataSync();
    const got = sparse.predictArray(x.dataSync() as Float32Array, batch);
    return { want, got };
  });
}

describe('SparseInferenceModel', () => {
  beforeAll(async () => {
    await initBackend();
  });

  it('predicts the masked TF.js model’s logits within 1e-5 (random masks, SIMD and JavaScript, batches 1–150)', () => {
    const model = mlp();
    prune(model, 1, { d1: 0.1, d2: 0.3, d3: 0.6 });
    for (const kernels of ['simd', 'javascript'] as const) {
      const sparse = SparseInferenceModel.fromLayersModel(model, { kernels, densePath: 'sparse' });
      expect(sparse.kernelKind).toBe(kernels);
      expect(sparse.describe(32).map((l) => l.path)).toEqual(Array(6).fill('sparse'));
      // 1 (a padded tile of 4), 13 (tile of 16), 150 (two full tiles of 64 and one of 22 padded to 24)
      for (const batch of [1, 13, 150]) {
        const { want, got } = both(model, sparse, batch, batch);
        expect(maxAbsDiff(got, want)).toBeLessThan(1e-5);
      }
    }
    // The reported densities are those of the masks.
    const info = SparseInferenceModel.fromLayersModel(model).describe();
    const d1 = info.find((l) => l.name === 'd1')!;
    const kept = (model.getLayer('d1').getWeights()[0].dataSync() as Float32Array).filter(
      (v) => v !== 0,
    ).length;
    expect(d1.kept).toBe(kept);
    expect(d1.density).toBeCloseTo(kept / (30 * 24), 12);
    expect(d1.density!).toBeGreaterThan(0.05);
    expect(d1.density!).toBeLessThan(0.15);
  });

  it('runs TF.js for layers it does not cover and for Dense layers forced dense, with the same logits', () => {
    const m = tf.sequential();
    m.add(
      tf.layers.conv2d({ inputShape: [9, 9, 2], filters: 3, kernelSize: 3, activation: 'relu', name: 'c1' }),
    );
    m.add(tf.layers.maxPooling2d({ poolSize: 2, name: 'p1' }));
    m.add(tf.layers.flatten({ name: 'flatten' }));
    m.add(tf.layers.dense({ units: 20, activation: 'relu', name: 'd1' }));
    m.add(tf.layers.dense({ units: 4, activation: 'softmax', name: 'd2' }));
    prune(m, 2, { d1: 0.05, d2: 0.5 });
    const hybrid = SparseInferenceModel.fromLayersModel(m, { densePath: 'sparse' });
    // The convolution and pooling run in TF.js, the flatten (a no-op on channels-last data) and dense tail sparse.
    expect(hybrid.describe(8).map((l) => `${l.name}:${l.path}`)).toEqual([
      'c1:tfjs',
      'p1:tfjs',
      'flatten:sparse',
      'd1:sparse',
      'd2:sparse',
    ]);
    const allTf = SparseInferenceModel.fromLayersModel(m, { densePath: 'tfjs' });
    expect(allTf.describe(8).every((l) => l.path === 'tfjs')).toBe(true);
    for (const s of [hybrid, allTf]) {
      const { want, got } = both(m, s, 70, 4);
      expect(maxAbsDiff(got, want)).toBeLessThan(1e-6); // softmax outputs
    }
  });

  it('predicts the same logits on a structured-pruned network, masked or shrunk by shrinkModel', async () => {
    const model = mlp();
    prune(model, 3, { d1: 0.5, d2: 0.5 });
    // Remove d1 units 0–9 and d2 units 3–7 as group pruning does: their outgoing weights are zero.
    const edit = (name: string, rows: number[]) => {
      const layer = model.getLayer(name);
      const [k, b] = layer.getWeights();
      const v = Float32Array.from(k.dataSync());
      const cols = k.shape[1] as number;
      for (const r of rows) v.fill(0, r * cols, (r + 1) * cols);
      layer.setWeights([tf.tensor(v, k.shape), b]);
    };
    edit('d2', [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    edit('d3', [3, 4, 5, 6, 7]);
    const { model: small, layers } = await shrinkModel(model);
    expect(layers.map((l) => l.after)).toEqual([14, 12, 5]);
    const fromMasked = SparseInferenceModel.fromLayersModel(model, { densePath: 'sparse' });
    const fromShrunk = SparseInferenceModel.fromLayersModel(small, { densePath: 'sparse' });
    for (const s of [fromMasked, fromShrunk]) {
      const { want, got } = both(model, s, 40, 9);
      expect(maxAbsDiff(got, want)).toBeLessThan(1e-5);
    }
    // The masked model's d2 stores only the weights of live units: the shrunk one has the same kept count.
    const keptOf = (s: SparseInferenceModel) => s.describe().find((l) => l.name === 'd2')!.kept;
    expect(keptOf(fromShrunk)).toBe(keptOf(fromMasked));
  });

  it('loads straight from the compact .bcmp format (pruned + 3-bit codebook) and predicts its logits', async () => {
    const model = mlp();
    prune(model, 5, { d1: 0.2, d2: 0.4, d3: 0.7 });
    const plan = new Map<string, { mask: Uint8Array; quantization?: ReturnType<typeof kmeansQuantize> }>();
    for (const name of ['d1', 'd2', 'd3']) {
      const values = model.getLayer(name).getWeights()[0].dataSync() as Float32Array;
      const mask = Uint8Array.from(values, (v) => (v !== 0 ? 1 : 0));
      const kept = Float32Array.from(values.filter((v) => v !== 0));
      plan.set(`${name}/kernel`, { mask, quantization: name === 'd1' ? kmeansQuantize(kept, 3) : undefined });
    }
    const bytes = encodeCompactModel(model, plan);
    const reference = await decodeCompactModel(bytes, 'm.bcmp');
    const sparse = await decodeCompactModel(bytes, 'm.bcmp', { inference: 'sparse' });
    expect(sparse).toBeInstanceOf(SparseInferenceModel);
    const kept = sparse.describe().find((l) => l.name === 'd1')!.kept;
    expect(kept).toBe(plan.get('d1/kernel')!.mask.reduce((s, m) => s + m, 0));
    const { want, got } = both(reference, sparse, 33, 6);
    expect(maxAbsDiff(got, want)).toBeLessThan(1e-5);
    // The tensor path of the loader is unchanged and also agrees.
    const out = tf.tidy(() => sparse.predict(tf.ones([2, 6, 5, 1])).arraySync() as number[][]);
    const ref = tf.tidy(
      () => (reference.predict(tf.ones([2, 6, 5, 1])) as tf.Tensor).arraySync() as number[][],
    );
    out.flat().forEach((v, i) => expect(Math.abs(v - ref.flat()[i])).toBeLessThan(1e-5));
  });

  it('leaks no tensors over repeated predictions, and refuses a wrong input size', () => {
    const model = mlp();
    prune(model, 7, { d1: 0.1 });
    const sparse = SparseInferenceModel.fromLayersModel(model, { densePath: 'tfjs' });
    const x = new Float32Array(3 * 30).fill(0.5);
    sparse.predictArray(x, 3);
    const before = tf.memory().numTensors;
    for (let i = 0; i < 5; i++) sparse.predictArray(x, 3);
    expect(tf.memory().numTensors).toBe(before);
    expect(() => sparse.predictArray(x, 4)).toThrow(/expected 4 × 30 input values, got 90/);
  });

  it('the measured cost model: crossover near 50% density at batch 1000, near 25% at batch 1', () => {
    const n = 784 * 300;
    // LeNet-300-100's first layer: Sparse VD's 2.6% → sparse at every batch size; 70% → TF.js.
    for (const batch of [1, 32, 1000]) {
      expect(chooseDensePath(784, 300, Math.round(0.026 * n), batch)).toBe('sparse');
      expect(chooseDensePath(784, 300, Math.round(0.7 * n), batch)).toBe('tfjs');
    }
    expect(chooseDensePath(784, 300, Math.round(0.4 * n), 1000)).toBe('sparse');
    expect(chooseDensePath(784, 300, Math.round(0.4 * n), 1)).toBe('tfjs');
    // A small dense layer (100 × 10, all weights kept) at batch 1: the TF.js call costs more than 1000 multiply-adds.
    expect(chooseDensePath(100, 10, 1000, 1)).toBe('sparse');
  });

  it('chooses paths over the whole chain: a small last layer stays sparse where alone it would not', () => {
    // LeNet-300-100 at Sparse VD's layer densities, batch 1000.
    const model = lenet300({ seed: 2 });
    prune(model, 8, { dense_1: 0.026, dense_2: 0.048, dense_3: 0.54 });
    const sparse = SparseInferenceModel.fromLayersModel(model);
    const info = sparse.describe(1000);
    const d3 = info.find((l) => l.name === 'dense_3')!;
    // On its own, dense_3 (100 → 10) would go to TF.js: its crossing in and out of the tiles costs more.
    expect(chooseDensePath(100, 10, d3.kept!, 1000)).toBe('tfjs');
    // After dense_1 and dense_2 on the sparse path, leaving it costs a crossing of 100 features and a call: it stays.
    expect(info.map((l) => l.path)).toEqual(['sparse', 'sparse', 'sparse', 'sparse']);
    const { want, got } = both(model, sparse, 100, 12);
    expect(maxAbsDiff(got, want)).toBeLessThan(1e-5);
  });
});
