/**
 * One training epoch per case in bayescomp and in PyTorch (bench/pytorch), in one invocation: wall time (with
 * `--epochs n`, each side's fastest epoch), the ratio,
 * tensor counts before/after (must be equal), peak RSS, and achieved GFLOP/s against the backend's matrix-product peak.
 *
 *   npx tsx bench/compare-epochs.ts [--cases map-lenet300,svd-lenet300,svd-lenet5] [--epochs 1] [--threads 1,2]
 *                                   [--train-subset N] [--no-torch]
 *
 * `--threads` are PyTorch's thread counts. bayescomp runs the backend `initBackend()` picks: set
 * `BAYESCOMP_THREADS=2` for the wasm backend's threaded build (bench/threads-speedup.ts compares 1 and 2 threads in
 * one process).
 */
import * as tf from '@tensorflow/tfjs';
import { parseArgs } from 'node:util';
import { loadImageDataset } from '../src/data/image-datasets.js';
import { subsetDataset } from '../src/data/splits.js';
import { lenet300, lenet5 } from '../src/models/zoo.js';
import { initBackend } from '../src/runtime/backend.js';
import { mapObjective } from '../src/train/map-objective.js';
import { train } from '../src/train/trainer.js';
import { additiveKlWeight, elboObjective, toBayesian } from '../src/variational/index.js';
import { backendLine, matmulPeakGflops, peakRssMiB, printTable, runPytorchReference } from './lib/measure.js';

const { values } = parseArgs({
  options: {
    cases: { type: 'string', default: 'map-lenet300,svd-lenet300,svd-lenet5' },
    epochs: { type: 'string', default: '1' },
    threads: { type: 'string', default: '1,2' },
    'train-subset': { type: 'string', default: '0' },
    'no-torch': { type: 'boolean', default: false },
  },
});

/** Forward FLOPs per example (weight-layer products), as bench/pytorch counts them. */
const FORWARD_FLOPS = { lenet300: 532_400, lenet5: 4_590_000 } as const;

interface Case {
  readonly name: string;
  readonly net: keyof typeof FORWARD_FLOPS;
  readonly method: 'plain' | 'svd';
  readonly script: string;
}

const CASES: Record<string, Case> = {
  'map-lenet300': {
    name: 'MAP LeNet-300-100',
    net: 'lenet300',
    method: 'plain',
    script: 'lenet300_epoch.py',
  },
  'svd-lenet300': {
    name: 'Sparse VD LeNet-300-100',
    net: 'lenet300',
    method: 'svd',
    script: 'lenet300_epoch.py',
  },
  'svd-lenet5': { name: 'Sparse VD LeNet-5-Caffe', net: 'lenet5', method: 'svd', script: 'lenet5_epoch.py' },
};

const backend = await initBackend();
const epochs = Number(values.epochs);
const subset = Number(values['train-subset']);
const full = (await loadImageDataset('fashion-mnist')).train!;
const data =
  subset > 0
    ? subsetDataset(
        full,
        Array.from({ length: subset }, (_, i) => i),
      )
    : full;
const peak = await matmulPeakGflops();
console.log(
  `backend: ${backendLine()}; matrix-product peak ${peak.toFixed(1)} GFLOP/s (512×512); ${data.n} training images, ${epochs} epoch(s)`,
);

const rows: (string | number)[][] = [
  [
    'case',
    'bayescomp s/epoch',
    'GFLOP/s',
    '% of peak',
    'tensors before→after',
    'PyTorch best s/epoch',
    'threads',
    'ratio',
  ],
];
for (const key of values.cases.split(',')) {
  const c = CASES[key];
  if (!c) throw new Error(`unknown case ${key}`);
  const base = c.net === 'lenet300' ? lenet300({ seed: 1 }) : lenet5({ seed: 1 });
  const model =
    c.method === 'svd' ? toBayesian(base, { family: { name: 'log-uniform' }, initLogSigma2: -10 }) : base;
  const objective = c.method === 'svd' ? elboObjective({ beta: additiveKlWeight() }) : mapObjective();
  const before = tf.memory().numTensors;
  const result = await train({
    model,
    objective,
    data,
    epochs,
    batchSize: 100,
    seed: 1,
    progress: 'none',
    checkpointEvery: 0,
  });
  const after = tf.memory().numTensors;
  // The fastest epoch, as PyTorch's figure (its `epoch_seconds_min`); with one epoch, warm-up included on both sides.
  const perEpoch = Math.min(...result.history.map((h) => h.seconds));
  if (result.history.length > 1)
    console.log(`${c.name}: epochs ${result.history.map((h) => h.seconds.toFixed(2)).join(', ')} s`);
  // A training step is about three forward passes; LRT layers do two products per forward pass.
  const flops = FORWARD_FLOPS[c.net] * data.n * 3 * (c.method === 'svd' ? 2 : 1);
  const gflops = flops / perEpoch / 1e9;
  let torchBest = NaN;
  let torchThreads = '';
  if (!values['no-torch']) {
    for (const t of values.threads.split(',')) {
      const r = await runPytorchReference(c.script, [
        '--epochs',
        String(epochs),
        '--threads',
        t,
        '--methods',
        c.method,
        ...(subset > 0 ? ['--train-subset', String(subset)] : []),
      ]);
      const results = r.results as Record<string, { epoch_seconds_min: number }>;
      const s = results[c.method].epoch_seconds_min;
      if (!(s >= torchBest)) {
        torchBest = s;
        torchThreads = t;
      }
    }
  }
  rows.push([
    c.name,
    perEpoch,
    gflops,
    `${((100 * gflops) / peak).toFixed(0)}%`,
    `${before}→${after}`,
    torchBest,
    torchThreads,
    perEpoch / torchBest,
  ]);
  model.dispose();
  // toBayesian copies the weights it starts from, so the plain network is freed separately.
  if (model !== base) base.dispose();
}
printTable(rows);
console.log(`peak RSS ${peakRssMiB().toFixed(0)} MiB; backend ${backend.name}`);
