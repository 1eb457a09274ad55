import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import type { Dataset } from '../data/dataset.js';
import { initBackend } from '../runtime/backend.js';
import { Random } from '../runtime/random.js';
import { quantizeKernels } from './quantize-kernels.js';
import { finetuneQuantized } from './quantized-finetune.js';

beforeAll(async () => {
  await initBackend();
});

const R = 0.5;
const CODEBOOK = Float32Array.from([-R, 0, R]);
// A ternary 6→3 map; the last row is pruned by the mask although its true values are not all 0.
const W_TRUE = Float32Array.from([R, 0, -R, -R, R, 0, 0, R, R, R, -R, 0, -R, 0, R, R, R, -R]);
const MASK = Uint8Array.from([1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0]);
// Start ±0.3 from the truth, so that snapping alone puts some weights on the wrong level.
const START = W_TRUE.map((w, i) =>
  MASK[i] ? w + (i % 2 === 0 ? 0.3 : -0.3) * (w === 0 ? 1 : -Math.sign(w)) : 0,
);

function regression(n: number): Dataset {
  const random = new Random(3);
  const x = new Float32Array(n * 6).map(() => random.normal());
  const y = new Float32Array(n * 3);
  for (let i = 0; i < n; i++)
    for (let j = 0; j < 3; j++) {
      let s = 0.1 * (j + 1);
      for (let k = 0; k < 6; k++) s += x[i * 6 + k] * W_TRUE[k * 3 + j] * MASK[k * 3 + j];
      y[i * 3 + j] = s;
    }
  return { x, y, n, featureShape: [6], targetSize: 3 };
}

function linearModel(): tf.LayersModel {
  const model = tf.sequential({ layers: [tf.layers.dense({ units: 3, inputShape: [6], name: 'fc' })] });
  model.getLayer('fc').setWeights([tf.tensor(START, [6, 3]), tf.zeros([3])]);
  return model;
}

describe('quantisation-aware fine-tuning (straight-through estimator)', () => {
  it('moves snapped weights onto the right codebook levels, keeps masks and the codebook, trains the bias', async () => {
    const model = linearModel();
    const posteriors = [{ name: 'fc/kernel', layer: 'fc', shape: [6, 3], mean: START }];
    const masks = new Map([['fc/kernel', MASK]]);
    const snapped = quantizeKernels(posteriors, masks, {
      kind: 'codebook',
      codebooks: new Map([['fc/kernel', CODEBOOK]]),
    });
    const wrongBefore = snapped.kernels.get('fc/kernel')!.filter((v, i) => MASK[i] && v !== W_TRUE[i]).length;
    expect(wrongBefore).toBeGreaterThanOrEqual(5);
    const tensorsBefore = tf.memory().numTensors;
    const result = await finetuneQuantized(
      model,
      new Map([['fc/kernel', START]]),
      snapped,
      masks,
      regression(256),
      {
        epochs: 40,
        learningRate: 0.02,
        batchSize: 32,
        likelihood: 'mse',
        learnCodebook: false,
      },
    );
    expect(tf.memory().numTensors).toBe(tensorsBefore);
    const kernel = result.quantized.kernels.get('fc/kernel')!;
    expect(Array.from(kernel)).toEqual(Array.from(W_TRUE.map((w, i) => (MASK[i] ? w : 0))));
    expect(Array.from(model.getLayer('fc').getWeights()[0].dataSync())).toEqual(Array.from(kernel));
    const bias = model.getLayer('fc').getWeights()[1].dataSync();
    for (let j = 0; j < 3; j++) expect(bias[j]).toBeCloseTo(0.1 * (j + 1), 1);
    // The codes index the unchanged codebook and decode to the kernel's kept values.
    const q = result.quantized.codebooks!.get('fc/kernel')!;
    expect(Array.from(q.codebook)).toEqual(Array.from(CODEBOOK));
    const kept = Array.from(kernel).filter((_, i) => MASK[i]);
    expect(Array.from(q.codes, (c) => q.codebook[c])).toEqual(kept);
    expect(result.epochLosses[result.epochLosses.length - 1]).toBeLessThan(1e-3);
    expect(result.epochLosses[0]).toBeGreaterThan(0.05);
    model.dispose();
  });

  it('learns the codebook values from a wrong start (the zero stays), same code width', async () => {
    const model = linearModel();
    const wrong = Float32Array.from([-0.4, 0, 0.35]);
    const posteriors = [{ name: 'fc/kernel', layer: 'fc', shape: [6, 3], mean: START }];
    const masks = new Map([['fc/kernel', MASK]]);
    const snapped = quantizeKernels(posteriors, masks, {
      kind: 'codebook',
      codebooks: new Map([['fc/kernel', wrong]]),
    });
    const tensorsBefore = tf.memory().numTensors;
    const floats = new Map([['fc/kernel', START]]);
    const options = { epochs: 60, learningRate: 0.02, batchSize: 32, likelihood: 'mse' as const };
    const result = await finetuneQuantized(model, floats, snapped, masks, regression(256), options);
    expect(tf.memory().numTensors).toBe(tensorsBefore);
    const q = result.quantized.codebooks!.get('fc/kernel')!;
    expect(q.codebook).toHaveLength(3);
    expect(q.codebook[1]).toBe(0);
    expect(q.codebook[0]).toBeCloseTo(-R, 2);
    expect(q.codebook[2]).toBeCloseTo(R, 2);
    const kernel = result.quantized.kernels.get('fc/kernel')!;
    kernel.forEach((v, i) => expect(v).toBeCloseTo(MASK[i] ? W_TRUE[i] : 0, 2));
    expect(result.epochLosses[result.epochLosses.length - 1]).toBeLessThan(1e-3);
    // With the codebook held, the wrong values stay and the fit cannot be exact.
    const held = await finetuneQuantized(linearModel(), floats, snapped, masks, regression(256), {
      ...options,
      learnCodebook: false,
    });
    expect(Array.from(held.quantized.codebooks!.get('fc/kernel')!.codebook)).toEqual(Array.from(wrong));
    expect(held.epochLosses[held.epochLosses.length - 1]).toBeGreaterThan(1e-2);
    model.dispose();
  });

  it('refuses what it cannot fine-tune', async () => {
    const model = linearModel();
    const posteriors = [
      {
        name: 'fc/kernel',
        layer: 'fc',
        shape: [6, 3],
        mean: START,
        variance: new Float32Array(18).fill(1e-4),
      },
    ];
    const masks = new Map([['fc/kernel', MASK]]);
    const precision = quantizeKernels(posteriors, masks, { kind: 'precision' });
    const floats = new Map([['fc/kernel', START]]);
    await expect(
      finetuneQuantized(model, floats, precision, masks, regression(8), { epochs: 1 }),
    ).rejects.toThrow(/codebook quantisation/);
    const snapped = quantizeKernels(posteriors, masks, { kind: 'uniform', bits: 2 });
    await expect(
      finetuneQuantized(model, floats, snapped, masks, regression(8), { epochs: 0 }),
    ).rejects.toThrow(/epochs/);
    await expect(
      finetuneQuantized(model, new Map([['fc/kernel', START.subarray(1)]]), snapped, masks, regression(8), {
        epochs: 1,
      }),
    ).rejects.toThrow(/float kernel/);
    model.dispose();
  });
});
