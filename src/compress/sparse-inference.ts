import * as tf from '@tensorflow/tfjs';
import { BayescompError } from '../util/errors.js';
import { type SparseKernels, javascriptSparseKernels, simdSparseKernels } from './sparse-kernels.js';
import { type CsrMatrix, csrDensity, csrFromDenseKernel } from './sparse-matrix.js';

/** How a layer of a {@link SparseInferenceModel} runs for a given batch size. */
export type SparseLayerPath = 'sparse' | 'tfjs';

/** Options for {@link SparseInferenceModel.fromLayersModel}. */
export interface SparseInferenceOptions {
  /**
   * Which path Dense layers take: `auto` (default) chooses per layer and per batch size, minimising the measured
   * cost model of {@link SPARSE_NS_PER_WEIGHT_LANE} over the whole chain; `sparse` runs every Dense layer from its CSR
   * weights; `tfjs` runs every layer in TF.js.
   */
  readonly densePath?: 'auto' | SparseLayerPath;
  /** `auto` (default): the WebAssembly SIMD kernel where it instantiates, else JavaScript loops. */
  readonly kernels?: 'auto' | 'simd' | 'javascript';
  /**
   * Weight values by weight name (`dense_1/kernel`, …) to take instead of reading them back from the model, e.g.
   * straight from a compact file's decoded tensors.
   */
  readonly weights?: ReadonlyMap<string, Float32Array>;
}

/** One layer of the plan of a {@link SparseInferenceModel}. */
export interface SparseLayerInfo {
  readonly name: string;
  /** TF.js class name (`Dense`, `Flatten`, `Conv2D`, …). */
  readonly kind: string;
  /** Kept weights over all weights, for Dense layers (see {@link SparseLayerInfo.kept}). */
  readonly density?: number;
  /**
   * Non-zero weights the sparse path multiplies, for Dense layers: the weights of units that the next Dense layer
   * never reads (all their outgoing weights zero) are left out, as structured pruning would remove those units.
   */
  readonly kept?: number;
  /** The path the layer takes at the batch size asked for. */
  readonly path: SparseLayerPath;
}

/** Samples per tile: a tile of the widest layer's inputs (784 × 64 floats = 200 KB) stays in the core's L2. */
const MAX_TILE = 64;

/**
 * Measured cost model of one Dense layer (in → out units, `nnz` kept weights) predicting a batch of B samples,
 * fitted to `npx tsx bench/sparse-inference.ts --calibrate` (one Dense 784→300 relu layer, densities 1–100%, batches
 * 1, 32, 1000; CPU time) on this project's machine: AMD EPYC, 2 cores shared with other jobs, Node 20, TF.js 4.22
 * wasm backend with SIMD and 1 thread:
 * - sparse path: a·nnz·B' + τ·(in + out)·B, where B' is B rounded up to 4 lanes; a ≈ 0.15 ns per kept weight and
 *   lane with tiles of 16k lanes ({@link SPARSE_NS_PER_WEIGHT_LANE}), ≈ 0.28 ns with narrower tiles
 *   ({@link SPARSE_NS_PER_WEIGHT_LANE_NARROW}); τ ≈ 4 ns per feature and sample moved in and out of the
 *   feature-major tiles ({@link SPARSE_NS_PER_FEATURE_SAMPLE});
 * - TF.js path (fused matMul + bias + activation, tensor in and read-back): d·in·out·B + c, d ≈ 0.09 ns per weight
 *   (kept or not) and sample ({@link TFJS_NS_PER_WEIGHT_SAMPLE}), c ≈ 50 µs per call ({@link TFJS_CALL_NS}).
 * Measured crossover densities (where both paths took the same time): ≈ 20% at batch 1, ≈ 50% at batches 32 and
 * 1000; the model reproduces them (25%, 52%, 48%). On an idle machine TF.js's matrix product is up to ~2× faster,
 * which would move the large-batch crossover towards ~25%.
 */
export const SPARSE_NS_PER_WEIGHT_LANE = 0.15;
/** See {@link SPARSE_NS_PER_WEIGHT_LANE}. */
export const SPARSE_NS_PER_WEIGHT_LANE_NARROW = 0.28;
/** See {@link SPARSE_NS_PER_WEIGHT_LANE}. */
export const SPARSE_NS_PER_FEATURE_SAMPLE = 4;
/** See {@link SPARSE_NS_PER_WEIGHT_LANE}. */
export const TFJS_NS_PER_WEIGHT_SAMPLE = 0.09;
/** See {@link SPARSE_NS_PER_WEIGHT_LANE}. */
export const TFJS_CALL_NS = 50_000;

/** Modelled ns of the sparse product of a layer with `kept` weights over `batch` samples (tiles of 64 lanes). */
function sparseProductNs(kept: number, batch: number): number {
  // Full tiles of MAX_TILE lanes run 16 lanes at a time; the last tile, rounded up to 4 lanes, maybe 4 at a time.
  const wide = Math.floor(batch / MAX_TILE) * MAX_TILE;
  const rest = Math.ceil((batch - wide) / 4) * 4;
  const restCost = rest % 16 === 0 ? SPARSE_NS_PER_WEIGHT_LANE : SPARSE_NS_PER_WEIGHT_LANE_NARROW;
  return kept * (wide * SPARSE_NS_PER_WEIGHT_LANE + rest * restCost);
}

/**
 * The faster path for a Dense layer of `inputs` × `units` weights with `kept` non-zero ones at batch size `batch`,
 * run on its own (its inputs and outputs crossing into and out of the sparse tiles), by the cost model documented at
 * {@link SPARSE_NS_PER_WEIGHT_LANE}. Inside a network, {@link SparseInferenceModel} minimises the same modelled cost
 * over the whole chain, where a crossing is paid only where the path changes.
 */
export function chooseDensePath(inputs: number, units: number, kept: number, batch: number): SparseLayerPath {
  const sparse = sparseProductNs(kept, batch) + (inputs + units) * batch * SPARSE_NS_PER_FEATURE_SAMPLE;
  const dense = inputs * units * batch * TFJS_NS_PER_WEIGHT_SAMPLE + TFJS_CALL_NS;
  return sparse < dense ? 'sparse' : 'tfjs';
}

type Elementwise = (f: Float32Array, from: number, to: number) => void;

/** Activations run on tiles; softmax is handled apart (it mixes features). */
const ELEMENTWISE: Readonly<Record<string, Elementwise | undefined>> = {
  linear: () => {},
  relu: (f, a, b) => {
    for (let i = a; i < b; i++) if (f[i] < 0) f[i] = 0;
  },
  relu6: (f, a, b) => {
    for (let i = a; i < b; i++) f[i] = Math.min(Math.max(f[i], 0), 6);
  },
  sigmoid: (f, a, b) => {
    for (let i = a; i < b; i++) f[i] = 1 / (1 + Math.exp(-f[i]));
  },
  tanh: (f, a, b) => {
    for (let i = a; i < b; i++) f[i] = Math.tanh(f[i]);
  },
  elu: (f, a, b) => {
    for (let i = a; i < b; i++) if (f[i] < 0) f[i] = Math.expm1(f[i]);
  },
  selu: (f, a, b) => {
    const alpha = 1.6732632423543772;
    const scale = 1.0507009873554805;
    for (let i = a; i < b; i++) f[i] = f[i] > 0 ? scale * f[i] : scale * alpha * Math.expm1(f[i]);
  },
  softplus: (f, a, b) => {
    for (let i = a; i < b; i++) {
      const x = f[i];
      f[i] = Math.max(x, 0) + Math.log1p(Math.exp(-Math.abs(x)));
    }
  },
};

/** A layer as the engine runs it on feature-major tiles. */
type EngineOp =
  | { readonly kind: 'identity' }
  | { readonly kind: 'activation'; readonly activation: string }
  | {
      readonly kind: 'dense';
      readonly matrix: CsrMatrix;
      /** The input features (columns) that some kept weight reads, in increasing order. */
      readonly readInputs: Int32Array;
      /** Element offsets of rowStart, colIndex, values, bias in the kernels' memory. */
      readonly at: { rowStart: number; colIndex: number; values: number; bias: number };
      readonly activation: string;
    };

interface PlannedLayer {
  readonly layer: tf.layers.Layer;
  readonly kind: string;
  /** How the engine runs it; undefined when only TF.js can. */
  readonly op?: EngineOp;
  /** Input shape without the batch axis. */
  readonly inputShape: readonly number[];
  /** Features in and out (per sample). */
  readonly inputs: number;
  readonly outputs: number;
}

const PASS_THROUGH = new Set(['InputLayer', 'Flatten', 'Dropout', 'GaussianNoise', 'GaussianDropout']);
const ACTIVATIONS = new Set(Object.keys(ELEMENTWISE).concat('softmax'));

/**
 * Inference for pruned networks from sparse weights: every Dense layer holds its kept weights in CSR form (one row
 * per unit) and runs as a sparse × dense product over tiles of up to 64 samples laid out feature-major, with a
 * WebAssembly SIMD kernel (or plain JavaScript loops where SIMD is unavailable) — no tensor op per element or per
 * layer. Layers the engine does not run (Conv2D, pooling, …) and Dense layers for which the measured cost model
 * ({@link SPARSE_NS_PER_WEIGHT_LANE}, minimised over the whole chain at each batch size) says TF.js is faster run in
 * TF.js on the model's own layers; consecutive layers on one path form one segment, so the data crosses between
 * TF.js and the engine only at segment boundaries. Conv2D always runs in TF.js (a sparse convolution is not
 * implemented: see the report of `bench/sparse-inference.ts` for where it could pay).
 *
 * Predicts the same logits as the model it was built from (to float32 rounding: sums run in a different order).
 * Supports chains of layers (Sequential models and chain-shaped functional ones).
 */
export class SparseInferenceModel {
  private constructor(
    private readonly plan: readonly PlannedLayer[],
    private readonly kernels: SparseKernels,
    private readonly tiles: { a: number; b: number; width: number },
    private readonly densePath: SparseInferenceOptions['densePath'],
    /** Input shape without the batch axis. */
    readonly inputShape: readonly number[],
    /** Output shape without the batch axis. */
    readonly outputShape: readonly number[],
  ) {}

  /** Builds the sparse plan of `model` (which keeps serving the TF.js segments: do not dispose it before this). */
  static fromLayersModel(model: tf.LayersModel, options: SparseInferenceOptions = {}): SparseInferenceModel {
    const kernels = pickKernels(options.kernels ?? 'auto');
    const drafts: DraftLayer[] = [];
    let inputShape = (model.inputs[0].shape as number[]).slice(1);
    for (const layer of layerChain(model)) {
      const outputShape = (layer.outputShape as number[]).slice(1);
      drafts.push(draftLayer(layer, inputShape, outputShape, options.weights));
      inputShape = outputShape;
    }
    dropUnreadUnits(drafts);
    // Memory: each Dense layer's CSR and bias, then two activation tiles; every block 16-byte aligned.
    let memoryEnd = 0;
    const reserve = (elements: number) => {
      const at = memoryEnd;
      memoryEnd += Math.ceil(elements / 4) * 4;
      return at;
    };
    const plan: PlannedLayer[] = drafts.map((d) => {
      if (d.dense === undefined) return d;
      const { matrix, activation } = d.dense;
      const at = {
        rowStart: reserve(matrix.rows + 1),
        colIndex: reserve(matrix.values.length),
        values: reserve(matrix.values.length),
        bias: reserve(matrix.rows),
      };
      const read = new Uint8Array(matrix.cols);
      for (const c of matrix.colIndex) read[c] = 1;
      const readInputs = Int32Array.from(Array.from(read.keys()).filter((i) => read[i]));
      return { ...d, op: { kind: 'dense', matrix, readInputs, at, activation } };
    });
    // Tiles hold only what the engine runs (a convolution's wide feature maps stay in TF.js).
    const widest = Math.max(1, ...plan.filter((p) => p.op).flatMap((p) => [p.inputs, p.outputs]));
    const tileA = reserve(widest * MAX_TILE);
    const tileB = reserve(widest * MAX_TILE);
    kernels.grow(memoryEnd);
    const f = kernels.f32();
    const n = kernels.i32();
    plan.forEach((p, i) => {
      if (p.op?.kind !== 'dense') return;
      n.set(p.op.matrix.rowStart, p.op.at.rowStart);
      n.set(p.op.matrix.colIndex, p.op.at.colIndex);
      f.set(p.op.matrix.values, p.op.at.values);
      f.set(drafts[i].dense!.bias, p.op.at.bias);
    });
    return new SparseInferenceModel(
      plan,
      kernels,
      { a: tileA, b: tileB, width: MAX_TILE },
      options.densePath ?? 'auto',
      (model.inputs[0].shape as number[]).slice(1),
      (model.outputs[0].shape as number[]).slice(1),
    );
  }

  /** Which kernels run the sparse layers: the WebAssembly SIMD module or the JavaScript fallback. */
  get kernelKind(): 'simd' | 'javascript' {
    return this.kernels.kind;
  }

  /** The plan at batch size `batch`: each layer's path, and the density of Dense layers. */
  describe(batch = 1): SparseLayerInfo[] {
    const paths = this.paths(batch);
    return this.plan.map((p, i) => ({
      name: p.layer.name,
      kind: p.kind,
      ...(p.op?.kind === 'dense'
        ? { density: csrDensity(p.op.matrix), kept: p.op.matrix.values.length }
        : {}),
      path: paths[i],
    }));
  }

  /**
   * Predicts a batch held row-major in `x` (`batch` samples of the input shape, channels last) and returns the
   * outputs row-major (`batch` × output features).
   */
  predictArray(x: Float32Array, batch: number): Float32Array {
    const inputs = this.inputShape.reduce((a, d) => a * d, 1);
    if (x.length !== batch * inputs) {
      throw new BayescompError('bad-shape', `expected ${batch} × ${inputs} input values, got ${x.length}`);
    }
    const paths = this.paths(batch);
    let data = x;
    let start = 0;
    while (start < this.plan.length) {
      let end = start + 1;
      while (end < this.plan.length && paths[end] === paths[start]) end++;
      const segment = this.plan.slice(start, end);
      data = paths[start] === 'sparse' ? this.runEngine(segment, data, batch) : runTfjs(segment, data, batch);
      start = end;
    }
    return data;
  }

  /** Predicts a batch tensor `[batch, ...inputShape]`; the caller owns the returned tensor. */
  predict(x: tf.Tensor): tf.Tensor {
    const batch = x.shape[0];
    const out = this.predictArray(x.dataSync() as Float32Array, batch);
    return tf.tensor(out, [batch, ...this.outputShape]);
  }

  /**
   * Per layer, the path at this batch size that minimises the modelled time of the whole chain (a shortest path over
   * two states per layer): Dense layers cost their product on either path (see {@link SPARSE_NS_PER_WEIGHT_LANE}),
   * every switch into or out of the sparse tiles costs the transposition of the features crossing, every TF.js
   * segment costs one call. Layers only TF.js runs are pinned to it; `densePath` other than `auto` pins Dense layers.
   */
  private paths(batch: number): SparseLayerPath[] {
    const states: SparseLayerPath[] = ['sparse', 'tfjs'];
    const cost = (p: PlannedLayer, s: SparseLayerPath): number => {
      if (!p.op) return s === 'tfjs' ? 0 : Infinity;
      if (this.densePath === 'tfjs') return s === 'tfjs' ? 0 : Infinity;
      if (p.op.kind !== 'dense') return 0;
      if (this.densePath === 'sparse') return s === 'sparse' ? 0 : Infinity;
      const m = p.op.matrix;
      return s === 'sparse'
        ? sparseProductNs(m.values.length, batch)
        : m.rows * m.cols * batch * TFJS_NS_PER_WEIGHT_SAMPLE;
    };
    const crossing = (features: number) => features * batch * SPARSE_NS_PER_FEATURE_SAMPLE;
    const enter = (from: SparseLayerPath | undefined, to: SparseLayerPath, features: number) =>
      from === to ? 0 : to === 'sparse' ? crossing(features) : TFJS_CALL_NS + (from ? crossing(features) : 0);
    const n = this.plan.length;
    const best: number[][] = [];
    const back: number[][] = [];
    for (let i = 0; i < n; i++) {
      const p = this.plan[i];
      best.push([]);
      back.push([]);
      states.forEach((s, si) => {
        if (i === 0) {
          best[i][si] = enter(undefined, s, p.inputs) + cost(p, s);
          back[i][si] = -1;
          return;
        }
        // On ties stay on the predecessor's path (no pointless switch).
        const options = states.map((q, qi) => best[i - 1][qi] + enter(q, s, p.inputs));
        const qi = options[si] <= options[1 - si] ? si : 1 - si;
        best[i][si] = options[qi] + cost(p, s);
        back[i][si] = qi;
      });
    }
    const last = this.plan[n - 1];
    const final = states.map((s, si) => best[n - 1][si] + (s === 'sparse' ? crossing(last.outputs) : 0));
    let si = final[0] <= final[1] ? 0 : 1;
    const out: SparseLayerPath[] = new Array<SparseLayerPath>(n);
    for (let i = n - 1; i >= 0; i--) {
      out[i] = states[si];
      si = back[i][si];
    }
    return out;
  }

  /** Runs engine layers over tiles: transpose in, products and activations in place, transpose out. */
  private runEngine(segment: readonly PlannedLayer[], x: Float32Array, batch: number): Float32Array {
    const inputs = segment[0].inputs;
    const outputs = segment[segment.length - 1].outputs;
    const out = new Float32Array(batch * outputs);
    const k = this.kernels;
    // A segment that starts with a product reads only the input features its weights use (pixels no kept weight
    // touches are not copied); any other segment reads all.
    const firstOp = segment.find((s) => s.op?.kind !== 'identity')?.op;
    const read =
      firstOp?.kind === 'dense' ? firstOp.readInputs : Int32Array.from({ length: inputs }, (_, i) => i);
    for (let first = 0; first < batch; first += this.tiles.width) {
      const count = Math.min(this.tiles.width, batch - first);
      const width = Math.ceil(count / 4) * 4;
      let src = this.tiles.a;
      let dst = this.tiles.b;
      transposeIn(x, first, count, inputs, k.f32(), src, width, read);
      let rows = inputs;
      for (const step of segment) {
        const op = step.op!;
        if (op.kind === 'dense') {
          const relu = op.activation === 'relu';
          const { rowStart, colIndex, values, bias } = op.at;
          k.product(rowStart, colIndex, values, bias, src, dst, op.matrix.rows, width, relu);
          [src, dst] = [dst, src];
          rows = op.matrix.rows;
          if (!relu) applyActivation(k.f32(), op.activation, src, rows, width);
        } else if (op.kind === 'activation') {
          applyActivation(k.f32(), op.activation, src, rows, width);
        }
      }
      transposeOut(k.f32(), src, width, out, first, count, outputs);
    }
    return out;
  }
}

/**
 * Copies samples first … first + count − 1 of the row-major batch `x` (`features` per sample) into the tile at `at`
 * (feature-major, `width` ≥ count lanes, the padding lanes zeroed so they hold no NaN or denormals), only the features
 * listed in `rows`. Four samples at a time: four sequential read streams, one 16-byte write per feature.
 */
function transposeIn(
  x: Float32Array,
  first: number,
  count: number,
  features: number,
  f: Float32Array,
  at: number,
  width: number,
  rows: Int32Array,
): void {
  const full = count & ~3;
  for (let t = 0; t < full; t += 4) {
    const b0 = (first + t) * features;
    const b1 = b0 + features;
    const b2 = b1 + features;
    const b3 = b2 + features;
    for (let j = 0; j < rows.length; j++) {
      const i = rows[j];
      const o = at + i * width + t;
      f[o] = x[b0 + i];
      f[o + 1] = x[b1 + i];
      f[o + 2] = x[b2 + i];
      f[o + 3] = x[b3 + i];
    }
  }
  if (full === width) return;
  for (let j = 0; j < rows.length; j++) {
    const i = rows[j];
    const o = at + i * width;
    for (let t = full; t < width; t++) f[o + t] = t < count ? x[(first + t) * features + i] : 0;
  }
}

/** The inverse of {@link transposeIn} for all `features` rows: tile lanes 0 … count − 1 → samples first …. */
function transposeOut(
  f: Float32Array,
  at: number,
  width: number,
  out: Float32Array,
  first: number,
  count: number,
  features: number,
): void {
  const full = count & ~3;
  for (let t = 0; t < full; t += 4) {
    const b0 = (first + t) * features;
    const b1 = b0 + features;
    const b2 = b1 + features;
    const b3 = b2 + features;
    for (let i = 0, o = at + t; i < features; i++, o += width) {
      out[b0 + i] = f[o];
      out[b1 + i] = f[o + 1];
      out[b2 + i] = f[o + 2];
      out[b3 + i] = f[o + 3];
    }
  }
  for (let t = full; t < count; t++)
    for (let i = 0; i < features; i++) out[(first + t) * features + i] = f[at + i * width + t];
}

/** Applies an activation to a feature-major tile of `rows` × `width` floats at `at`. */
function applyActivation(f: Float32Array, activation: string, at: number, rows: number, width: number): void {
  if (activation === 'softmax') {
    // Per sample (column), over the features (rows), shifted by the maximum for stability.
    for (let t = 0; t < width; t++) {
      let max = -Infinity;
      for (let j = 0; j < rows; j++) max = Math.max(max, f[at + j * width + t]);
      let sum = 0;
      for (let j = 0; j < rows; j++) {
        const e = Math.exp(f[at + j * width + t] - max);
        f[at + j * width + t] = e;
        sum += e;
      }
      for (let j = 0; j < rows; j++) f[at + j * width + t] /= sum;
    }
    return;
  }
  ELEMENTWISE[activation]!(f, at, at + rows * width);
}

/** Runs layers in TF.js on a row-major batch. */
function runTfjs(segment: readonly PlannedLayer[], x: Float32Array, batch: number): Float32Array {
  const shape = [...segment[0].inputShape];
  // Read the result after the tidy: reading inside it was ~10× slower on the wasm backend (measured, tfjs 4.22).
  const out = tf.tidy(() => {
    let t: tf.Tensor = tf.tensor(x, [batch, ...shape]);
    for (const step of segment) t = step.layer.apply(t, { training: false }) as tf.Tensor;
    return t;
  });
  const values = out.dataSync() as Float32Array;
  out.dispose();
  return values;
}

/** A planned layer before its weights are placed in the kernels' memory. */
interface DraftLayer extends PlannedLayer {
  readonly dense?: { matrix: CsrMatrix; bias: Float32Array; readonly activation: string };
}

function draftLayer(
  layer: tf.layers.Layer,
  inputShape: readonly number[],
  outputShape: readonly number[],
  weights: ReadonlyMap<string, Float32Array> | undefined,
): DraftLayer {
  const kind = layer.getClassName();
  const inputs = inputShape.reduce((a, d) => a * d, 1);
  const outputs = outputShape.reduce((a, d) => a * d, 1);
  const base = { layer, kind, inputShape, inputs, outputs };
  if (PASS_THROUGH.has(kind)) return { ...base, op: { kind: 'identity' } };
  if (kind === 'Activation' || kind === 'ReLU') {
    const config = layer.getConfig();
    const activation = kind === 'ReLU' ? 'relu' : String(config.activation);
    const plain = kind !== 'ReLU' || (config.maxValue == null && !config.threshold);
    return plain && ACTIVATIONS.has(activation) ? { ...base, op: { kind: 'activation', activation } } : base;
  }
  if (kind !== 'Dense') return base;
  const activation = String(layer.getConfig().activation ?? 'linear');
  if (!ACTIVATIONS.has(activation)) return base;
  const [kernel, bias] = denseWeights(layer, weights);
  return { ...base, dense: { matrix: csrFromDenseKernel(kernel, inputs, outputs), bias, activation } };
}

/**
 * Empties the rows of units that the next Dense layer never reads (all their outgoing weights are zero, as after
 * group pruning), so that the sparse path computes only live units: such a unit then outputs act(b), which is
 * multiplied by zeros. Only through layers that act on each feature alone (not across a softmax, which mixes them).
 */
function dropUnreadUnits(drafts: DraftLayer[]): void {
  for (let a = 0; a < drafts.length; a++) {
    const from = drafts[a].dense;
    if (!from || from.activation === 'softmax') continue;
    let b = a + 1;
    while (
      b < drafts.length &&
      !drafts[b].dense &&
      (drafts[b].op?.kind === 'identity' ||
        (drafts[b].op?.kind === 'activation' &&
          (drafts[b].op as { activation: string }).activation !== 'softmax'))
    )
      b++;
    const to = drafts[b]?.dense;
    if (!to || to.matrix.cols !== from.matrix.rows) continue;
    const read = new Uint8Array(to.matrix.cols);
    for (const c of to.matrix.colIndex) read[c] = 1;
    from.matrix = keepRows(from.matrix, read);
  }
}

/** The matrix with the entries of rows where `keep` is 0 removed (rows stay, empty). */
function keepRows(m: CsrMatrix, keep: Uint8Array): CsrMatrix {
  const rowStart = new Int32Array(m.rows + 1);
  for (let r = 0; r < m.rows; r++)
    rowStart[r + 1] = rowStart[r] + (keep[r] ? m.rowStart[r + 1] - m.rowStart[r] : 0);
  const colIndex = new Int32Array(rowStart[m.rows]);
  const values = new Float32Array(rowStart[m.rows]);
  for (let r = 0; r < m.rows; r++) {
    if (!keep[r]) continue;
    colIndex.set(m.colIndex.subarray(m.rowStart[r], m.rowStart[r + 1]), rowStart[r]);
    values.set(m.values.subarray(m.rowStart[r], m.rowStart[r + 1]), rowStart[r]);
  }
  return { ...m, rowStart, colIndex, values };
}

function pickKernels(choice: 'auto' | 'simd' | 'javascript'): SparseKernels {
  if (choice === 'javascript') return javascriptSparseKernels();
  const simd = simdSparseKernels();
  if (simd) return simd;
  if (choice === 'simd') {
    throw new BayescompError('runtime', 'WebAssembly SIMD is not available for the sparse inference kernel');
  }
  return javascriptSparseKernels();
}

function denseWeights(
  layer: tf.layers.Layer,
  given: ReadonlyMap<string, Float32Array> | undefined,
): [Float32Array, Float32Array] {
  const [kernelVar, biasVar] = layer.weights;
  const read = (v: tf.LayerVariable) =>
    given?.get(v.originalName) ?? Float32Array.from(v.read().dataSync() as Float32Array);
  const kernel = read(kernelVar);
  const units = kernelVar.shape[1];
  const bias = biasVar ? read(biasVar) : new Float32Array(units as number);
  return [kernel, bias];
}

/** The model's layers in order, refusing anything that is not a chain (one input per layer, the previous one). */
function layerChain(model: tf.LayersModel): tf.layers.Layer[] {
  const chain: tf.layers.Layer[] = [];
  let previous: tf.layers.Layer | undefined;
  for (const layer of model.layers) {
    const inbound = layer.inboundNodes.flatMap((n) => n.inboundLayers);
    if (inbound.length > 1 || (previous && inbound.length === 1 && inbound[0] !== previous)) {
      throw new BayescompError(
        'bad-config',
        `sparse inference needs a chain of layers; ${layer.name} has other inputs`,
      );
    }
    if (layer.getClassName() !== 'InputLayer') chain.push(layer);
    previous = layer;
  }
  if (model.inputs.length !== 1 || model.outputs.length !== 1) {
    throw new BayescompError('bad-config', 'sparse inference needs a model with one input and one output');
  }
  return chain;
}
