import * as tf from '@tensorflow/tfjs';
import { mkdtemp, readFile, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { decodeCompactModel } from '../../compress/compact-model.js';
import { loadImageDataset } from '../../data/image-datasets.js';
import { initBackend } from '../../runtime/backend.js';
import { runCliCaptured } from '../test-utils.js';

/** Loads a saved model the way stock TF.js does from artefacts in memory (no bayescomp loader involved). */
async function loadStock(dir: string): Promise<tf.LayersModel> {
  const json = JSON.parse(await readFile(join(dir, 'model.json'), 'utf8')) as tf.io.ModelJSON;
  const weights = await readFile(join(dir, 'weights.bin'));
  const specs = json.weightsManifest.flatMap((g) => g.weights);
  const data = weights.buffer.slice(weights.byteOffset, weights.byteOffset + weights.byteLength);
  return tf.loadLayersModel(tf.io.fromMemory(json.modelTopology, specs, data));
}

describe('bayescomp prune / quantize / export', () => {
  let run: string;
  let x: tf.Tensor;

  beforeAll(async () => {
    await initBackend();
    const dir = await mkdtemp(join(tmpdir(), 'bayescomp-compress-'));
    run = join(dir, 'svd');
    const trained = await runCliCaptured([
      'train',
      '--model',
      'mlp',
      '--data',
      'fashion-mnist-subset',
      '--method',
      'sparse-vd',
      '--epochs',
      '2',
      '--kl-weight',
      'warmup:0:1',
      '--out',
      run,
      '--progress',
      'none',
      '--eval-samples',
      '2',
    ]);
    expect(trained.code).toBe(0);
    const test = (await loadImageDataset('fashion-mnist-subset')).test!;
    x = tf.tensor(test.x.subarray(0, 200 * 784), [200, 28, 28, 1]);
  });

  it('--keep-float leaves the named layer at float32 and quantises the others; an unknown layer is refused', async () => {
    const quantize = async (keep: string) => {
      const out = await mkdtemp(join(tmpdir(), 'bayescomp-keepfloat-'));
      const r = await runCliCaptured([
        'quantize',
        run,
        '--out',
        out,
        '--method',
        'kmeans',
        '--bits',
        '2',
        '--keep-float',
        keep,
        '--json',
      ]);
      return { r, out };
    };
    const first = (await loadStock(join(run, 'model'))).layers.find((l) => l.getWeights().length > 0);
    // The run's saved model is Bayesian; its first Dense layer's name is the one the report uses.
    const { r, out } = await quantize(first!.name);
    expect(r.err).not.toMatch(/internal error/);
    expect(r.code).toBe(0);
    const result = JSON.parse(r.out) as { rows: { layer: string; kept: number; bitsPerWeight?: number }[] };
    const [kept, ...others] = result.rows;
    expect(kept.layer).toBe(first!.name);
    expect(kept.bitsPerWeight).toBeUndefined();
    expect(others.map((row) => row.bitsPerWeight)).toEqual(others.map(() => 2));
    const model = await loadStock(join(out, 'model'));
    const distinct = (layer: tf.layers.Layer) => new Set(layer.getWeights()[0].dataSync()).size;
    const dense = model.layers.filter((l) => l.getWeights().length > 0);
    // float32 kept weights are (almost) all different; a 2-bit codebook gives at most 4 values and the pruned zeros.
    expect(distinct(dense[0])).toBeGreaterThan(Math.min(100, kept.kept / 2));
    for (const layer of dense.slice(1)) expect(distinct(layer)).toBeLessThanOrEqual(5);
    const unknown = await quantize('no_such_layer');
    expect(unknown.r.code).toBe(2);
    expect(unknown.r.err).toMatch(/--keep-float: no Dense\/Conv2D layer named 'no_such_layer'/);
  });

  it('--finetune trains through the 2-bit snap: same masks and code width, the compact file decodes to the tfjs one', async () => {
    const quantize = async (out: string, ...extra: string[]) =>
      runCliCaptured([
        'export',
        run,
        '--out',
        out,
        '--method',
        'kmeans',
        '--bits',
        '2',
        '--format',
        'all',
        '--json',
        ...extra,
      ]);
    const plainOut = await mkdtemp(join(tmpdir(), 'bayescomp-snap-'));
    const plain = await quantize(plainOut, '--data', 'fashion-mnist-subset');
    expect(plain.code).toBe(0);
    const tunedOut = await mkdtemp(join(tmpdir(), 'bayescomp-finetune-'));
    const tuned = await quantize(
      tunedOut,
      '--data',
      'fashion-mnist-subset',
      '--finetune',
      '2',
      '--finetune-lr',
      '1e-3',
    );
    expect(tuned.err).not.toMatch(/internal error/);
    expect(tuned.code).toBe(0);
    expect(tuned.err).toMatch(/fine-tuning epoch 2: loss [\d.]+, test accuracy [\d.]+%/);
    type Result = {
      rows: { kept: number; bitsPerWeight?: number }[];
      finetune?: { epochs: number; losses: number[]; accuracy: number[] };
      metrics: { quantized: { accuracy: number } };
    };
    const before = JSON.parse(plain.out) as Result;
    const after = JSON.parse(tuned.out) as Result;
    expect(after.rows.map((r) => [r.kept, r.bitsPerWeight])).toEqual(before.rows.map((r) => [r.kept, 2]));
    expect(after.finetune?.epochs).toBe(2);
    expect(after.finetune!.losses[1]).toBeLessThan(after.finetune!.losses[0]);
    expect(after.finetune!.accuracy[1]).toBe(after.metrics.quantized.accuracy);
    // Each layer holds at most 4 codebook values (plus the pruned zeros), and the compact file decodes to it.
    const stock = await loadStock(join(tunedOut, 'model'));
    for (const layer of stock.layers.filter((l) => l.getWeights().length > 0))
      expect(new Set(layer.getWeights()[0].dataSync()).size).toBeLessThanOrEqual(5);
    const compact = await decodeCompactModel(await readFile(join(tunedOut, 'model.bcmp')));
    const expected = stock.predict(x) as tf.Tensor;
    const decoded = compact.predict(x) as tf.Tensor;
    expect(Array.from(decoded.dataSync())).toEqual(Array.from(expected.dataSync()));
    tf.dispose([expected, decoded]);
    const refused = await quantize(tunedOut, '--finetune', '1');
    expect(refused.code).toBe(2);
    expect(refused.err).toMatch(/--finetune needs --method vnq, uniform or kmeans and --data/);
  });

  it('exports three formats that predict the same, with byte counts equal to the files', async () => {
    const out = await mkdtemp(join(tmpdir(), 'bayescomp-export-'));
    const r = await runCliCaptured([
      'export',
      run,
      '--out',
      out,
      '--data',
      'fashion-mnist-subset',
      '--method',
      'kmeans',
      '--bits',
      '3',
      '--json',
    ]);
    expect(r.err).not.toMatch(/internal error/);
    expect(r.code).toBe(0);
    const result = JSON.parse(r.out) as {
      bytes: { tfjs: number; shrunk: number; compact: number };
      rows: { bitsPerWeight?: number }[];
      totals: { weights: number; kept: number; compressionRatio: number; bitCompressionRatio?: number };
      metrics: { pruned: { accuracy: number }; quantized: { accuracy: number } };
      units: { name: string; before: number; after: number }[];
    };
    // 3-bit k-means: every kernel is reported at 3 bits per kept weight, and the bit ratio follows.
    expect(result.rows.map((row) => row.bitsPerWeight)).toEqual(result.rows.map(() => 3));
    expect(result.totals.bitCompressionRatio).toBeCloseTo(
      (32 * result.totals.weights) / (3 * result.totals.kept),
      9,
    );
    const masked = await loadStock(join(out, 'model'));
    const shrunk = await loadStock(join(out, 'shrunk'));
    const compact = await decodeCompactModel(new Uint8Array(await readFile(join(out, 'model.bcmp'))));
    const reference = (masked.predict(x) as tf.Tensor).dataSync();
    // The compact format stores the same float32 codebook values at the same positions: bit-identical predictions.
    expect(Array.from((compact.predict(x) as tf.Tensor).dataSync())).toEqual(Array.from(reference));
    // Removing dead units changes only the summation order.
    const s = (shrunk.predict(x) as tf.Tensor).dataSync();
    s.forEach((v, i) => expect(v).toBeCloseTo(reference[i], 4));
    expect(shrunk.countParams()).toBeLessThan(masked.countParams());
    expect(result.units.find((u) => u.name === 'dense_1')!.after).toBeLessThan(
      result.units.find((u) => u.name === 'dense_1')!.before,
    );
    // Byte counts are the files' sizes.
    const size = async (...p: string[]) => (await stat(join(out, ...p))).size;
    expect(result.bytes.tfjs).toBe(
      (await size('model', 'model.json')) + (await size('model', 'weights.bin')),
    );
    expect(result.bytes.shrunk).toBe(
      (await size('shrunk', 'model.json')) + (await size('shrunk', 'weights.bin')),
    );
    expect(result.bytes.compact).toBe(await size('model.bcmp'));
    expect(result.bytes.compact).toBeLessThan(result.bytes.tfjs / 3);
    // Kept weights: every non-zero kernel entry of the exported model, and nothing else.
    let nonZero = 0;
    for (const layer of masked.layers) {
      const w = layer.getWeights();
      if (w.length) nonZero += Array.from(w[0].dataSync()).filter((v) => v !== 0).length;
    }
    expect(nonZero).toBeLessThanOrEqual(result.totals.kept);
    expect(result.totals.compressionRatio).toBeCloseTo(result.totals.weights / result.totals.kept, 9);
    expect(result.metrics.quantized.accuracy).toBeGreaterThan(result.metrics.pruned.accuracy - 0.05);
  });

  it('prunes to a target sparsity with magnitude or SNR and finds the sparsity for a maximum accuracy drop', async () => {
    const out = await mkdtemp(join(tmpdir(), 'bayescomp-prune-'));
    const fixed = await runCliCaptured([
      'prune',
      run,
      '--out',
      out,
      '--criterion',
      'snr',
      '--sparsity',
      '0.8',
      '--json',
    ]);
    expect(fixed.code).toBe(0);
    const f = JSON.parse(fixed.out) as { totals: { weights: number; kept: number } };
    expect(f.totals.kept).toBe(f.totals.weights - Math.round(0.8 * f.totals.weights));
    const out2 = await mkdtemp(join(tmpdir(), 'bayescomp-prune2-'));
    const search = await runCliCaptured([
      'prune',
      run,
      '--out',
      out2,
      '--criterion',
      'magnitude',
      '--max-accuracy-drop',
      '0.01',
      '--data',
      'fashion-mnist-subset',
      '--json',
    ]);
    expect(search.code).toBe(0);
    const s = JSON.parse(search.out) as {
      metrics: { before: { accuracy: number }; pruned: { accuracy: number } };
      totals: { weights: number; kept: number };
    };
    expect(s.metrics.before.accuracy - s.metrics.pruned.accuracy).toBeLessThanOrEqual(0.01 + 1e-9);
    expect(s.totals.kept).toBeLessThan(s.totals.weights * 0.9);
  });

  it('exports a quantize output as it is: same predictions, same kept weights, and refuses to quantise it again', async () => {
    const quantized = await mkdtemp(join(tmpdir(), 'bayescomp-q-'));
    const q = await runCliCaptured(['quantize', run, '--out', quantized, '--json']);
    expect(q.code).toBe(0);
    const qKept = (JSON.parse(q.out) as { totals: { kept: number } }).totals.kept;
    const out = await mkdtemp(join(tmpdir(), 'bayescomp-qexport-'));
    const r = await runCliCaptured(['export', quantized, '--out', out, '--json']);
    expect(r.err).not.toMatch(/internal error/);
    expect(r.code).toBe(0);
    const result = JSON.parse(r.out) as { totals: { kept: number }; quantization?: string };
    expect(result.quantization).toBeUndefined();
    // Only the zeros the quantize step wrote are pruned: the kept count is the one quantize reported.
    expect(result.totals.kept).toBe(qKept);
    const reference = (await loadStock(join(quantized, 'model'))).predict(x) as tf.Tensor;
    const masked = (await loadStock(join(out, 'model'))).predict(x) as tf.Tensor;
    const compact = await decodeCompactModel(new Uint8Array(await readFile(join(out, 'model.bcmp'))));
    expect(Array.from(masked.dataSync())).toEqual(Array.from(reference.dataSync()));
    expect(Array.from((compact.predict(x) as tf.Tensor).dataSync())).toEqual(
      Array.from(reference.dataSync()),
    );
    const again = await runCliCaptured(['quantize', quantized, '--out', join(out, 'again')]);
    expect(again.code).not.toBe(0);
    expect(again.err).toMatch(/already quantised/);
  });
});
