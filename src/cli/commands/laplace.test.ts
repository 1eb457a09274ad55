import * as tf from '@tensorflow/tfjs';
import { mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { saveModel } from '../../models/file-io.js';
import { initBackend } from '../../runtime/backend.js';
import { runCliCaptured } from '../test-utils.js';

interface Metrics {
  accuracy: number;
  nll: number;
  ece: number;
  n: number;
  ood?: { auroc_maxprob: number };
}

describe('bayescomp laplace', () => {
  it('fits a last-layer Kronecker Laplace to a trained run, saves it, and eval reproduces its figures', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'bayescomp-laplace-'));
    const run = join(dir, 'map');
    const trained = await runCliCaptured([
      'train',
      '--model',
      'mlp',
      '--data',
      'fashion-mnist-subset',
      '--epochs',
      '2',
      '--out',
      run,
      '--progress',
      'none',
    ]);
    expect(trained.code).toBe(0);
    const out = join(dir, 'laplace');
    const fitted = await runCliCaptured([
      'laplace',
      '--model',
      run,
      '--data',
      'fashion-mnist-subset',
      '--out',
      out,
      '--ood',
      'mnist-subset',
      '--json',
    ]);
    expect(fitted.err).not.toMatch(/internal error/);
    expect(fitted.code).toBe(0);
    const result = JSON.parse(fitted.out) as {
      parameters: number;
      priorPrecision: number[];
      logMarginalLikelihood: number;
      map: Metrics;
      laplace: Metrics;
    };
    // The zoo MLP's last layer maps 100 hidden units to 10 classes: 100·10 weights + 10 biases.
    expect(result.parameters).toBe(1010);
    expect(result.priorPrecision[0]).toBeGreaterThan(0);
    expect(Number.isFinite(result.logMarginalLikelihood)).toBe(true);
    // The probit predictive keeps the MAP's decisions nearly everywhere and cannot be far worse in NLL.
    expect(Math.abs(result.laplace.accuracy - result.map.accuracy)).toBeLessThan(0.02);
    expect(result.laplace.nll).toBeLessThan(result.map.nll + 0.02);
    expect(result.laplace.ood?.auroc_maxprob).toBeGreaterThan(0.5);
    const evaluated = await runCliCaptured([
      'eval',
      '--model',
      out,
      '--data',
      'fashion-mnist-subset',
      '--ood',
      'mnist-subset',
      '--json',
    ]);
    expect(evaluated.code).toBe(0);
    const again = JSON.parse(evaluated.out) as Metrics;
    expect(again.accuracy).toBe(result.laplace.accuracy);
    expect(again.nll).toBeCloseTo(result.laplace.nll, 6);
    expect(again.ood?.auroc_maxprob).toBeCloseTo(result.laplace.ood!.auroc_maxprob, 6);
  });

  it('works on a user model with a softmax folded into its last Dense layer (Keras style)', async () => {
    await initBackend();
    const dir = await mkdtemp(join(tmpdir(), 'bayescomp-laplace-softmax-'));
    const user = tf.sequential();
    user.add(tf.layers.flatten({ inputShape: [28, 28, 1] }));
    user.add(tf.layers.dense({ units: 16, activation: 'relu' }));
    user.add(tf.layers.dense({ units: 10, activation: 'softmax' }));
    await saveModel(user, join(dir, 'user'));
    const run = join(dir, 'trained');
    expect(
      (
        await runCliCaptured([
          'train',
          '--model',
          join(dir, 'user'),
          '--data',
          'fashion-mnist-subset',
          '--epochs',
          '1',
          '--out',
          run,
          '--progress',
          'none',
        ])
      ).code,
    ).toBe(0);
    // The trained model is saved as the user had it: still ending in a softmax.
    const saved = JSON.parse(await readFile(join(run, 'model', 'model.json'), 'utf8')) as {
      modelTopology: unknown;
    };
    expect(JSON.stringify(saved.modelTopology)).toMatch(/"activation":"softmax"/);
    const fitted = await runCliCaptured([
      'laplace',
      '--model',
      run,
      '--data',
      'fashion-mnist-subset',
      '--out',
      join(dir, 'laplace'),
      '--json',
    ]);
    expect(fitted.err).not.toMatch(/internal error/);
    expect(fitted.code).toBe(0);
    const result = JSON.parse(fitted.out) as { parameters: number; map: Metrics; laplace: Metrics };
    // The last layer (16·10 weights + 10 biases) is found behind its softmax.
    expect(result.parameters).toBe(170);
    // One epoch is far from a mode, so only the decisions are compared: the probit predictive keeps them.
    expect(Math.abs(result.laplace.accuracy - result.map.accuracy)).toBeLessThan(0.03);
  });

  it('--subnetwork-layers chooses the subnetwork inside the named layers; an unknown name is refused', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'bayescomp-laplace-sublayers-'));
    const run = join(dir, 'map');
    const train = ['train', '--model', 'mlp', '--data', 'fashion-mnist-subset', '--epochs', '1'];
    expect((await runCliCaptured([...train, '--out', run, '--progress', 'none'])).code).toBe(0);
    const saved = JSON.parse(await readFile(join(run, 'model', 'model.json'), 'utf8')) as {
      modelTopology: { config: { layers: { class_name: string; config: { name: string } }[] } };
    };
    const dense = saved.modelTopology.config.layers.filter((l) => l.class_name === 'Dense');
    const last = dense[dense.length - 1].config.name;
    const laplace = (layers: string) => [
      'laplace',
      '--model',
      run,
      '--data',
      'fashion-mnist-subset',
      '--out',
      join(dir, `laplace-${layers}`),
      '--subset',
      'subnetwork',
      '--hessian',
      'full',
      '--subnetwork-size',
      '40',
      '--subnetwork-layers',
      layers,
      '--json',
    ];
    const fitted = await runCliCaptured(laplace(last));
    expect(fitted.err).not.toMatch(/internal error/);
    expect(fitted.code).toBe(0);
    expect((JSON.parse(fitted.out) as { parameters: number }).parameters).toBe(40);
    const unknown = await runCliCaptured(laplace('no_such_layer'));
    expect(unknown.code).toBe(2);
    expect(unknown.err).toMatch(/no Dense\/Conv2D layer named 'no_such_layer'/);
  });

  it('refuses a subnetwork without a full Hessian', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'bayescomp-laplace-bad-'));
    const r = await runCliCaptured([
      'laplace',
      '--model',
      'x',
      '--data',
      'fashion-mnist-subset',
      '--out',
      join(dir, 'o'),
      '--subset',
      'subnetwork',
    ]);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/--hessian full/);
  });
});
