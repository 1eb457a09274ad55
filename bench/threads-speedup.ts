/**
 * The wasm backend's threaded build (issue 7, "both cores"): one training epoch per case with 1 and with N threads
 * (in Node XNNPACK N − 1 and the kernel helper one), in one process, interleaved (1, N, N, 1, 1, N, …: each
 * repetition alternates the order, so a load change on a shared machine hits both settings alike), several
 * repetitions; prints every run, the medians and the median of
 * the per-repetition ratios. The backend is restarted between settings (`initBackend({ threads })`), and each run
 * builds its model afresh with the same seed.
 *
 *   npx tsx bench/threads-speedup.ts [--cases svd-lenet300:6000,svd-lenet5:1500] [--wasm-threads 1,2] [--reps 5]
 *
 * Cases: `<method>-<net>:<training images>`, method `svd` (Sparse VD: log-uniform family, local reparameterisation,
 * ELBO with the additive KL weight, Adam) or `map` (softmax cross-entropy, Adam), net `lenet300` or `lenet5`; batch
 * 100. Also times a 512×512 matrix product (best of 10) per setting. Data: the first images of Fashion-MNIST's
 * training set (`loadImageDataset('fashion-mnist')`).
 */
import * as tf from '@tensorflow/tfjs';
import { loadavg } from 'node:os';
import { parseArgs } from 'node:util';
import type { Dataset } from '../src/data/dataset.js';
import { loadImageDataset } from '../src/data/image-datasets.js';
import { subsetDataset } from '../src/data/splits.js';
import { lenet300, lenet5 } from '../src/models/zoo.js';
import { describeBackend, initBackend } from '../src/runtime/backend.js';
import { parseWasmThreads } from '../src/runtime/wasmThreads.js';
import { mapObjective } from '../src/train/map-objective.js';
import { train } from '../src/train/trainer.js';
import { additiveKlWeight, elboObjective, toBayesian } from '../src/variational/index.js';
import { matmulPeakGflops, peakRssMiB, printTable } from './lib/measure.js';

const { values } = parseArgs({
  options: {
    cases: { type: 'string', default: 'svd-lenet300:6000,svd-lenet5:1500' },
    'wasm-threads': { type: 'string', default: '1,2' },
    reps: { type: 'string', default: '5' },
  },
});

const settings = values['wasm-threads'].split(',').map((t) => {
  const threads = parseWasmThreads(t, '--wasm-threads');
  if (threads === 'auto') throw new Error('--wasm-threads takes counts');
  return threads;
});
const reps = Number(values.reps);
const cases = values.cases.split(',').map((spec) => {
  const [name, n] = spec.split(':');
  const [method, net] = name.split('-');
  if (!['svd', 'map'].includes(method) || !['lenet300', 'lenet5'].includes(net))
    throw new Error(`bad case ${spec}`);
  return { name, method, net, n: Number(n ?? 6000) };
});

const median = (xs: readonly number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};
const load1 = () => loadavg()[0].toFixed(2);

const full = (await loadImageDataset('fashion-mnist')).train!;
const subsets = new Map<number, Dataset>();
for (const c of cases) {
  if (!subsets.has(c.n)) {
    subsets.set(
      c.n,
      subsetDataset(
        full,
        Array.from({ length: c.n }, (_, i) => i),
      ),
    );
  }
}

/** One epoch of `c` on the running backend: seconds, process CPU seconds, tensors before/after, final loss. */
async function epoch(c: (typeof cases)[number]) {
  const base = c.net === 'lenet300' ? lenet300({ seed: 1 }) : lenet5({ seed: 1 });
  const model =
    c.method === 'svd' ? toBayesian(base, { family: { name: 'log-uniform' }, initLogSigma2: -10 }) : base;
  if (model !== base) base.dispose(); // toBayesian copied its weights
  const objective = c.method === 'svd' ? elboObjective({ beta: additiveKlWeight() }) : mapObjective();
  const before = tf.memory().numTensors;
  const cpu = process.cpuUsage();
  const result = await train({
    model,
    objective,
    data: subsets.get(c.n)!,
    epochs: 1,
    batchSize: 100,
    seed: 1,
    progress: 'none',
    checkpointEvery: 0,
  });
  const used = process.cpuUsage(cpu);
  const after = tf.memory().numTensors;
  model.dispose();
  const last = result.history[result.history.length - 1] as { seconds: number; loss?: number };
  return { seconds: last.seconds, cpu: (used.user + used.system) / 1e6, before, after, loss: last.loss };
}

const runs: { rep: number; threads: number; case: string; seconds: number; cpu: number; tensors: string }[] =
  [];
const peaks = new Map<number, number[]>();
console.log(
  `${cases.map((c) => `${c.name} on ${c.n}`).join(', ')}; wasm threads ${settings.join(' vs ')}; ${reps} reps`,
);
for (let rep = 0; rep < reps; rep++) {
  const order = rep % 2 === 0 ? settings : [...settings].reverse();
  for (const threads of order) {
    const info = await initBackend({ backend: 'wasm', threads });
    const peak = await matmulPeakGflops();
    peaks.set(threads, [...(peaks.get(threads) ?? []), peak]);
    for (const c of cases) {
      const load = load1();
      const r = await epoch(c);
      runs.push({
        rep,
        threads,
        case: c.name,
        seconds: r.seconds,
        cpu: r.cpu,
        tensors: `${r.before}→${r.after}`,
      });
      console.log(
        `rep ${rep} ${describeBackend(info)}: ${c.name} ${r.seconds.toFixed(2)} s (CPU ${r.cpu.toFixed(1)} s, ` +
          `load ${load}, tensors ${r.before}→${r.after}, loss ${r.loss?.toFixed(4)}); matmul 512 ${peak.toFixed(1)} GFLOP/s`,
      );
    }
  }
}

const rows: (string | number)[][] = [
  [
    'case',
    ...settings.map((t) => `median s, ${t} thr`),
    ...settings.slice(1).map((t) => `speed-up ${t} thr`),
  ],
];
for (const c of cases) {
  const of = (t: number) => runs.filter((r) => r.case === c.name && r.threads === t);
  const base = of(settings[0]);
  rows.push([
    c.name,
    ...settings.map((t) => median(of(t).map((r) => r.seconds))),
    ...settings.slice(1).map((t) => {
      const paired = of(t).map((r) => base.find((b) => b.rep === r.rep)!.seconds / r.seconds);
      return `${median(paired).toFixed(2)}× (paired median; ${paired.map((p) => p.toFixed(2)).join(' ')})`;
    }),
  ]);
}
rows.push([
  'matmul 512×512 GFLOP/s',
  ...settings.map((t) => median(peaks.get(t)!)),
  ...settings.slice(1).map((t) => `${(median(peaks.get(t)!) / median(peaks.get(settings[0])!)).toFixed(2)}×`),
]);
printTable(rows);
console.log(
  `peak RSS ${peakRssMiB().toFixed(0)} MiB; load average now ${loadavg()
    .map((v) => v.toFixed(2))
    .join(' ')}`,
);
