import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../runtime/backend.js';
import { Random } from '../runtime/random.js';
import { bayesianConv2d } from './bayesianConv2d.js';
import { withNoiseSource } from './noise.js';
import './families/groupNormalJeffreys.js';

describe('group scales on output filters', () => {
  beforeAll(async () => {
    await initBackend();
  });

  it('scale the convolution, not the bias: the sampled output averages to the posterior-mean output', () => {
    const layer = bayesianConv2d({
      filters: 2,
      kernelSize: 2,
      family: { name: 'group-nj', options: { groupAxis: 'output' } },
      reparameterisation: 'local',
      useBias: true,
    });
    const x = tf.randomNormal([1, 3, 3, 1], 0, 1, 'float32', 4);
    layer.apply(x);
    // Group means z = 2 and 0.5 (far from 1, so scaling the bias would show), a bias of 3, tiny variances.
    for (const w of layer.weights) {
      const name = w.originalName;
      if (name.endsWith('z_mu')) w.write(tf.tensor1d([2, 0.5]));
      if (name.endsWith('z_log_sigma2') || name.endsWith('log_sigma2'))
        w.write(tf.fill(w.shape as number[], -30));
      if (name.endsWith('bias')) w.write(tf.tensor1d([3, 3]));
    }
    layer.predictionMode = 'mean';
    const meanOut = (layer.apply(x) as tf.Tensor).dataSync();
    layer.predictionMode = 'sample';
    const sampled = withNoiseSource(new Random(1), () =>
      (layer.apply(x, { training: true }) as tf.Tensor).dataSync(),
    );
    expect(sampled.length).toBe(meanOut.length);
    sampled.forEach((v, i) => expect(v).toBeCloseTo(meanOut[i], 3));
  });
});
