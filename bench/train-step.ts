/**
 * Per-step training time on the active backend (wasm by default) for the cases of issue 7:
 * - `map300`: LeNet-300-100, plain MAP (softmax cross-entropy), Adam, batch 100;
 * - `svd300`: LeNet-300-100 Sparse VD (log-uniform family, local reparameterisation, KL every step), Adam, batch 100;
 * - `svd5`: LeNet-5-Caffe Sparse VD, same recipe.
 *
 * Each case runs `train()` for one epoch over `--steps` batches (`--repeats` times after a warm-up) and prints the
 * minimum and median time per step, the projected 60k-image epoch, kernels per step and the tensor count before/after.
 * `--profile` adds a per-kernel table of one step (tf.profile; kernel times include profiling overhead).
 *
 *   npx tsx bench/train-step.ts [--cases map300,svd300,svd5] [--steps 30] [--repeats 5] [--profile]
 *
 * Synthetic data (uniform pixels, random labels) is used: the time of a step does not depend on the values.
 */
import * as tf from '@tensorflow/tfjs';
import { loadavg } from 'node:os';
import type { Dataset } from '../src/data/dataset.js';
import { lenet300, lenet5 } from '../src/models/zoo.js';
import { initBackend } from '../src/runtime/backend.js';
import { Random } from '../src/runtime/random.js';
import { train } from '../src/train/trainer.js';
import { createOptimizer } from '../src/train/optimizers.js';
import { makeBatch } from '../src/data/batches.js';
import type { Objective } from '../src/train/types.js';
import { mapObjective } from '../src/train/map-objective.js';
import { toBayesian } from '../src/variational/conversion.js';
import { logUniformFamily } from '../src/variational/families/logUniformPosterior.js';
import { elboObjective } from '../src/variational/objectives/elboObjective.js';
import { backendLine } from './lib/measure.js';

interface Case {
  readonly name: string;
  readonly build: () => { model: tf.LayersModel; objective: Objective };
}

const CASES: Record<string, Case> = {
  map300: {
    name: 'MAP LeNet-300-100',
    build: () => ({ model: lenet300({ inputShape: [28, 28, 1] }), objective: mapObjective() }),
  },
  svd300: {
    name: 'Sparse VD LeNet-300-100',
    build: () => sparseVd(lenet300({ inputShape: [28, 28, 1] })),
  },
  svd5: {
    name: 'Sparse VD LeNet-5-Caffe',
    build: () => sparseVd(lenet5({ inputShape: [28, 28, 1] })),
  },
};

function sparseVd(plain: tf.LayersModel): { model: tf.LayersModel; objective: Objective } {
  const model = toBayesian(plain, { family: logUniformFamily(), initLogSigma2: -10 });
  plain.dispose();
  return { model, objective: elboObjective({ beta: 1 }) };
}

function syntheticData(n: number, seed: number): Dataset {
  const random = new Random(seed);
  const x = new Float32Array(n * 784);
  for (let i = 0; i < x.length; i++) x[i] = random.uniform();
  const y = new Int32Array(n);
  for (let i = 0; i < n; i++) y[i] = random.int(10);
  return { x, y, n, featureShape: [28, 28, 1], numClasses: 10 };
}

function argValue(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && i + 1 < process.argv.length ? process.argv[i + 1] : fallback;
}

/** One optimiser step as the trainer takes it: the objective and its gradients in one tape, then `applyGradients`. */
function stepRunner(model: tf.LayersModel, objective: Objective, data: Dataset, batchSize: number) {
  const optimizer = createOptimizer({ name: 'adam', learningRate: 1e-3 });
  const variables = model.trainableWeights.map((w) => w.read() as tf.Variable);
  const random = new Random(7);
  let offset = 0;
  const step = () => {
    const indices = Int32Array.from({ length: batchSize }, (_, i) => (offset + i) % data.n);
    offset += batchSize;
    const batch = makeBatch(data, indices);
    const context = { epoch: 0, step: 0, stepsPerEpoch: 1, datasetSize: 60000, random };
    const { value, grads } = tf.variableGrads(() => objective.loss(model, batch, context).loss, variables);
    optimizer.applyGradients(variables.map((v) => ({ name: v.name, tensor: grads[v.name] })));
    tf.dispose([value, batch.x, batch.y, ...Object.values(grads)]);
  };
  return { step, dispose: () => optimizer.dispose() };
}

/**
 * Wall time of single steps (after warm-up): on shared cores the minimum over many steps estimates the uncontended
 * time better than whole-run averages.
 */
function singleStepTimes(
  model: tf.LayersModel,
  objective: Objective,
  data: Dataset,
  batchSize: number,
  count: number,
) {
  const runner = stepRunner(model, objective, data, batchSize);
  runner.step();
  runner.step();
  const times: number[] = [];
  for (let i = 0; i < count; i++) {
    const start = performance.now();
    runner.step();
    times.push(performance.now() - start);
  }
  runner.dispose();
  return times.sort((a, b) => a - b);
}

/**
 * Kernels of one optimiser step: each kernel's time is its minimum over `repeats` profiled steps (the kernel sequence
 * of a step is fixed), which filters out preemption on shared cores. Their sum is the step's kernel-time floor; what
 * a step takes beyond it is engine and JavaScript overhead.
 */
async function kernelProfile(
  model: tf.LayersModel,
  objective: Objective,
  data: Dataset,
  batchSize: number,
  repeats: number,
) {
  const runner = stepRunner(model, objective, data, batchSize);
  runner.step();
  runner.step();
  let best: number[] = [];
  let names: string[] = [];
  for (let r = 0; r < repeats; r++) {
    const info = await tf.profile(() => {
      runner.step();
      return tf.scalar(0);
    });
    tf.dispose(info.result as tf.Tensor);
    const times = info.kernels.map((k) => (typeof k.kernelTimeMs === 'number' ? k.kernelTimeMs : 0));
    names = info.kernels.map((k) => k.name);
    best = r === 0 ? times : best.map((b, i) => Math.min(b, times[i]));
  }
  runner.dispose();
  const byName = new Map<string, { count: number; ms: number }>();
  let floor = 0;
  names.forEach((name, i) => {
    const entry = byName.get(name) ?? { count: 0, ms: 0 };
    entry.count++;
    entry.ms += best[i];
    byName.set(name, entry);
    // Custom-gradient ops are timed as a whole as well as through the kernels they run.
    if (name !== 'unnamed scope') floor += best[i];
  });
  return { kernels: names.length, byName, floor };
}

async function main(): Promise<void> {
  await initBackend();
  const cases = argValue('cases', 'map300,svd300,svd5').split(',');
  const steps = Number(argValue('steps', '30'));
  const repeats = Number(argValue('repeats', '5'));
  const batchSize = 100;
  const profile = process.argv.includes('--profile');
  const profileRepeats = Number(argValue('profile-repeats', '7'));
  console.log(`backend: ${backendLine()}; tf.env DEBUG=${tf.env().getBool('DEBUG')}`);
  const data = syntheticData(steps * batchSize, 1);
  for (const key of cases) {
    const c = CASES[key];
    if (!c) throw new Error(`unknown case ${key} (use ${Object.keys(CASES).join(', ')})`);
    const { model, objective } = c.build();
    const before = tf.memory().numTensors;
    const perStep: number[] = [];
    const cpuPerStep: number[] = [];
    for (let r = 0; r <= repeats; r++) {
      const start = performance.now();
      const cpu = process.cpuUsage();
      await train({ model, objective, data, epochs: 1, batchSize, progress: 'none', seed: r });
      const ms = (performance.now() - start) / steps;
      const used = process.cpuUsage(cpu);
      // the first run warms up (kernel compilation, allocations)
      if (r > 0) {
        perStep.push(ms);
        cpuPerStep.push((used.user + used.system) / 1000 / steps);
      }
    }
    const after = tf.memory().numTensors;
    perStep.sort((a, b) => a - b);
    const min = perStep[0];
    const median = perStep[Math.floor(perStep.length / 2)];
    const cpuMin = Math.min(...cpuPerStep);
    const single = singleStepTimes(model, objective, data, batchSize, 3 * steps);
    const prof = await kernelProfile(model, objective, data, batchSize, profileRepeats);
    const load = loadavg()[0].toFixed(1);
    console.log(
      `${c.name.padEnd(24)} wall min ${min.toFixed(1)} ms/step, median ${median.toFixed(1)}, ` +
        `CPU min ${cpuMin.toFixed(1)} ms/step; single steps min ${single[0].toFixed(1)}, ` +
        `p25 ${single[Math.floor(single.length / 4)].toFixed(1)}; kernel floor ${prof.floor.toFixed(1)} ms; ` +
        `60k epoch ≈ ${((min * 600) / 1000).toFixed(1)} s; ${prof.kernels} kernels/step; ` +
        `tensors ${before} → ${tf.memory().numTensors} (after timing ${after}); load ${load}`,
    );
    if (profile) {
      const rows = [...prof.byName.entries()].sort((a, b) => b[1].ms - a[1].ms);
      for (const [name, { count, ms }] of rows) {
        console.log(`    ${name.padEnd(28)} ${String(count).padStart(4)}× ${ms.toFixed(2).padStart(8)} ms`);
      }
    }
    model.dispose();
  }
}

await main();
