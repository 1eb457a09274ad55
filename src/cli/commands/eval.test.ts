import * as tf from '@tensorflow/tfjs';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadImageDataset } from '../../data/image-datasets.js';
import { saveModel } from '../../models/file-io.js';
import { initBackend } from '../../runtime/backend.js';
import { runCliCaptured } from '../test-utils.js';

describe('bayescomp eval', () => {
  beforeAll(async () => {
    await initBackend();
  });

  it('evaluates a user model with a folded softmax, matching an independent computation', async () => {
    // A linear softmax classifier with fixed weights, saved as a user would (softmax in the last Dense).
    const model = tf.sequential();
    model.add(tf.layers.flatten({ inputShape: [28, 28, 1] }));
    model.add(
      tf.layers.dense({
        units: 10,
        activation: 'softmax',
        kernelInitializer: tf.initializers.randomNormal({ seed: 5, stddev: 0.05 }),
      }),
    );
    const dir = await mkdtemp(join(tmpdir(), 'bayescomp-eval-'));
    await saveModel(model, dir);
    const { code, out, err } = await runCliCaptured([
      'eval',
      '--model',
      dir,
      '--data',
      'fashion-mnist-subset',
      '--ood',
      'mnist-subset',
      '--json',
    ]);
    expect(err).toBe('');
    expect(code).toBe(0);
    const result = JSON.parse(out) as {
      accuracy: number;
      nll: number;
      n: number;
      backend: string;
      ood: { auroc_maxprob: number; auroc_entropy: number };
    };
    // Independent figures: the model's own softmax outputs on the same 1000 test images.
    const test = (await loadImageDataset('fashion-mnist-subset')).test!;
    const probs = (
      model.predict(tf.tensor(test.x, [test.n, 28, 28, 1])) as tf.Tensor
    ).arraySync() as number[][];
    let correct = 0;
    let nll = 0;
    probs.forEach((p, i) => {
      const label = test.y[i];
      if (p.indexOf(Math.max(...p)) === label) correct++;
      nll -= Math.log(p[label]);
    });
    expect(result.n).toBe(1000);
    expect(result.accuracy).toBeCloseTo(correct / 1000, 6);
    expect(result.nll).toBeCloseTo(nll / 1000, 4);
    expect(result.ood.auroc_maxprob).toBeGreaterThan(0);
    expect(result.ood.auroc_maxprob).toBeLessThan(1);
    expect(result.backend).toBeTruthy();
  });
});
