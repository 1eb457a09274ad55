import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { fitLaplace } from '../laplace/index.js';
import { initBackend } from '../runtime/backend.js';
import { Random } from '../runtime/random.js';
import { laplaceWeightPosteriors } from './from-laplace.js';
import { computeMasks } from './masks.js';

describe('laplaceWeightPosteriors', () => {
  beforeAll(async () => {
    await initBackend();
  });

  it('maps the Laplace marginals onto each covered kernel in TF.js memory order', () => {
    const model = tf.sequential();
    model.add(
      tf.layers.conv2d({ inputShape: [5, 5, 2], filters: 3, kernelSize: 2, activation: 'relu', name: 'c' }),
    );
    model.add(tf.layers.flatten());
    model.add(tf.layers.dense({ units: 4, name: 'd' }));
    const r = new Random(1);
    const n = 40;
    const data = {
      x: Float32Array.from({ length: n * 50 }, () => r.normal()),
      y: Int32Array.from({ length: n }, () => r.int(4)),
      n,
      featureShape: [5, 5, 2],
      numClasses: 4,
    };
    const posterior = fitLaplace(model, data, { hessian: 'diag', subset: 'all', priorPrecision: 2 });
    const ws = laplaceWeightPosteriors(posterior);
    expect(ws.map((w) => [w.name, w.shape])).toEqual([
      ['c/kernel', [2, 2, 2, 3]],
      ['d/kernel', [48, 4]],
    ]);
    expect(Array.from(ws[0].mean)).toEqual(Array.from(model.getLayer('c').getWeights()[0].dataSync()));
    expect(Array.from(ws[1].mean)).toEqual(Array.from(model.getLayer('d').getWeights()[0].dataSync()));
    // The conv layer's block holds 8·3 kernel entries then 3 biases: the dense kernel starts 27 entries in.
    const all = posterior.marginalVariances();
    expect(ws[0].variance![5]).toBeCloseTo(all[5], 6);
    expect(ws[1].variance![0]).toBeCloseTo(all[27], 6);
    // Marginal variances never exceed the prior variance 1/λ.
    for (const w of ws) for (const v of w.variance!) expect(v).toBeLessThanOrEqual(0.5 + 1e-6);
    expect(ws[0].priorPrecision).toBe(2);
    const masks = computeMasks(ws, { criterion: 'snr', targetSparsity: 0.5 });
    const kept = [...masks.values()].reduce((s, m) => s + m.reduce((a, b) => a + b, 0), 0);
    expect(kept).toBe(Math.round((24 + 192) / 2));
    posterior.dispose();
  });
});
