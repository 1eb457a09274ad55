/**
 * One process versus W worker threads (issue 7, "both cores"), back to back on the same data:
 * - `map300`: LeNet-300-100 MAP epoch (softmax cross-entropy, Adam 1e-3, batch 100): `train` vs `trainParallel`;
 * - `svd300`: LeNet-300-100 Sparse VD epoch (log-uniform family, local reparameterisation, ELBO with β = 1, Adam);
 * - `predict`: Monte-Carlo predictive of the Sparse VD LeNet-300-100 over the test images, S = 30:
 *   `predictMonteCarloChunked` in this thread vs `parallelPredict` (identical numbers, checked);
 * - `laplace`: KFAC (GGN) Laplace of the last layer of a LeNet-300-100 over the training images: `fitLaplace` vs
 *   `fitLaplaceParallel` (log marginal likelihoods compared). Off by default; add it to `--cases`.
 *
 * Prints the backend, the load average around every measurement (the machine may be shared: compare runs made back
 * to back), steps/s, seconds, the speed-up, the final loss of each run, and the tensor count before/after. Worker
 * start-up (a TF.js backend per worker) is timed separately; the timed runs reuse one started pool.
 *
 *   npx tsx bench/parallel-speedup.ts [--cases map300,svd300,predict,laplace] [--n 60000] [--test-n 10000]
 *                                     [--epochs 1] [--workers 2] [--samples 30] [--repeats 1] [--shares 0.4,0.6]
 *
 * Data: Fashion-MNIST from /usr/share/datasets/fashion-mnist (`loadImageDataset('fashion-mnist')`), the first `--n`
 * training and `--test-n` test images.
 */
import * as tf from '@tensorflow/tfjs';
import { cpus, loadavg } from 'node:os';
import type { Dataset } from '../src/data/dataset.js';
import { fitLaplace } from '../src/laplace/laplacePosterior.js';
import { loadImageDataset } from '../src/data/image-datasets.js';
import { subsetDataset } from '../src/data/splits.js';
import { lenet300 } from '../src/models/zoo.js';
import { initBackend } from '../src/runtime/backend.js';
import type { ObjectiveSpec } from '../src/runtime/parallel/objectiveSpec.js';
import { objectiveFromSpec } from '../src/runtime/parallel/objectiveSpec.js';
import { fitLaplaceParallel } from '../src/runtime/parallel/parallelLaplace.js';
import { parallelPredict, predictMonteCarloChunked } from '../src/runtime/parallel/parallelPredict.js';
import { WorkerPool } from '../src/runtime/parallel/workerPool.js';
import { setGlobalSeed } from '../src/runtime/random.js';
import { trainParallel } from '../src/train/parallel-train.js';
import { train } from '../src/train/trainer.js';
import { toBayesian } from '../src/variational/conversion.js';
import { logUniformFamily } from '../src/variational/families/logUniformPosterior.js';
import { backendLine, peakRssMiB } from './lib/measure.js';

function argValue(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && i + 1 < process.argv.length ? process.argv[i + 1] : fallback;
}

/** CPU seconds (user + system, every thread of the process) since `start`. */
const cpuSince = (start: NodeJS.CpuUsage) => {
  const d = process.cpuUsage(start);
  return (d.user + d.system) / 1e6;
};

/** Per-worker batch shares from `--shares`, if given. */
const SHARES = process.argv.includes('--shares') ? argValue('shares', '').split(',').map(Number) : undefined;

const load = () =>
  loadavg()
    .map((v) => v.toFixed(2))
    .join(' ');

/** LeNet-300-100, plain or Sparse VD, with initial weights fixed by the seed. */
function buildModel(sparseVd: boolean): tf.LayersModel {
  setGlobalSeed(1);
  const plain = lenet300({ inputShape: [28, 28, 1], seed: 1 });
  if (!sparseVd) return plain;
  const model = toBayesian(plain, { family: logUniformFamily(), initLogSigma2: -10 });
  plain.dispose();
  return model;
}

interface RunTiming {
  readonly label: string;
  readonly seconds: number;
  /** CPU seconds of the whole process (all threads) during the run. */
  readonly cpuSeconds: number;
  readonly stepsPerSecond: number;
  readonly loss: number;
  readonly load: string;
  readonly split?: string;
}

async function trainingCase(
  name: string,
  sparseVd: boolean,
  objective: ObjectiveSpec,
  data: Dataset,
  pools: Map<number, WorkerPool>,
  epochs: number,
): Promise<void> {
  const batchSize = 100;
  const common = {
    data,
    epochs,
    batchSize,
    seed: 3,
    optimizer: { name: 'adam', learningRate: 1e-3 } as const,
  };
  const timings: RunTiming[] = [];
  const before = tf.memory().numTensors;

  const single = buildModel(sparseVd);
  const loadBefore = load();
  let cpu = process.cpuUsage();
  const r1 = await train({
    ...common,
    model: single,
    objective: objectiveFromSpec(objective),
    progress: 'none',
  });
  timings.push({
    label: '1 process (train)',
    seconds: r1.seconds,
    cpuSeconds: cpuSince(cpu),
    stepsPerSecond: r1.steps / r1.seconds,
    loss: r1.history.at(-1)!.loss,
    load: `${loadBefore} → ${load()}`,
  });
  single.dispose();

  for (const [workers, pool] of pools) {
    const model = buildModel(sparseVd);
    const loadStart = load();
    cpu = process.cpuUsage();
    // `--shares` (e.g. 0.4,0.6) applies to the runs with as many workers.
    const shares = SHARES?.length === workers ? SHARES : undefined;
    const r = await trainParallel({ ...common, model, objective, workers, pool, shares, progress: 'none' });
    timings.push({
      label: `${workers} worker${workers === 1 ? '' : 's'} (trainParallel)`,
      seconds: r.seconds,
      cpuSeconds: cpuSince(cpu),
      stepsPerSecond: r.steps / r.seconds,
      loss: r.history.at(-1)!.loss,
      load: `${loadStart} → ${load()}`,
      split: r.timings
        .at(-1)!
        .map(
          (t, w) =>
            `worker ${w}: compute ${(t.compute / r.steps).toFixed(1)}, exchange ${(t.exchange / r.steps).toFixed(1)}, ` +
            `update ${(t.update / r.steps).toFixed(1)} ms/step`,
        )
        .join('; '),
    });
    model.dispose();
  }

  console.log(`\n## ${name}: ${data.n} images, ${epochs} epoch(s), batch ${batchSize}`);
  for (const t of timings) {
    console.log(
      `  ${t.label.padEnd(28)} ${t.seconds.toFixed(2).padStart(8)} s  ${t.stepsPerSecond.toFixed(2).padStart(7)} steps/s` +
        `  speed-up ${(t.stepsPerSecond / timings[0].stepsPerSecond).toFixed(2)}×  CPU ${t.cpuSeconds.toFixed(2)} s` +
        ` (${((1000 * t.cpuSeconds) / (t.stepsPerSecond * t.seconds)).toFixed(1)} ms/step)  final loss ${t.loss.toFixed(4)}` +
        `  load ${t.load}`,
    );
    if (t.split) console.log(`    ${t.split}`);
  }
  console.log(`  tensors before/after: ${before}/${tf.memory().numTensors}`);
}

async function laplaceCase(data: Dataset, pools: Map<number, WorkerPool>): Promise<void> {
  const before = tf.memory().numTensors;
  const model = buildModel(false);
  const options = { hessian: 'kron' as const, subset: 'lastLayer' as const, priorPrecision: 1 };
  let loadStart = load();
  let cpu = process.cpuUsage();
  let start = performance.now();
  const single = fitLaplace(model, data, options);
  const singleSeconds = (performance.now() - start) / 1000;
  console.log(`\n## KFAC last-layer Laplace, LeNet-300-100 (untrained): ${data.n} images`);
  console.log(
    `  ${'1 process (fitLaplace)'.padEnd(28)} ${singleSeconds.toFixed(2).padStart(8)} s  CPU ${cpuSince(cpu).toFixed(2)} s` +
      `  load ${loadStart} → ${load()}`,
  );
  for (const [workers, pool] of pools) {
    loadStart = load();
    cpu = process.cpuUsage();
    start = performance.now();
    const parallel = await fitLaplaceParallel(model, data, { ...options, pool });
    const s = (performance.now() - start) / 1000;
    const a = parallel.logMarginalLikelihood();
    const b = single.logMarginalLikelihood();
    console.log(
      `  ${`${workers} worker(s)`.padEnd(28)} ${s.toFixed(2).padStart(8)} s  speed-up ${(singleSeconds / s).toFixed(2)}×` +
        `  CPU ${cpuSince(cpu).toFixed(2)} s  log evidence ${a.toFixed(3)} vs ${b.toFixed(3)}  load ${loadStart} → ${load()}`,
    );
    parallel.dispose();
  }
  single.dispose();
  model.dispose();
  console.log(`  tensors before/after: ${before}/${tf.memory().numTensors}`);
}

async function predictCase(test: Dataset, pools: Map<number, WorkerPool>, samples: number): Promise<void> {
  const model = buildModel(true);
  const x = tf.tensor(test.x, [test.n, ...test.featureShape]);
  const before = tf.memory().numTensors;
  const options = { samples, chunkSize: 500, seed: 1 };
  let loadStart = load();
  let start = performance.now();
  let cpu = process.cpuUsage();
  const single = predictMonteCarloChunked(model, x, options);
  const singleSeconds = (performance.now() - start) / 1000;
  const singleCpu = cpuSince(cpu);
  console.log(
    `\n## Monte-Carlo predictive, Sparse VD LeNet-300-100: ${test.n} images, S = ${samples}, chunks of 500`,
  );
  console.log(
    `  ${'1 process'.padEnd(28)} ${singleSeconds.toFixed(2).padStart(8)} s  CPU ${singleCpu.toFixed(2)} s` +
      `  load ${loadStart} → ${load()}`,
  );
  for (const [workers, pool] of pools) {
    loadStart = load();
    start = performance.now();
    cpu = process.cpuUsage();
    const parallel = await parallelPredict(model, x, { ...options, pool });
    const s = (performance.now() - start) / 1000;
    const parallelCpu = cpuSince(cpu);
    const diff = tf.tidy(() => tf.max(tf.abs(tf.sub(parallel, single))).dataSync()[0]);
    console.log(
      `  ${`${workers} worker(s)`.padEnd(28)} ${s.toFixed(2).padStart(8)} s  speed-up ${(singleSeconds / s).toFixed(2)}×` +
        `  CPU ${parallelCpu.toFixed(2)} s  max |Δp| vs 1 process ${diff}  load ${loadStart} → ${load()}`,
    );
    parallel.dispose();
  }
  single.dispose();
  console.log(`  tensors before/after: ${before}/${tf.memory().numTensors}`);
  x.dispose();
  model.dispose();
}

async function main(): Promise<void> {
  const cases = argValue('cases', 'map300,svd300,predict').split(',');
  const n = Number(argValue('n', '60000'));
  const testN = Number(argValue('test-n', '10000'));
  const epochs = Number(argValue('epochs', '1'));
  const workerCounts = argValue('workers', '2').split(',').map(Number);
  const samples = Number(argValue('samples', '30'));
  const repeats = Number(argValue('repeats', '1'));

  const backend = await initBackend();
  console.log(`backend: ${backendLine()}; ${cpus().length} logical CPUs; load average ${load()}`);
  const splits = await loadImageDataset('fashion-mnist');
  const indices = (count: number) => Int32Array.from({ length: count }, (_, i) => i);
  const trainData = subsetDataset(splits.train!, indices(Math.min(n, splits.train!.n)));
  const testData = subsetDataset(splits.test!, indices(Math.min(testN, splits.test!.n)));

  const pools = new Map<number, WorkerPool>();
  for (const workers of workerCounts) {
    const start = performance.now();
    pools.set(workers, await WorkerPool.start({ workers, backend: backend.name }));
    console.log(
      `started ${workers} worker(s) in ${((performance.now() - start) / 1000).toFixed(2)} s (not in the timings below)`,
    );
  }
  try {
    for (let r = 0; r < repeats; r++) {
      if (repeats > 1) console.log(`\n# repeat ${r + 1}/${repeats}`);
      if (cases.includes('map300'))
        await trainingCase('MAP LeNet-300-100', false, { kind: 'map' }, trainData, pools, epochs);
      if (cases.includes('svd300'))
        await trainingCase(
          'Sparse VD LeNet-300-100',
          true,
          { kind: 'elbo', beta: 1 },
          trainData,
          pools,
          epochs,
        );
      if (cases.includes('predict')) await predictCase(testData, pools, samples);
      if (cases.includes('laplace')) await laplaceCase(trainData, pools);
    }
  } finally {
    for (const pool of pools.values()) await pool.terminate();
  }
  console.log(
    `\npeak RSS ${peakRssMiB().toFixed(0)} MiB (main thread's process, workers included); load average ${load()}`,
  );
}

await main();
