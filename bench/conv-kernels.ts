/**
 * Convolution kernels at LeNet-5-Caffe's shapes (batch 100) on the active backend (wasm by default), and two whole
 * training steps that use them:
 * - per kernel: `Conv2D`, `Conv2DBackpropInput`, `Conv2DBackpropFilter`, `MaxPool`, `MaxPoolGrad`, `ReluGrad` of both
 *   convolution layers, called through the engine (`runKernel`), best of `--repeats` after a warm-up;
 * - `map`: a LeNet-5-Caffe MAP step (softmax cross-entropy, `tf.variableGrads`, SGD update);
 * - `lrt`: the same network with local reparameterisation in both convolutions, as the Sparse VD layer computes it
 *   (conv(x, θ) and conv(x², σ²), y = m + √(v + ε)·ε̃), dense layers plain.
 *
 *   npx tsx bench/conv-kernels.ts [--repeats 9] [--steps 10] [--profile]
 *
 * `--profile` prints the per-kernel totals of one step of each kind (tf.profile). The machine's cores are shared:
 * compare the relative costs, take minima. Random data: the time does not depend on the values.
 */
import * as tf from '@tensorflow/tfjs';
import { loadavg } from 'node:os';
import { initBackend } from '../src/runtime/backend.js';
import { backendLine } from './lib/measure.js';

const BATCH = 100;

function argValue(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && i + 1 < process.argv.length ? process.argv[i + 1] : fallback;
}

const repeats = Number(argValue('repeats', '9'));
const steps = Number(argValue('steps', '10'));

/**
 * Minimum wall time and minimum CPU time (user + system of this process) in ms of `fn` over `repeats` runs after a
 * warm-up run. On a shared machine the CPU time is the steadier figure: it leaves out time spent waiting for a core.
 */
function bestMs(fn: () => void, runs = repeats): { wall: number; cpu: number } {
  fn();
  let wall = Infinity;
  let cpu = Infinity;
  for (let r = 0; r < runs; r++) {
    const start = performance.now();
    const used = process.cpuUsage();
    fn();
    const spent = process.cpuUsage(used);
    wall = Math.min(wall, performance.now() - start);
    cpu = Math.min(cpu, (spent.user + spent.system) / 1000);
  }
  return { wall, cpu };
}

function times({ wall, cpu }: { wall: number; cpu: number }, divisor = 1): string {
  return `${(wall / divisor).toFixed(2).padStart(8)} ${(cpu / divisor).toFixed(2).padStart(8)}`;
}

/** A kernel called through the engine; the output is disposed right away. */
function kernel(name: string, inputs: tf.NamedTensorMap, attrs: Record<string, unknown>): () => void {
  return () => {
    const out = tf.engine().runKernel(name, inputs, attrs as tf.NamedAttrMap);
    tf.dispose(out as tf.Tensor | tf.Tensor[]);
  };
}

interface ConvLayer {
  readonly name: string;
  readonly x: [number, number, number, number];
  readonly filter: [number, number, number, number];
}

const LAYERS: readonly ConvLayer[] = [
  { name: 'conv1', x: [BATCH, 28, 28, 1], filter: [5, 5, 1, 20] },
  { name: 'conv2', x: [BATCH, 12, 12, 20], filter: [5, 5, 20, 50] },
];

/**
 * Per-kernel times. Every call gets a filter and a dy it has not seen before, as in training (they change every step):
 * the wasm backend caches its XNNPACK operators by weight tensor, so reusing one tensor would skip the weight packing
 * that a training step pays.
 */
function kernelTable(): void {
  const valid = { strides: [1, 1], pad: 'valid', dataFormat: 'NHWC', dilations: [1, 1] };
  const pool = { filterSize: [2, 2], strides: [2, 2], pad: 'valid' };
  console.log('kernel (LeNet-5-Caffe shapes, batch 100)       wall ms   CPU ms (best)');
  for (const layer of LAYERS) {
    const [n, h, w] = layer.x;
    const [fh, fw, , o] = layer.filter;
    const outShape = [n, h - fh + 1, w - fw + 1, o];
    const x = tf.randomNormal(layer.x, 0, 1, 'float32', 1);
    const fresh = (shape: number[], stddev: number) =>
      Array.from({ length: repeats + 1 }, (_, i) => tf.randomNormal(shape, 0, stddev, 'float32', 100 + i));
    const filters = fresh(layer.filter, 0.1);
    const dys = fresh(outShape, 1);
    const dy = dys[0];
    const pooled = tf.maxPool(dy as tf.Tensor4D, 2, 2, 'valid');
    const dPooled = tf.randomNormal(pooled.shape, 0, 1, 'float32', 4);
    const cycling = (fn: (i: number) => void) => {
      let i = 0;
      return () => fn(i++ % (repeats + 1));
    };
    const rows: [string, () => void][] = [
      ['Conv2D', cycling((i) => kernel('Conv2D', { x, filter: filters[i] }, valid)())],
      [
        'Conv2DBackpropInput',
        cycling((i) =>
          kernel(
            'Conv2DBackpropInput',
            { dy: dys[i], filter: filters[i] },
            { ...valid, inputShape: layer.x },
          )(),
        ),
      ],
      [
        'Conv2DBackpropFilter',
        cycling((i) =>
          kernel('Conv2DBackpropFilter', { x, dy: dys[i] }, { ...valid, filterShape: layer.filter })(),
        ),
      ],
      ['MaxPool', kernel('MaxPool', { x: dy }, pool)],
      ['MaxPoolGrad', kernel('MaxPoolGrad', { dy: dPooled, input: dy, output: pooled }, pool)],
      ['ReluGrad (Mul of Step)', () => tf.tidy(() => void tf.mul(dy, tf.step(dy)))],
      ['bias gradient (Sum over N, H, W)', () => tf.tidy(() => void tf.sum(dy, [0, 1, 2]))],
    ];
    for (const [name, fn] of rows) {
      console.log(`  ${layer.name} ${name.padEnd(38)} ${times(bestMs(fn))}`);
    }
    tf.dispose([x, ...filters, ...dys, pooled, dPooled]);
  }
}

/** LeNet-5-Caffe parameters (He-scaled normal weights, zero biases). */
function lenetVariables(): Record<string, tf.Variable> {
  const shapes: Record<string, number[]> = {
    w1: [5, 5, 1, 20],
    b1: [20],
    w2: [5, 5, 20, 50],
    b2: [50],
    w3: [800, 500],
    b3: [500],
    w4: [500, 10],
    b4: [10],
  };
  const out: Record<string, tf.Variable> = {};
  let seed = 10;
  for (const [name, shape] of Object.entries(shapes)) {
    const fanIn = shape.length === 1 ? 1 : shape.slice(0, -1).reduce((a, b) => a * b, 1);
    const init =
      shape.length === 1
        ? tf.zeros(shape)
        : tf.randomNormal(shape, 0, Math.sqrt(2 / fanIn), 'float32', seed++);
    out[name] = tf.variable(init, true, `bench_${name}`);
    init.dispose();
  }
  return out;
}

type ConvFn = (
  x: tf.Tensor4D,
  w: tf.Variable,
  b: tf.Variable,
  logSigma2: tf.Variable | undefined,
) => tf.Tensor4D;

/** A plain convolution with bias. */
const plainConv: ConvFn = (x, w, b) => tf.add(tf.conv2d(x, w as tf.Tensor4D, 1, 'valid'), b);

/** Local reparameterisation: N(conv(x, θ) + b, conv(x², σ²)), as `BayesianConv2D` draws it. */
const lrtConv: ConvFn = (x, w, b, logSigma2) => {
  const mean = tf.add(tf.conv2d(x, w as tf.Tensor4D, 1, 'valid'), b);
  const variance = tf.conv2d(tf.square(x), tf.exp(logSigma2!) as tf.Tensor4D, 1, 'valid');
  const noise = tf.randomNormal(mean.shape, 0, 1, 'float32', 5);
  return tf.add(mean, tf.mul(tf.sqrt(tf.add(variance, 1e-8)), noise));
};

function lenetLogits(p: Record<string, tf.Variable>, x: tf.Tensor4D, conv: ConvFn): tf.Tensor2D {
  let h = tf.relu(conv(x, p.w1, p.b1, p.s1));
  h = tf.maxPool(h, 2, 2, 'valid');
  h = tf.relu(conv(h, p.w2, p.b2, p.s2));
  h = tf.maxPool(h, 2, 2, 'valid');
  const hidden = tf.relu(tf.add(tf.matMul(tf.reshape(h, [x.shape[0], 800]), p.w3 as tf.Tensor2D), p.b3));
  return tf.add(tf.matMul(hidden, p.w4 as tf.Tensor2D), p.b4);
}

/**
 * `tf.profile` of one call of `fn`, with each kernel's time taken as CPU time of this process rather than wall time
 * (the backend's timer is swapped for the duration), so that time spent waiting for a shared core is left out.
 */
async function cpuProfile(fn: () => void): Promise<Awaited<ReturnType<typeof tf.profile>>> {
  const backend = tf.backend() as tf.KernelBackend & {
    time: (f: () => void) => Promise<tf.BackendTimingInfo>;
  };
  const wallTimer = backend.time;
  backend.time = (f) => {
    const used = process.cpuUsage();
    f();
    const spent = process.cpuUsage(used);
    return Promise.resolve({ kernelMs: (spent.user + spent.system) / 1000 });
  };
  try {
    const info = await tf.profile(() => {
      fn();
      return tf.scalar(0);
    });
    tf.dispose(info.result as tf.Tensor);
    return info;
  } finally {
    backend.time = wallTimer;
  }
}

function stepCase(name: string, conv: ConvFn, profile: boolean): Promise<void> {
  const p = lenetVariables();
  if (conv === lrtConv) {
    p.s1 = tf.variable(tf.fill([5, 5, 1, 20], -10), true, 'bench_s1');
    p.s2 = tf.variable(tf.fill([5, 5, 20, 50], -10), true, 'bench_s2');
  }
  const x = tf.randomUniform([BATCH, 28, 28, 1], 0, 1, 'float32', 6) as tf.Tensor4D;
  const y = tf.oneHot(tf.randomUniform([BATCH], 0, 10, 'int32', 7) as tf.Tensor1D, 10);
  const optimizer = tf.train.sgd(1e-3);
  const step = () => {
    const loss = optimizer.minimize(
      () => tf.losses.softmaxCrossEntropy(y, lenetLogits(p, x, conv)) as tf.Scalar,
      true,
    );
    loss!.dataSync();
    loss!.dispose();
  };
  return (async () => {
    step();
    const before = tf.memory().numTensors;
    const ms = bestMs(() => {
      for (let s = 0; s < steps; s++) step();
    });
    const after = tf.memory().numTensors;
    console.log(
      `step ${name.padEnd(36)} ${times(ms, steps)} ms/step (wall, CPU; best of ${repeats} × ${steps} steps); ` +
        `tensors ${before} → ${after}`,
    );
    if (profile) {
      const info = await cpuProfile(step);
      const byName = new Map<string, { count: number; ms: number }>();
      for (const k of info.kernels) {
        const entry = byName.get(k.name) ?? { count: 0, ms: 0 };
        entry.count++;
        entry.ms += typeof k.kernelTimeMs === 'number' ? k.kernelTimeMs : 0;
        byName.set(k.name, entry);
      }
      const total = [...byName.values()].reduce((s, e) => s + e.ms, 0);
      console.log(`    ${info.kernels.length} kernels, ${total.toFixed(1)} ms CPU in kernels (profiled)`);
      for (const [kernelName, { count, ms }] of [...byName.entries()].sort((a, b) => b[1].ms - a[1].ms)) {
        if (ms < 0.05) continue;
        console.log(
          `    ${kernelName.padEnd(28)} ${String(count).padStart(4)}× ${ms.toFixed(2).padStart(8)} ms`,
        );
      }
    }
    optimizer.dispose();
    tf.dispose([x, y, ...Object.values(p)]);
  })();
}

async function main(): Promise<void> {
  await initBackend();
  const profile = process.argv.includes('--profile');
  console.log(`backend: ${backendLine()}; load ${loadavg()[0].toFixed(1)}`);
  kernelTable();
  await stepCase('LeNet-5-Caffe MAP (batch 100)', plainConv, profile);
  await stepCase('LeNet-5-Caffe conv LRT (batch 100)', lrtConv, profile);
  console.log(`load ${loadavg()[0].toFixed(1)}`);
}

await main();
