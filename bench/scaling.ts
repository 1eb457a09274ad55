/**
 * Scaling study (issue 7 item 4): time and memory of Sparse VD training and of the Monte-Carlo predictive as functions
 * of training-set size n, layer width w and number of Monte-Carlo samples S, with the fitted exponent of each sweep.
 *
 *   npx tsx bench/scaling.ts [--sweeps n,width,samples] [--n 1000,2000,4000,8000] [--widths 100,200,300,600]
 *                            [--width-n 4000] [--samples 5,10,20,40] [--mc-n 2000] [--batch-size 100]
 *                            [--mc-batch-size 256] [--repeats 2] [--warmup-steps 10] [--seed 1] [--data fashion-mnist]
 *                            [--isolate] [--json-out FILE]
 *
 * Sweeps, all on the backend `initBackend()` picks (wasm, SIMD, one thread by default):
 * - `n`: one epoch of Sparse VD (log-uniform prior, local reparameterisation, Adam, batch `--batch-size`) on
 *   LeNet-300-100 over the first n training images;
 * - `width`: the same epoch on an MLP 784-w-round(w/3)-10 over the first `--width-n` images;
 * - `samples`: the Monte-Carlo predictive (`bayesianPredictive`, S stochastic passes) of a Sparse VD LeNet-300-100 over
 *   the first `--mc-n` test images.
 *
 * Each case builds its model, warms up (`--warmup-steps` training steps, or the predictive on one batch: the first
 * calls compile wasm kernels, and V8 needs a few steps to optimise the JavaScript), probes one step's (or one
 * prediction batch's) peak tensor memory with `tf.profile` (untimed), then times `--repeats` epochs or predictions and
 * keeps the fastest. CPU seconds (`process.cpuUsage`, user + system) are the reliable figure on a shared machine; wall
 * seconds are printed beside them. The fitted exponent is the least-squares slope of log(time) on log(size); for the
 * width sweep it is also given against the forward FLOPs per example, 2·(784·w + w·h + h·10) with h = round(w/3), which
 * grow faster than w. An affine fit of CPU time on size (fixed seconds + seconds per unit) is printed beside it: an
 * exponent below 1 with a positive fixed cost means a per-epoch (or per-prediction) overhead, not a sublinear algorithm.
 *
 * Memory per case: the peak of `tf.memory().numBytes` inside the probed step (`tf.profile`), the tensors' bytes resident
 * between steps, the process RSS at the end of the case (it includes the whole dataset as float32, ~210 MiB for
 * Fashion-MNIST, printed beside it), the process's peak RSS so far, and the wasm heap. Peak RSS and the wasm heap only
 * grow within a process, so in one process they are high-water marks of all cases so far; `--isolate` runs every case
 * in a fresh child process so they belong to that case alone.
 */
import * as tf from '@tensorflow/tfjs';
import { execFile } from 'node:child_process';
import { loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';
import { parseArgs, promisify } from 'node:util';
import {
  Random,
  additiveKlWeight,
  bayesianPredictive,
  elboObjective,
  initBackend,
  lenet300,
  loadImageDataset,
  mlp,
  subsetDataset,
  toBayesian,
  train,
  writeJsonAtomic,
  type Dataset,
} from '../src/index.js';
import { fitAffine, fitPowerLaw, type AffineFit, type PowerLawFit } from './lib/log-log-fit.js';
import { backendLine } from './lib/measure.js';

const { values } = parseArgs({
  options: {
    sweeps: { type: 'string', default: 'n,width,samples' },
    n: { type: 'string', default: '1000,2000,4000,8000' },
    widths: { type: 'string', default: '100,200,300,600' },
    'width-n': { type: 'string', default: '4000' },
    samples: { type: 'string', default: '5,10,20,40' },
    'mc-n': { type: 'string', default: '2000' },
    'batch-size': { type: 'string', default: '100' },
    'mc-batch-size': { type: 'string', default: '256' },
    repeats: { type: 'string', default: '2' },
    'warmup-steps': { type: 'string', default: '10' },
    seed: { type: 'string', default: '1' },
    data: { type: 'string', default: 'fashion-mnist' },
    isolate: { type: 'boolean', default: false },
    'json-out': { type: 'string' },
    // Internal: run one case (`sweep:size`) and print its result as one JSON line (what --isolate spawns).
    only: { type: 'string' },
  },
});

type Sweep = 'n' | 'width' | 'samples';
const SWEEPS: readonly Sweep[] = ['n', 'width', 'samples'];

/** One measured point of a sweep. */
interface CaseResult {
  readonly sweep: Sweep;
  /** n, w or S. */
  readonly size: number;
  /** Forward FLOPs per example of the network (weight-layer products, multiply and add counted). */
  readonly forwardFlops: number;
  /** Units of work timed: examples per epoch, or examples × samples for the predictive. */
  readonly work: number;
  /** Fastest of the repeats. */
  readonly cpuSeconds: number;
  readonly wallSeconds: number;
  readonly cpuSecondsAll: readonly number[];
  readonly wallSecondsAll: readonly number[];
  /** Tensor count before and after the timed part (must be equal). */
  readonly tensorsBefore: number;
  readonly tensorsAfter: number;
  /** Tensors' bytes resident before the timed part (weights, posterior parameters). */
  readonly residentTensorBytes: number;
  /** Peak `tf.memory().numBytes` during one probed training step or prediction batch (`tf.profile`). */
  readonly peakTensorBytes: number;
  readonly rssMiB: number;
  /** Peak RSS of the process so far. */
  readonly peakRssMiB: number;
  /** Size of the wasm heap (undefined on other backends). */
  readonly wasmHeapMiB?: number;
  /** The loaded dataset's typed arrays (train and test splits, whole), which the RSS includes. */
  readonly datasetMiB: number;
}

const list = (s: string) => s.split(',').map((v) => Number(v.trim()));
const nSizes = list(values.n);
const widths = list(values.widths);
const sampleCounts = list(values.samples);
const widthN = Number(values['width-n']);
const mcN = Number(values['mc-n']);
const batchSize = Number(values['batch-size']);
const mcBatchSize = Number(values['mc-batch-size']);
const repeats = Number(values.repeats);
const warmupSteps = Number(values['warmup-steps']);
const seed = Number(values.seed);
const sweeps = values.sweeps.split(',').map((s) => s.trim()) as Sweep[];
for (const s of sweeps)
  if (!SWEEPS.includes(s)) throw new Error(`unknown sweep '${s}' (known: ${SWEEPS.join(', ')})`);
if (!(repeats >= 1 && Number.isInteger(repeats))) throw new Error(`--repeats must be a positive integer`);

const MiB = 2 ** 20;
const hiddenOf = (w: number) => Math.max(1, Math.round(w / 3));
/** Forward FLOPs per example of 784-w-h-10. */
const mlpFlops = (w: number, h: number) => 2 * (784 * w + w * h + h * 10);
const LENET300_FLOPS = mlpFlops(300, 100);

function sizesOf(sweep: Sweep): number[] {
  return sweep === 'n' ? nSizes : sweep === 'width' ? widths : sampleCounts;
}

function cpuSecondsNow(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
}

function wasmHeapMiB(): number | undefined {
  const backend = tf.backend() as unknown as { wasm?: { HEAPU8?: Uint8Array } };
  const bytes = backend.wasm?.HEAPU8?.byteLength;
  return bytes === undefined ? undefined : bytes / MiB;
}

function firstExamples(data: Dataset, count: number): Dataset {
  if (count > data.n) throw new Error(`asked for ${count} examples, the dataset has ${data.n}`);
  return subsetDataset(
    data,
    Array.from({ length: count }, (_, i) => i),
  );
}

/** A Sparse VD copy of `base` (which is disposed: `toBayesian` copies the weights it starts from). */
function sparseVd(base: tf.LayersModel): tf.LayersModel {
  const model = toBayesian(base, { family: { name: 'log-uniform' }, initLogSigma2: -10 });
  base.dispose();
  return model;
}

function trainOnce(model: tf.LayersModel, data: Dataset, epochs: number, callbacks = {}) {
  return train({
    model,
    objective: elboObjective({ beta: additiveKlWeight() }),
    data,
    epochs,
    batchSize,
    seed,
    progress: 'none',
    checkpointEvery: 0,
    callbacks,
  });
}

let splits: { train: Dataset; test: Dataset } | undefined;

function memoryFigures() {
  const held = splits ? [splits.train, splits.test] : [];
  return {
    datasetMiB: held.reduce((s, d) => s + d.x.byteLength + d.y.byteLength, 0) / MiB,
    rssMiB: process.memoryUsage().rss / MiB,
    peakRssMiB: process.resourceUsage().maxRSS / 1024,
    wasmHeapMiB: wasmHeapMiB(),
  };
}

async function trainingCase(sweep: 'n' | 'width', size: number, trainSet: Dataset): Promise<CaseResult> {
  const n = sweep === 'n' ? size : widthN;
  const data = firstExamples(trainSet, n);
  const hidden = sweep === 'n' ? [300, 100] : [size, hiddenOf(size)];
  const base = sweep === 'n' ? lenet300({ seed }) : mlp({ hiddenUnits: hidden, seed });
  const model = sparseVd(base);
  await trainOnce(model, firstExamples(data, Math.min(n, Math.max(1, warmupSteps) * batchSize)), 1);
  const probe = await tf.profile(async () => {
    await trainOnce(model, firstExamples(data, Math.min(n, batchSize)), 1);
  });
  const tensorsBefore = tf.memory().numTensors;
  const residentTensorBytes = tf.memory().numBytes;
  const cpu: number[] = [];
  const wall: number[] = [];
  let cpuStart = 0;
  let wallStart = 0;
  await trainOnce(model, data, repeats, {
    onEpochStart: () => {
      cpuStart = cpuSecondsNow();
      wallStart = performance.now();
    },
    onEpochEnd: () => {
      cpu.push(cpuSecondsNow() - cpuStart);
      wall.push((performance.now() - wallStart) / 1000);
    },
  });
  const tensorsAfter = tf.memory().numTensors;
  const memory = memoryFigures();
  model.dispose();
  return {
    sweep,
    size,
    forwardFlops: mlpFlops(hidden[0], hidden[1]),
    work: n,
    ...measured(cpu, wall, tensorsBefore, tensorsAfter, residentTensorBytes, probe.peakBytes, memory),
  };
}

async function predictiveCase(samples: number, test: Dataset): Promise<CaseResult> {
  const data = firstExamples(test, mcN);
  const model = sparseVd(lenet300({ seed }));
  const predictive = bayesianPredictive(model, { samples, random: new Random(seed), batchSize: mcBatchSize });
  await predictive.predict(firstExamples(data, Math.min(mcN, mcBatchSize)), { keepSamples: false });
  const probe = await tf.profile(async () => {
    await predictive.predict(firstExamples(data, Math.min(mcN, mcBatchSize)), { keepSamples: false });
  });
  const tensorsBefore = tf.memory().numTensors;
  const residentTensorBytes = tf.memory().numBytes;
  const cpu: number[] = [];
  const wall: number[] = [];
  for (let r = 0; r < repeats; r++) {
    const cpuStart = cpuSecondsNow();
    const wallStart = performance.now();
    await predictive.predict(data, { keepSamples: false });
    cpu.push(cpuSecondsNow() - cpuStart);
    wall.push((performance.now() - wallStart) / 1000);
  }
  const tensorsAfter = tf.memory().numTensors;
  const memory = memoryFigures();
  model.dispose();
  return {
    sweep: 'samples',
    size: samples,
    forwardFlops: LENET300_FLOPS,
    work: mcN * samples,
    ...measured(cpu, wall, tensorsBefore, tensorsAfter, residentTensorBytes, probe.peakBytes, memory),
  };
}

async function dataSplits(): Promise<{ train: Dataset; test: Dataset }> {
  if (!splits) {
    const loaded = await loadImageDataset(values.data);
    if (!loaded.train || !loaded.test) throw new Error(`${values.data} needs train and test splits`);
    splits = { train: loaded.train, test: loaded.test };
  }
  return splits;
}

async function runCase(sweep: Sweep, size: number): Promise<CaseResult> {
  const { train: trainSet, test } = await dataSplits();
  return sweep === 'samples' ? predictiveCase(size, test) : trainingCase(sweep, size, trainSet);
}

const RESULT_PREFIX = 'SCALING_RESULT ';
const run = promisify(execFile);

/** Runs one case in a fresh process (this script with `--only`), so its RSS and wasm heap are its own. */
async function runCaseIsolated(sweep: Sweep, size: number): Promise<CaseResult> {
  const args = process.argv.slice(2).filter((a) => a !== '--isolate');
  let stdout: string;
  try {
    ({ stdout } = await run(
      process.execPath,
      [...process.execArgv, fileURLToPath(import.meta.url), ...args, '--only', `${sweep}:${size}`],
      { maxBuffer: 16 * MiB },
    ));
  } catch (error) {
    // Node prints the source line of an exception thrown from minified code (the wasm glue is one huge line): keep
    // only the short lines, which hold the error and its stack.
    const stderr = (error as { stderr?: string }).stderr ?? String(error);
    const short = stderr
      .split('\n')
      .filter((l) => l.length < 300 && l.trim() !== '' && !l.trim().startsWith('^'));
    throw new Error(`case ${sweep}:${size} failed:\n${short.slice(-15).join('\n')}`);
  }
  const line = stdout.split('\n').find((l) => l.startsWith(RESULT_PREFIX));
  if (!line) throw new Error(`case ${sweep}:${size} printed no result:\n${stdout}`);
  return JSON.parse(line.slice(RESULT_PREFIX.length)) as CaseResult;
}

const backend = await initBackend();

if (values.only) {
  const [sweep, size] = values.only.split(':');
  if (!SWEEPS.includes(sweep as Sweep)) throw new Error(`--only: unknown sweep '${sweep}'`);
  console.log(RESULT_PREFIX + JSON.stringify(await runCase(sweep as Sweep, Number(size))));
} else {
  const loadStart = loadavg();
  const startTensors = tf.memory().numTensors;
  const wallStart = performance.now();
  const cpuStart = cpuSecondsNow();
  console.log(
    `backend: ${backendLine()}; data ${values.data}; batch ${batchSize}; repeats ${repeats} (fastest kept); ` +
      `${values.isolate ? 'one process per case' : 'one process'}; load average ${loadStart.map((l) => l.toFixed(2)).join(' ')}`,
  );
  const results: CaseResult[] = [];
  for (const sweep of sweeps) {
    for (const size of sizesOf(sweep)) {
      let result: CaseResult;
      try {
        result = values.isolate ? await runCaseIsolated(sweep, size) : await runCase(sweep, size);
      } catch (error) {
        // Thrown past here, the wasm glue's rejection handler would print its whole one-line source.
        console.error(error instanceof Error ? (error.stack ?? error.message) : String(error));
        process.exit(1);
      }
      results.push(result);
      console.error(
        `# ${sweep}=${size}: ${result.cpuSeconds.toFixed(2)} s CPU, ${result.wallSeconds.toFixed(2)} s wall`,
      );
    }
  }
  const cpuTotal = cpuSecondsNow() - cpuStart;
  const wallTotal = (performance.now() - wallStart) / 1000;
  const loadEnd = loadavg();

  console.log('\n## Cases\n');
  printMarkdown([
    [
      'sweep',
      'size',
      'work',
      'CPU s',
      'wall s',
      'CPU µs/unit',
      '≈GFLOP/s (CPU)',
      'tensors before→after',
      'peak tensor MiB',
      'resident tensor MiB',
      'RSS MiB',
      'peak RSS MiB',
      'wasm heap MiB',
      'dataset MiB',
    ],
    ...results.map((r) => [
      r.sweep === 'n'
        ? 'n (LeNet-300-100)'
        : r.sweep === 'width'
          ? `w (784-w-w/3-10, n=${widthN})`
          : `S (n=${mcN})`,
      r.size,
      r.work,
      r.cpuSeconds,
      r.wallSeconds,
      (1e6 * r.cpuSeconds) / r.work,
      achievedGflops(r),
      `${r.tensorsBefore}→${r.tensorsAfter}${r.tensorsBefore === r.tensorsAfter ? '' : ' LEAK'}`,
      r.peakTensorBytes / MiB,
      r.residentTensorBytes / MiB,
      r.rssMiB,
      r.peakRssMiB,
      r.wasmHeapMiB ?? NaN,
      r.datasetMiB,
    ]),
  ]);

  const fits = exponentRows(results);
  if (fits.length > 0) {
    console.log('\n## Fitted exponents (least-squares slope of log time on log size)\n');
    printMarkdown([
      [
        'sweep',
        'against',
        'exponent (CPU)',
        'R² (CPU)',
        'exponent (wall)',
        'expected',
        'affine fit: fixed CPU s',
        'CPU per unit',
      ],
      ...fits.map((f) => [
        f.sweep,
        f.against,
        f.cpu.exponent,
        f.cpu.r2,
        f.wall.exponent,
        f.expected,
        f.affine.fixed,
        f.unitLabel(f.affine.perUnit),
      ]),
    ]);
  }

  const leaks = results.filter((r) => r.tensorsBefore !== r.tensorsAfter);
  const endTensors = tf.memory().numTensors;
  console.log(
    `\ntensors: ${leaks.length === 0 ? 'equal before and after every case' : `LEAK in ${leaks.map((r) => `${r.sweep}=${r.size}`).join(', ')}`}; ` +
      `process ${startTensors}→${endTensors}. Total ${cpuTotal.toFixed(1)} s CPU${values.isolate ? ' (this process only)' : ''}, ` +
      `${wallTotal.toFixed(1)} s wall; load average at the end ${loadEnd.map((l) => l.toFixed(2)).join(' ')}; ` +
      `peak RSS ${(process.resourceUsage().maxRSS / 1024).toFixed(0)} MiB (this process).`,
  );
  if (values['json-out']) {
    await writeJsonAtomic(values['json-out'], {
      backend: backendLine(),
      backendName: backend.name,
      options: values,
      loadAverage: { start: loadStart, end: loadEnd },
      cases: results,
      exponents: fits.map(({ unitLabel: _unitLabel, ...fit }) => fit),
      totals: { cpuSeconds: cpuTotal, wallSeconds: wallTotal },
    });
  }
  if (leaks.length > 0 || endTensors !== startTensors) process.exitCode = 1;
}

/**
 * Achieved GFLOP/s per CPU second, counting what the local reparameterisation computes: two products per layer (mean
 * and variance) in a forward pass, and about three forward passes' worth per training step.
 */
function achievedGflops(r: CaseResult): number {
  const passes = r.sweep === 'samples' ? 2 : 6;
  return (r.forwardFlops * passes * r.work) / r.cpuSeconds / 1e9;
}

interface ExponentRow {
  readonly sweep: Sweep;
  readonly against: string;
  readonly cpu: PowerLawFit;
  readonly wall: PowerLawFit;
  readonly expected: string;
  /** CPU seconds ≈ fixed + perUnit · size (size = n, S or forward FLOPs per example). */
  readonly affine: AffineFit;
  readonly unitLabel: (perUnit: number) => string;
}

function exponentRows(results: readonly CaseResult[]): ExponentRow[] {
  const rows: ExponentRow[] = [];
  for (const sweep of SWEEPS) {
    const points = results.filter((r) => r.sweep === sweep);
    if (points.length < 2) continue;
    const cpu = points.map((r) => r.cpuSeconds);
    const wall = points.map((r) => r.wallSeconds);
    const sizes = points.map((r) => r.size);
    if (sweep === 'width') {
      const flops = points.map((r) => r.forwardFlops);
      const flopsVsW = fitPowerLaw(sizes, flops).exponent;
      rows.push({
        sweep,
        against: 'w',
        cpu: fitPowerLaw(sizes, cpu),
        wall: fitPowerLaw(sizes, wall),
        expected: `≈${flopsVsW.toFixed(2)} (FLOPs ∝ w^${flopsVsW.toFixed(2)} on this grid)`,
        affine: fitAffine(sizes, cpu),
        unitLabel: (d) => `${(1e3 * d).toFixed(2)} ms per unit of w`,
      });
      rows.push({
        sweep,
        against: 'forward FLOPs',
        cpu: fitPowerLaw(flops, cpu),
        wall: fitPowerLaw(flops, wall),
        expected: '≈1',
        affine: fitAffine(flops, cpu),
        unitLabel: (d) => `${((1e9 * d) / widthN).toFixed(2)} s per GFLOP (forward)`,
      });
    } else {
      rows.push({
        sweep,
        against: sweep === 'n' ? 'n' : 'S',
        cpu: fitPowerLaw(sizes, cpu),
        wall: fitPowerLaw(sizes, wall),
        expected: '≈1',
        affine: fitAffine(sizes, cpu),
        unitLabel: (d) =>
          sweep === 'n'
            ? `${(1e6 * d).toFixed(0)} µs per example`
            : `${(1e3 * d).toFixed(1)} ms per sample (n=${mcN})`,
      });
    }
  }
  return rows;
}

/** Prints rows (first = header) as a markdown table with aligned columns. */
function printMarkdown(rows: ReadonlyArray<ReadonlyArray<string | number>>): void {
  const cells = rows.map((r) => r.map((c) => (typeof c === 'number' ? formatNumber(c) : c)));
  const widths = cells[0].map((_, i) => Math.max(3, ...cells.map((r) => r[i].length)));
  const line = (r: readonly string[]) =>
    `| ${r.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join(' | ')} |`;
  console.log(line(cells[0]));
  console.log(`|${widths.map((w, i) => (i === 0 ? '-'.repeat(w + 2) : `${'-'.repeat(w + 1)}:`)).join('|')}|`);
  for (const r of cells.slice(1)) console.log(line(r));
}

function formatNumber(x: number): string {
  if (!Number.isFinite(x)) return '—';
  if (Number.isInteger(x)) return String(x);
  if (Math.abs(x) >= 100) return x.toFixed(1);
  if (Math.abs(x) >= 1) return x.toFixed(2);
  return x.toPrecision(3);
}

/** The timing and memory fields every case reports: the fastest repetition, all repetitions, tensors and memory. */
function measured<M extends object>(
  cpu: number[],
  wall: number[],
  tensorsBefore: number,
  tensorsAfter: number,
  residentTensorBytes: number,
  peakTensorBytes: number,
  memory: M,
) {
  return {
    cpuSeconds: Math.min(...cpu),
    wallSeconds: Math.min(...wall),
    cpuSecondsAll: cpu,
    wallSecondsAll: wall,
    tensorsBefore,
    tensorsAfter,
    residentTensorBytes,
    peakTensorBytes,
    ...memory,
  };
}
