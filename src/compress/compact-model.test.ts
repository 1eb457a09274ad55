import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../runtime/backend.js';
import { decodeCompactModel, encodeCompactModel } from './compact-model.js';
import { dequantize, kmeansQuantize } from './quantize.js';

describe('compact model format', () => {
  beforeAll(async () => {
    await initBackend();
  });

  function model(): tf.LayersModel {
    const m = tf.sequential();
    m.add(
      tf.layers.conv2d({ inputShape: [8, 8, 1], filters: 3, kernelSize: 3, activation: 'relu', name: 'c' }),
    );
    m.add(tf.layers.flatten());
    m.add(
      tf.layers.dense({ units: 4, name: 'd', kernelInitializer: tf.initializers.glorotNormal({ seed: 1 }) }),
    );
    return m;
  }

  it('round-trips a pruned, quantised model to identical predictions, smaller than float32', async () => {
    const m = model();
    const dense = m.getLayer('d').getWeights()[0];
    const values = dense.dataSync() as Float32Array;
    const mask = Uint8Array.from(values, (v) => (Math.abs(v) > 0.1 ? 1 : 0));
    const kept = values.filter((_, i) => mask[i]);
    const q = kmeansQuantize(Float32Array.from(kept), 3);
    // The model we expect to get back: pruned and snapped weights.
    const d = dequantize(q);
    let k = 0;
    const snapped = values.map((v, i) => (mask[i] ? d[k++] : 0));
    m.getLayer('d').setWeights([tf.tensor(snapped, dense.shape), m.getLayer('d').getWeights()[1]]);
    const plan = new Map([['d/kernel', { mask, quantization: q }]]);
    const bytes = encodeCompactModel(m, plan);
    const back = await decodeCompactModel(bytes);
    const x = tf.randomUniform([3, 8, 8, 1], 0, 1, 'float32', 2);
    expect(Array.from((back.predict(x) as tf.Tensor).dataSync())).toEqual(
      Array.from((m.predict(x) as tf.Tensor).dataSync()),
    );
    // The same bytes at an odd offset of a larger buffer (a Node Buffer from a pool, as fs.readFile gives).
    const pool = Buffer.alloc(bytes.length + 3);
    pool.set(bytes, 1);
    const unaligned = await decodeCompactModel(pool.subarray(1, 1 + bytes.length));
    expect(Array.from((unaligned.predict(x) as tf.Tensor).dataSync())).toEqual(
      Array.from((m.predict(x) as tf.Tensor).dataSync()),
    );
    // The pruned 3-bit kernel (432 weights) takes far fewer bytes than its 1728 float32 bytes.
    const saved = encodeCompactModel(m).length - bytes.length;
    expect(saved).toBeGreaterThan(
      1728 - (Math.ceil(432 / 8) + 4 * 8 + Math.ceil((3 * kept.length) / 8)) - 200,
    );
  });

  it('rejects damaged files with a message naming the file', async () => {
    const bytes = encodeCompactModel(model());
    await expect(decodeCompactModel(bytes.subarray(0, bytes.length - 3), 'm.bcmp')).rejects.toThrow(
      /m\.bcmp: payload holds/,
    );
    const bad = Uint8Array.from(bytes);
    bad[0] = 0;
    await expect(decodeCompactModel(bad, 'm.bcmp')).rejects.toThrow(/bad magic/);
  });
});
