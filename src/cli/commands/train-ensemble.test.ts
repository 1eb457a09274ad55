import * as tf from '@tensorflow/tfjs';
import { mkdtemp, readdir, readFile, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadImageDataset } from '../../data/image-datasets.js';
import { loadModel } from '../../models/file-io.js';
import { initBackend } from '../../runtime/backend.js';
import { ensembleMemberDir } from '../ensemble-run.js';
import type { CliIo } from '../io.js';
import { modelPredictive } from '../run-predictive.js';
import { runCliCaptured, writeTinyImageDataset } from '../test-utils.js';
import { parseKlWeight } from '../variational-method.js';
import { runEnsembleTrain } from './train-ensemble.js';
import type { TrainCommandOptions } from './train.js';

let dir: string;
let data: string;
let ood: string;

beforeAll(async () => {
  await initBackend();
  dir = await mkdtemp(join(tmpdir(), 'bayescomp-ensemble-'));
  data = await writeTinyImageDataset(join(dir, 'data'), { train: 400, test: 150 });
  ood = await writeTinyImageDataset(join(dir, 'ood'), { train: 0, test: 100 }, 'mnist-subset');
});

/** `train --method ensemble` arguments for a 3-member, 2-epoch ensemble of the zoo MLP on the tiny dataset. */
function ensembleArgs(out: string, extra: string[] = []): string[] {
  return [
    'train',
    '--model',
    'mlp',
    '--data',
    data,
    '--method',
    'ensemble',
    '--members',
    '3',
    '--epochs',
    '2',
    '--batch-size',
    '50',
    '--seed',
    '11',
    '--out',
    out,
    '--progress',
    'none',
    '--json',
    ...extra,
  ];
}

/** All weights of the model saved in `memberDir`, flattened. */
async function memberWeights(memberDir: string): Promise<Float32Array> {
  const model = await loadModel(join(memberDir, 'model.json'));
  const parts = model.getWeights().map((w) => w.dataSync() as Float32Array);
  model.dispose();
  const out = new Float32Array(parts.reduce((n, p) => n + p.length, 0));
  let offset = 0;
  for (const p of parts) {
    out.set(p, offset);
    offset += p.length;
  }
  return out;
}

describe('bayescomp train --method ensemble', () => {
  let uninterrupted: string;

  it('trains M seeded members into members/<m>/; eval uses the mean of the members’ softmaxes (1e-6)', async () => {
    uninterrupted = join(dir, 'ens');
    const trained = await runCliCaptured(ensembleArgs(uninterrupted));
    expect(trained.err).not.toMatch(/internal error/);
    expect(trained.code).toBe(0);
    const result = JSON.parse(trained.out) as { test: Record<string, number>; seconds: number };
    expect(await readdir(join(uninterrupted, 'members'))).toEqual(['0', '1', '2']);
    const run = JSON.parse(await readFile(join(uninterrupted, 'run.json'), 'utf8')) as {
      status: string;
      trainSeconds: number;
      options: Record<string, unknown>;
    };
    expect(run.status).toBe('finished');
    expect(run.options).toMatchObject({ method: 'ensemble', members: 3, workers: 1 });
    // The recorded training time is the members' training loops summed: positive, at most the whole command's.
    expect(run.trainSeconds).toBeGreaterThan(0);
    expect(run.trainSeconds).toBeCloseTo(result.seconds, 9);

    // Independent computation: each member loaded on its own, softmax of its logits, averaged.
    const test = (await loadImageDataset(data)).test!;
    const x = tf.tensor(test.x, [test.n, ...test.featureShape]);
    const memberProbs: Float32Array[] = [];
    const seeds = new Set<number>();
    for (let m = 0; m < 3; m++) {
      const model = await loadModel(join(ensembleMemberDir(uninterrupted, m), 'model.json'));
      const p = tf.tidy(() => tf.softmax(model.predict(x) as tf.Tensor));
      memberProbs.push((await p.data()) as Float32Array);
      p.dispose();
      model.dispose();
      const member = JSON.parse(
        await readFile(join(ensembleMemberDir(uninterrupted, m), 'member.json'), 'utf8'),
      ) as { seed: number; epochs: number };
      expect(member.epochs).toBe(2);
      seeds.add(member.seed);
    }
    x.dispose();
    expect(seeds.size).toBe(3);
    const mean = memberProbs[0].map(
      (_, i) => (memberProbs[0][i] + memberProbs[1][i] + memberProbs[2][i]) / 3,
    );
    // The members differ (different initial weights and batch orders), so the ensemble is not one of them.
    let memberSpread = 0;
    for (let i = 0; i < mean.length; i++)
      memberSpread = Math.max(memberSpread, Math.abs(memberProbs[0][i] - mean[i]));
    expect(memberSpread).toBeGreaterThan(0.05);

    const source = await modelPredictive(uninterrupted, test, { samples: 30, seed: 0 });
    expect(source.kind).toBe('ensemble');
    const out = await source.predictive.predict(test);
    source.dispose();
    let maxDiff = 0;
    for (let i = 0; i < mean.length; i++) maxDiff = Math.max(maxDiff, Math.abs(out.probs[i] - mean[i]));
    expect(maxDiff).toBeLessThan(1e-6);
    expect(out.numSamples).toBe(3);

    let nll = 0;
    for (let i = 0; i < test.n; i++) nll -= Math.log(mean[i * 10 + test.y[i]]);
    nll /= test.n;
    const evaluated = await runCliCaptured([
      'eval',
      '--model',
      uninterrupted,
      '--data',
      data,
      '--ood',
      ood,
      '--json',
    ]);
    expect(evaluated.code).toBe(0);
    const metrics = JSON.parse(evaluated.out) as {
      method: string;
      nll: number;
      accuracy: number;
      mean_mi: number;
      ood: { auroc_maxprob: number; auroc_entropy: number; auroc_mi: number };
    };
    expect(metrics.method).toBe('deep ensemble (M=3)');
    expect(metrics.nll).toBeCloseTo(nll, 5);
    // The run summary holds the same ensemble predictive's figures.
    expect(result.test.nll).toBeCloseTo(metrics.nll, 6);
    expect(result.test.accuracy).toBe(metrics.accuracy);
    expect(metrics.mean_mi).toBeGreaterThan(0);
    expect(metrics.ood.auroc_mi).toBeGreaterThan(0);
    expect(metrics.ood.auroc_mi).toBeLessThanOrEqual(1);

    const report = await runCliCaptured(['report', uninterrupted, '--json']);
    expect(report.err).not.toMatch(/internal error/);
    expect(report.code).toBe(0);
    const summary = JSON.parse(await readFile(join(uninterrupted, 'summary.json'), 'utf8')) as {
      methods: { metrics: { nll: number } }[];
    };
    expect(summary.methods[0].metrics.nll).toBeCloseTo(metrics.nll, 6);
  });

  it('resumed after an interruption inside member 2, gives the same members as the uninterrupted run', async () => {
    const out = join(dir, 'ens-interrupted');
    const tensorsBefore = tf.memory().numTensors;
    const controller = new AbortController();
    let epochEnds = 0;
    const quiet: CliIo = { out: () => undefined, err: () => undefined, isTty: false };
    const options: TrainCommandOptions = {
      model: 'mlp',
      data,
      method: 'ensemble',
      out,
      epochs: 2,
      batchSize: 50,
      lr: 1e-3,
      optimizer: 'adam',
      lrSchedule: { type: 'constant' },
      weightDecay: 0,
      validationSplit: 0,
      seed: 11,
      progress: 'none',
      download: false,
      objective: 'elbo',
      alpha: 0.5,
      samples: 1,
      klWeight: parseKlWeight('constant'),
      initLogSigma2: -10,
      evalSamples: 10,
      members: 3,
      workers: 1,
    };
    // Stop after member 1's first epoch (the third epoch end): the next step runs and a mid-epoch checkpoint is
    // written, as on SIGINT.
    const interrupted = await runEnsembleTrain(options, quiet, {
      signal: controller.signal,
      callbacks: { onEpochEnd: () => void (++epochEnds === 3 && controller.abort()) },
    });
    expect(interrupted.interrupted).toBe(true);
    const record = JSON.parse(await readFile(join(out, 'run.json'), 'utf8')) as { status: string };
    expect(record.status).toBe('interrupted');
    const exists = (p: string) =>
      stat(p).then(
        () => true,
        () => false,
      );
    expect(await exists(join(ensembleMemberDir(out, 0), 'member.json'))).toBe(true);
    expect(await exists(join(ensembleMemberDir(out, 1), 'member.json'))).toBe(false);
    const checkpoint = JSON.parse(
      await readFile(join(ensembleMemberDir(out, 1), 'checkpoint.json'), 'utf8'),
    ) as { epoch: number; step: number };
    expect(checkpoint).toMatchObject({ epoch: 1, step: 1 });
    expect(await exists(ensembleMemberDir(out, 2))).toBe(false);
    // eval names what is missing instead of evaluating a partial ensemble.
    const early = await runCliCaptured(['eval', '--model', out, '--data', data]);
    expect(early.code).not.toBe(0);
    expect(early.err).toMatch(/member 1 of 3 has not finished training/);

    const resumed = await runCliCaptured(ensembleArgs(out, ['--resume']));
    expect(resumed.err).not.toMatch(/internal error/);
    expect(resumed.code).toBe(0);
    // Members, optimisers and predictive tensors of both runs are all released.
    expect(tf.memory().numTensors).toBe(tensorsBefore);
    for (let m = 0; m < 3; m++) {
      const a = await memberWeights(ensembleMemberDir(uninterrupted, m));
      const b = await memberWeights(ensembleMemberDir(out, m));
      let maxDiff = 0;
      for (let i = 0; i < a.length; i++) maxDiff = Math.max(maxDiff, Math.abs(a[i] - b[i]));
      expect(maxDiff, `member ${m}`).toBe(0);
    }
    const [a, b] = await Promise.all(
      [uninterrupted, out].map(
        async (d) => JSON.parse(await readFile(join(d, 'metrics.json'), 'utf8')) as { test: { nll: number } },
      ),
    );
    expect(b.test.nll).toBe(a.test.nll);
  });

  it('re-seeds a user model’s initialisers per member, so members start from different weights', async () => {
    const { reseededCopy } = await import('../ensemble-run.js');
    const model = tf.sequential({
      layers: [
        tf.layers.dense({ units: 4, inputShape: [3], activation: 'relu' }),
        tf.layers.dense({ units: 2, activation: 'softmax' }),
      ],
    });
    const [a, b, a2] = await Promise.all([
      reseededCopy(model, 1),
      reseededCopy(model, 2),
      reseededCopy(model, 1),
    ]);
    const kernel = (m: tf.LayersModel) => Array.from(m.getWeights()[0].dataSync());
    expect(kernel(a)).toEqual(kernel(a2));
    expect(kernel(a)).not.toEqual(kernel(b));
    // Biases keep their zeros initialiser; the architecture (softmax included) is unchanged.
    expect(Array.from(a.getWeights()[1].dataSync())).toEqual([0, 0, 0, 0]);
    expect(a.layers.map((l) => l.getConfig().activation)).toEqual(['relu', 'softmax']);
    [model, a, b, a2].forEach((m) => m.dispose());
  });
});
