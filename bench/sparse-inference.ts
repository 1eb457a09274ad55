/**
 * Prediction speed of a pruned LeNet-300-100 on 10,000 Fashion-MNIST test images (random images when the data set
 * is not installed; the time does not depend on the values), batch sizes 1, 32 and 1000, with
 * - `tfjs masked`: the masked model (pruned weights are zeros) in TF.js on the active backend (wasm by default);
 * - `tfjs shrunk`: the architecture rebuilt without dead units by `shrinkModel`, in TF.js;
 * - `sparse`: `SparseInferenceModel` (CSR weights, WebAssembly SIMD tiles; TF.js only where its cost model says so).
 * Every timing includes making the input tensor from the images' typed array and reading the logits back.
 *
 * The pruned network is a zoo LeNet-300-100 with magnitude masks at Sparse VD's layer densities (2.6%, 4.8%, 54%; no
 * training needed), or with `--model` a real pruned run: a directory holding `model.bcmp` or `model/model.json` (the
 * output of `bayescomp prune`/`quantize`/`export`), a `model.json`, or a `.bcmp` file.
 *
 * The variants are timed interleaved (each repetition runs every variant once, in rotating order) and the table gives
 * medians over repetitions of the time and of the per-repetition time ratio, as wall time and as CPU time of this
 * process (the steadier figure while other jobs share the cores).
 *
 *   npx tsx bench/sparse-inference.ts [--model DIR|model.json|file.bcmp] [--reps 5] [--images 10000]
 *                                     [--batches 1,32,1000] [--calibrate]
 *
 * `--calibrate` instead times one Dense 784→300 layer (relu) by both paths of `SparseInferenceModel` over a grid of
 * densities and batch sizes: the measurements behind the cost model of `chooseDensePath`.
 */
import * as tf from '@tensorflow/tfjs';
import { mkdtemp, readFile, readdir, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decodeCompactModel, encodeCompactModel } from '../src/compress/compact-model.js';
import { keepTopFraction } from '../src/compress/masks.js';
import { SparseInferenceModel } from '../src/compress/sparse-inference.js';
import { shrinkModel } from '../src/compress/structured.js';
import { loadImageDataset } from '../src/data/image-datasets.js';
import { loadModel, saveModel } from '../src/models/file-io.js';
import { lenet300 } from '../src/models/zoo.js';
import { initBackend } from '../src/runtime/backend.js';
import { Random } from '../src/runtime/random.js';
import { backendLine, printTable } from './lib/measure.js';

function argValue(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && i + 1 < process.argv.length ? process.argv[i + 1] : fallback;
}

const reps = Number(argValue('reps', '5'));
const images = Number(argValue('images', '10000'));
const batchSizes = argValue('batches', '1,32,1000').split(',').map(Number);
const modelArg = argValue('model', '');

/** Sparse VD's LeNet-300-100 layer densities (Molchanov et al. 2017, Table 1: 1.1% overall). */
const SVD_DENSITY: Record<string, number> = { dense_1: 0.026, dense_2: 0.048, dense_3: 0.54 };

/** A zoo LeNet-300-100 with per-layer magnitude masks at the Sparse VD densities (biases random, small). */
function maskedLenet300(seed: number): tf.LayersModel {
  const model = lenet300({ seed });
  const r = new Random(seed + 1);
  for (const layer of model.layers) {
    if (layer.getClassName() !== 'Dense') continue;
    const [k, b] = layer.getWeights();
    const w = Float32Array.from(k.dataSync());
    const keep = keepTopFraction(Float64Array.from(w, Math.abs), 1 - SVD_DENSITY[layer.name]);
    for (let i = 0; i < w.length; i++) if (!keep[i]) w[i] = 0;
    const bias = Float32Array.from({ length: b.size }, () => 0.05 * r.normal());
    layer.setWeights([tf.tensor(w, k.shape), tf.tensor(bias, b.shape)]);
  }
  return model;
}

/** The pruned model of `--model`: a run directory, a model.json or a .bcmp file. */
async function loadPruned(spec: string): Promise<tf.LayersModel> {
  const isFile = (await stat(spec)).isFile();
  if (isFile && spec.endsWith('.bcmp')) return decodeCompactModel(new Uint8Array(await readFile(spec)), spec);
  if (isFile) return loadModel(spec);
  const entries = await readdir(spec);
  if (entries.includes('model.bcmp')) {
    const file = join(spec, 'model.bcmp');
    return decodeCompactModel(new Uint8Array(await readFile(file)), file);
  }
  if (entries.includes('model')) return loadModel(join(spec, 'model'));
  return loadModel(spec);
}

async function savedBytes(model: tf.LayersModel): Promise<number> {
  const dir = await mkdtemp(join(tmpdir(), 'bayescomp-sparse-bench-'));
  try {
    await saveModel(model, dir);
    let total = 0;
    for (const f of await readdir(dir)) total += (await stat(join(dir, f))).size;
    return total;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** Compact-format bytes with every Dense kernel stored sparse (float32 kept values). */
function compactBytes(model: tf.LayersModel): number {
  const plan = new Map<string, { mask: Uint8Array }>();
  for (const w of model.weights) {
    if (!w.originalName.endsWith('/kernel')) continue;
    const values = w.read().dataSync();
    plan.set(w.originalName, { mask: Uint8Array.from(values, (v) => (v !== 0 ? 1 : 0)) });
  }
  return encodeCompactModel(model, plan).length;
}

/** Predicts `x` (n samples) in batches with a function of (batch data, batch size) → logits; returns nothing. */
type Predictor = (x: Float32Array, batch: number) => Float32Array;

function tfjsPredictor(model: tf.LayersModel, inputShape: readonly number[]): Predictor {
  // The whole batch in one call (predict's default batchSize of 32 would split it), read after the tidy (reading
  // inside it was ~10× slower on wasm).
  return (x, batch) => {
    const y = tf.tidy(
      () => model.predict(tf.tensor(x, [batch, ...inputShape]), { batchSize: batch }) as tf.Tensor,
    );
    const values = y.dataSync() as Float32Array;
    y.dispose();
    return values;
  };
}

function timeAll(predict: Predictor, x: Float32Array, n: number, features: number, batch: number) {
  const wall0 = performance.now();
  const cpu0 = process.cpuUsage();
  for (let first = 0; first < n; first += batch) {
    const size = Math.min(batch, n - first);
    predict(x.subarray(first * features, (first + size) * features), size);
  }
  const cpu = process.cpuUsage(cpu0);
  return { wall: performance.now() - wall0, cpu: (cpu.user + cpu.system) / 1000 };
}

const median = (v: number[]) => {
  const s = [...v].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

async function testImages(n: number): Promise<{ x: Float32Array; source: string }> {
  try {
    const data = await loadImageDataset('fashion-mnist', { download: false });
    if (data.test && data.test.n >= n)
      return { x: data.test.x.subarray(0, n * 784), source: 'Fashion-MNIST test' };
  } catch {
    // fall through to random images
  }
  const r = new Random(7);
  return { x: Float32Array.from({ length: n * 784 }, () => r.uniform()), source: 'random images' };
}

async function compare(): Promise<void> {
  const masked = modelArg ? await loadPruned(modelArg) : maskedLenet300(1);
  const inputShape = (masked.inputs[0].shape as number[]).slice(1);
  const features = inputShape.reduce((a, d) => a * d, 1);
  const shrunk = await shrinkModel(masked);
  const sparse = SparseInferenceModel.fromLayersModel(masked);
  const { x, source } = await testImages(images);

  console.log(`backend: ${backendLine()}; sparse kernels: ${sparse.kernelKind}`);
  console.log(`model: ${modelArg || 'zoo lenet300, magnitude masks at 2.6% / 4.8% / 54%'}; data: ${source}`);
  console.log(
    `shrunk units: ${shrunk.layers.map((l) => `${l.name} ${l.before}→${l.after}`).join(', ')}; sparse plan at batch ` +
      batchSizes
        .map(
          (b) =>
            `${b}: ${sparse
              .describe(b)
              .filter((l) => l.density !== undefined)
              .map((l) => `${l.name} ${(100 * l.density!).toFixed(1)}% ${l.path}`)
              .join(', ')}`,
        )
        .join('; '),
  );

  const variants: { name: string; predict: Predictor }[] = [
    { name: 'tfjs masked', predict: tfjsPredictor(masked, inputShape) },
    { name: 'tfjs shrunk', predict: tfjsPredictor(shrunk.model, inputShape) },
    { name: 'sparse', predict: (xb, b) => sparse.predictArray(xb, b) },
  ];
  // Agreement of the logits on the first 1000 images.
  const check = Math.min(1000, images);
  const reference = variants[0].predict(x.subarray(0, check * features), check);
  for (const v of variants.slice(1)) {
    const got = v.predict(x.subarray(0, check * features), check);
    let d = 0;
    for (let i = 0; i < got.length; i++) d = Math.max(d, Math.abs(got[i] - reference[i]));
    console.log(`max |logit − tfjs masked| over ${check} images: ${v.name} ${d.toExponential(2)}`);
  }

  const bytes = [await savedBytes(masked), await savedBytes(shrunk.model), compactBytes(masked)];
  const rows: (string | number)[][] = [
    ['batch', 'variant', 'wall ms', 'cpu ms', 'speed-up wall', 'speed-up cpu', 'model bytes', 'bytes are'],
  ];
  for (const batch of batchSizes) {
    const times = variants.map(() => ({ wall: [] as number[], cpu: [] as number[] }));
    const ratios = variants.map(() => ({ wall: [] as number[], cpu: [] as number[] }));
    for (const v of variants) timeAll(v.predict, x, Math.min(images, 20 * batch), features, batch); // warm-up
    for (let r = 0; r < reps; r++) {
      const got = variants.map(() => ({ wall: 0, cpu: 0 }));
      for (let k = 0; k < variants.length; k++) {
        const v = (k + r) % variants.length;
        got[v] = timeAll(variants[v].predict, x, images, features, batch);
      }
      got.forEach((g, v) => {
        times[v].wall.push(g.wall);
        times[v].cpu.push(g.cpu);
        ratios[v].wall.push(got[0].wall / g.wall);
        ratios[v].cpu.push(got[0].cpu / g.cpu);
      });
    }
    variants.forEach((v, i) =>
      rows.push([
        String(batch),
        v.name,
        median(times[i].wall),
        median(times[i].cpu),
        `${median(ratios[i].wall).toFixed(2)}×`,
        `${median(ratios[i].cpu).toFixed(2)}×`,
        String(bytes[i]),
        ['model.json + weights.bin', 'model.json + weights.bin', '.bcmp (float32 kept values)'][i],
      ]),
    );
  }
  console.log(`\n${images} images, median of ${reps} interleaved repetitions (speed-up: vs tfjs masked)`);
  printTable(rows);
}

/** Both paths of one Dense 784→300 relu layer, over densities and batch sizes: the crossover density. */
async function calibrate(): Promise<void> {
  console.log(`backend: ${backendLine()}`);
  const r = new Random(3);
  const rows: (string | number)[][] = [['batch', 'density', 'sparse ms', 'tfjs ms', 'tfjs/sparse']];
  for (const batch of batchSizes) {
    const x = Float32Array.from({ length: batch * 784 }, () => r.uniform());
    for (const density of [0.01, 0.03, 0.1, 0.2, 0.3, 0.5, 1]) {
      const m = tf.sequential();
      m.add(tf.layers.dense({ inputShape: [784], units: 300, activation: 'relu' }));
      const [k, b] = m.getWeights();
      const w = Float32Array.from({ length: k.size }, () => (r.uniform() < density ? r.normal() : 0));
      m.setWeights([tf.tensor(w, k.shape), b]);
      const paths = (['sparse', 'tfjs'] as const).map((p) =>
        SparseInferenceModel.fromLayersModel(m, { densePath: p }),
      );
      const calls = Math.max(3, Math.round((2e5 / (batch * 784 * 300 * Math.max(density, 0.05))) * 1e3));
      const cpu = paths.map(() => [] as number[]);
      for (let rep = 0; rep <= reps; rep++) {
        paths.forEach((p, i) => {
          const c0 = process.cpuUsage();
          for (let c = 0; c < calls; c++) p.predictArray(x, batch);
          const c1 = process.cpuUsage(c0);
          if (rep > 0) cpu[i].push((c1.user + c1.system) / 1000 / calls);
        });
      }
      const [s, t] = cpu.map(median);
      rows.push([String(batch), String(density), s, t, t / s]);
    }
  }
  printTable(rows);
}

await initBackend();
await (process.argv.includes('--calibrate') ? calibrate() : compare());
