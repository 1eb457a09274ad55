import * as tf from '@tensorflow/tfjs';
import { mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadImageDataset } from '../../data/image-datasets.js';
import { loadModel, saveModel } from '../../models/file-io.js';
import { initBackend } from '../../runtime/backend.js';
import { modelPredictive } from '../run-predictive.js';
import { runCliCaptured, writeTinyImageDataset } from '../test-utils.js';

let dir: string;
let data: string;
let ood: string;

beforeAll(async () => {
  await initBackend();
  dir = await mkdtemp(join(tmpdir(), 'bayescomp-baselines-'));
  data = await writeTinyImageDataset(join(dir, 'data'), { train: 400, test: 150 });
  ood = await writeTinyImageDataset(join(dir, 'ood'), { train: 0, test: 100 }, 'mnist-subset');
});

function trainArgs(out: string, extra: string[]): string[] {
  return [
    'train',
    '--data',
    data,
    '--epochs',
    '2',
    '--batch-size',
    '50',
    '--seed',
    '5',
    '--out',
    out,
    '--progress',
    'none',
    '--json',
    ...extra,
  ];
}

interface EvalJson {
  method: string;
  nll: number;
  accuracy: number;
  mean_mi?: number;
  numSamples?: number;
  ood: { auroc_maxprob: number; auroc_entropy: number; auroc_mi?: number };
}

async function evalJson(model: string, extra: string[]): Promise<EvalJson> {
  const r = await runCliCaptured([
    'eval',
    '--model',
    model,
    '--data',
    data,
    '--ood',
    ood,
    '--json',
    ...extra,
  ]);
  expect(r.err).not.toMatch(/internal error/);
  expect(r.code).toBe(0);
  return JSON.parse(r.out) as EvalJson;
}

describe('bayescomp train --method mc-dropout', () => {
  it('adds dropout to a zoo model; eval’s MC predictive sums to 1, has MI > 0 and depends on --samples', async () => {
    const out = join(dir, 'mcd');
    const trained = await runCliCaptured(
      trainArgs(out, [
        '--model',
        'mlp',
        '--method',
        'mc-dropout',
        '--dropout',
        '0.3',
        '--eval-samples',
        '20',
      ]),
    );
    expect(trained.err).not.toMatch(/internal error/);
    expect(trained.code).toBe(0);
    expect(trained.err).toMatch(/MC dropout over 2 dropout layers \(rates 0\.3, 0\.3\)/);
    const saved = await loadModel(join(out, 'model'));
    expect(saved.layers.filter((l) => l.getClassName() === 'Dropout')).toHaveLength(2);
    saved.dispose();
    const result = JSON.parse(trained.out) as { test: Record<string, number> };
    expect(result.test.mean_mi).toBeGreaterThan(0);

    const test = (await loadImageDataset(data)).test!;
    const source = await modelPredictive(out, test, { samples: 30, seed: 0 });
    expect(source.kind).toBe('mc-dropout');
    const p = await source.predictive.predict(test);
    source.dispose();
    let worst = 0;
    for (let i = 0; i < p.n; i++) {
      let sum = 0;
      for (let c = 0; c < p.numClasses; c++) sum += p.probs[i * p.numClasses + c];
      worst = Math.max(worst, Math.abs(sum - 1));
    }
    expect(worst).toBeLessThan(1e-5);
    expect(p.numSamples).toBe(30);

    const tensorsBefore = tf.memory().numTensors;
    const many = await evalJson(out, ['--samples', '30']);
    expect(many.method).toBe('MC dropout (S=30)');
    expect(many.mean_mi).toBeGreaterThan(1e-3);
    expect(many.ood.auroc_mi).toBeGreaterThan(0);
    // Seeded masks: the same seed gives the same figures.
    expect((await evalJson(out, ['--samples', '30'])).nll).toBe(many.nll);
    // One pass: no disagreement between samples (MI = 0) and a different, noisier predictive.
    const one = await evalJson(out, ['--samples', '1']);
    expect(one.mean_mi ?? 0).toBeLessThan(1e-6);
    expect(Math.abs(one.nll - many.nll)).toBeGreaterThan(1e-3);
    // Three evaluations, each loading the model and drawing masks: nothing left behind.
    expect(tf.memory().numTensors).toBe(tensorsBefore);
  });

  it('accepts a model.json with its own Dropout layers and rejects one without', async () => {
    const withDropout = tf.sequential({
      layers: [
        tf.layers.flatten({ inputShape: [28, 28, 1] }),
        tf.layers.dense({ units: 32, activation: 'relu' }),
        tf.layers.dropout({ rate: 0.2 }),
        tf.layers.dense({ units: 10, activation: 'softmax' }),
      ],
    });
    const withDir = join(dir, 'user-dropout');
    await saveModel(withDropout, withDir);
    const ok = await runCliCaptured(
      trainArgs(join(dir, 'user-mcd'), ['--model', withDir, '--method', 'mc-dropout', '--epochs', '1']),
    );
    expect(ok.err).not.toMatch(/internal error/);
    expect(ok.code).toBe(0);
    expect(ok.err).toMatch(/rates 0\.2\)/);

    const plain = tf.sequential({
      layers: [tf.layers.flatten({ inputShape: [28, 28, 1] }), tf.layers.dense({ units: 10 })],
    });
    const plainDir = join(dir, 'user-plain');
    await saveModel(plain, plainDir);
    const bad = await runCliCaptured(
      trainArgs(join(dir, 'user-bad'), ['--model', plainDir, '--method', 'mc-dropout']),
    );
    expect(bad.code).not.toBe(0);
    expect(bad.err.trim().split('\n')).toHaveLength(1);
    expect(bad.err).toMatch(/has no Dropout layers/);
    [withDropout, plain].forEach((m) => m.dispose());
  });
});

describe('bayescomp train --workers', () => {
  it('--workers 2 gives --workers 1’s MAP weights up to float summation order, recorded in run.json', async () => {
    const runs: Record<number, string> = { 1: join(dir, 'w1'), 2: join(dir, 'w2') };
    for (const w of [1, 2]) {
      const r = await runCliCaptured(trainArgs(runs[w], ['--model', 'mlp', '--workers', String(w)]));
      expect(r.err).not.toMatch(/internal error/);
      expect(r.code).toBe(0);
    }
    const weights = await Promise.all(
      [1, 2].map(async (w) => {
        const m = await loadModel(join(runs[w], 'model'));
        const flat = m.getWeights().flatMap((t) => Array.from(t.dataSync()));
        m.dispose();
        return flat;
      }),
    );
    // trainParallel's own tests bound max |Δw| / max |w| by 1e-5 for MAP.
    let diff = 0;
    let scale = 0;
    weights[1].forEach((v, i) => {
      diff = Math.max(diff, Math.abs(v - weights[0][i]));
      scale = Math.max(scale, Math.abs(weights[0][i]));
    });
    expect(diff / scale).toBeLessThan(1e-5);
    expect(diff).toBeGreaterThan(0); // really two different code paths
    const run = JSON.parse(await readFile(join(runs[2], 'run.json'), 'utf8')) as {
      options: { workers: number };
      trainSeconds: number;
    };
    expect(run.options.workers).toBe(2);
    expect(run.trainSeconds).toBeGreaterThan(0);
    const history = JSON.parse(await readFile(join(runs[2], 'history.json'), 'utf8')) as {
      workers: number;
      history: unknown[];
    };
    expect(history).toMatchObject({ workers: 2 });
    expect(history.history).toHaveLength(2);

    const resume = await runCliCaptured(trainArgs(runs[2], ['--model', 'mlp', '--workers', '2', '--resume']));
    expect(resume.code).not.toBe(0);
    expect(resume.err).toMatch(/--resume needs --workers 1/);
  });
});
