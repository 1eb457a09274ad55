import * as tf from '@tensorflow/tfjs';
import { BayescompError } from '../util/errors.js';

/** Per layer, which output units (Dense) or filters (Conv2D) to keep (1) or remove (0). */
export type UnitMasks = Readonly<Record<string, Uint8Array>>;

/** What {@link shrinkModel} removed. */
export interface ShrinkResult {
  /** The smaller model (a new model; the input model is untouched). */
  readonly model: tf.LayersModel;
  /** Units/filters before and after, per weighted layer. */
  readonly layers: ReadonlyArray<{ readonly name: string; readonly before: number; readonly after: number }>;
}

/** Options for {@link shrinkModel}. */
export interface ShrinkOptions {
  /** Units to remove in addition to the ones found dead (only units whose removal keeps outputs identical). */
  readonly unitMasks?: UnitMasks;
}

const WEIGHTED = new Set(['Dense', 'Conv2D']);
/** Layers between two weighted layers that act on each unit/channel separately (or not at all). */
const PER_CHANNEL = new Set([
  'Activation',
  'ReLU',
  'LeakyReLU',
  'ELU',
  'Dropout',
  'MaxPooling2D',
  'AveragePooling2D',
]);
const FLATTENING = new Set(['Flatten', 'GlobalAveragePooling2D', 'GlobalMaxPooling2D']);

interface Step {
  readonly layer: tf.layers.Layer;
  readonly kind: string;
}

/**
 * Rebuilds a chain of Dense/Conv2D layers (with activations, dropout, pooling and flatten between them) with fewer
 * units and filters, so the architecture itself is smaller, not only its weights. A unit of a weighted layer is
 * removed when
 * - its outgoing weights in the next weighted layer are all zero (it contributes nothing), or
 * - its incoming weights are all zero, so it outputs the constant act(b); that constant is folded into the next
 *   layer's bias, which is exact for Dense and for 'valid' convolutions (for 'same' convolutions only when the
 *   constant is 0, since zero padding breaks constancy at the borders), or
 * - `unitMasks` says so and its outgoing weights are then treated as zero (the group-sparsity semantics: a pruned
 *   input group zeroes all weights leaving that unit).
 * The last weighted layer keeps all its units (they are the model's outputs). The result predicts exactly what the
 * input model predicts when the removed units' outgoing weights are zeroed (up to float rounding of the folded bias).
 */
export async function shrinkModel(model: tf.LayersModel, options: ShrinkOptions = {}): Promise<ShrinkResult> {
  const chain = layerChain(model);
  const weightedIdx = chain.flatMap((s, i) => (WEIGHTED.has(s.kind) ? [i] : []));
  const kernels = new Map<
    string,
    { kernel: Float32Array; shape: number[]; bias: Float32Array | undefined }
  >();
  for (const i of weightedIdx) {
    const ws = chain[i].layer.getWeights();
    kernels.set(chain[i].layer.name, {
      kernel: Float32Array.from(ws[0].dataSync()),
      shape: ws[0].shape,
      bias: ws[1] ? Float32Array.from(ws[1].dataSync()) : undefined,
    });
  }
  const keep = new Map<string, Uint8Array>();
  // Input-side row maps: for the weighted layer after position a, which kernel rows come from unit u of layer a.
  for (let w = 0; w + 1 < weightedIdx.length; w++) {
    const from = chain[weightedIdx[w]];
    const to = chain[weightedIdx[w + 1]];
    const between = chain.slice(weightedIdx[w] + 1, weightedIdx[w + 1]);
    const src = kernels.get(from.layer.name)!;
    const dst = kernels.get(to.layer.name)!;
    const units = src.shape[src.shape.length - 1];
    const rowsOf = rowMap(from, between, to, units, dst.shape);
    const userMask = options.unitMasks?.[from.layer.name];
    if (userMask && userMask.length !== units) {
      throw new BayescompError(
        'bad-shape',
        `unit mask of ${from.layer.name} has ${userMask.length} entries, layer has ${units}`,
      );
    }
    const constant = constantPropagator(from, between);
    const foldable = to.kind === 'Dense' || String(to.layer.getConfig().padding) === 'valid';
    const mask = new Uint8Array(units).fill(1);
    const outCols = dst.shape[dst.shape.length - 1];
    for (let u = 0; u < units; u++) {
      const rows = rowsOf(u);
      if (userMask && !userMask[u]) {
        zeroRows(dst.kernel, rows, outCols);
        mask[u] = 0;
        continue;
      }
      if (rowsAllZero(dst.kernel, rows, outCols)) {
        mask[u] = 0;
        continue;
      }
      if (!incomingAllZero(src.kernel, units, u)) continue;
      const c = constant(src.bias ? src.bias[u] : 0);
      if (c === undefined || (!foldable && c !== 0)) continue;
      if (c !== 0) {
        if (!dst.bias) continue;
        for (const r of rows)
          for (let o = 0; o < outCols; o++) dst.bias[o] += dst.kernel[r * outCols + o] * c;
      }
      zeroRows(dst.kernel, rows, outCols);
      mask[u] = 0;
    }
    keep.set(from.layer.name, mask);
  }
  return rebuild(model, chain, weightedIdx, kernels, keep);
}

function layerChain(model: tf.LayersModel): Step[] {
  const steps: Step[] = [];
  let previous: tf.layers.Layer | undefined;
  for (const layer of model.layers) {
    const kind = layer.getClassName();
    if (kind === 'InputLayer') {
      previous = layer;
      continue;
    }
    const inbound = layer.inboundNodes.flatMap((n) => n.inboundLayers);
    if (inbound.length > 1 || (previous && inbound.length === 1 && inbound[0] !== previous)) {
      throw new BayescompError(
        'bad-config',
        `structured pruning needs a chain of layers; ${layer.name} has other inputs`,
      );
    }
    if (!WEIGHTED.has(kind) && !PER_CHANNEL.has(kind) && !FLATTENING.has(kind)) {
      throw new BayescompError(
        'bad-config',
        `structured pruning does not support layer ${layer.name} (${kind})`,
      );
    }
    steps.push({ layer, kind });
    previous = layer;
  }
  return steps;
}

/** For unit u of `from`, the rows of `to`'s kernel (flattened to [rows, outCols]) that read it. */
function rowMap(
  from: Step,
  between: Step[],
  to: Step,
  units: number,
  toShape: number[],
): (u: number) => number[] {
  const flatten = between.find((s) => s.kind === 'Flatten');
  if (to.kind === 'Conv2D') {
    if (between.some((s) => FLATTENING.has(s.kind))) {
      throw new BayescompError(
        'bad-config',
        `cannot map ${from.layer.name} to convolution ${to.layer.name} through a flatten`,
      );
    }
    // Kernel [kh, kw, in, out] flattened to rows (kh·kw·in): channel u appears at every spatial tap.
    const taps = toShape[0] * toShape[1];
    return (u) => Array.from({ length: taps }, (_, t) => t * units + u);
  }
  if (flatten) {
    // Channels-last flatten of [h, w, C]: index k holds channel k mod C.
    const positions = toShape[0] / units;
    return (u) => Array.from({ length: positions }, (_, p) => p * units + u);
  }
  return (u) => [u];
}

/** The constant a unit with bias b emits after its activation and the per-channel layers up to the next layer. */
function constantPropagator(from: Step, between: Step[]): (bias: number) => number | undefined {
  const fns: tf.layers.Layer[] = [];
  const ownActivation = String(from.layer.getConfig().activation ?? 'linear');
  if (ownActivation === 'softmax') return () => undefined;
  fns.push(tf.layers.activation({ activation: ownActivation as 'linear' }));
  for (const s of between) {
    if (s.kind === 'Activation') {
      const a = String(s.layer.getConfig().activation);
      if (a === 'softmax') return () => undefined;
      fns.push(s.layer);
    } else if (s.kind === 'ReLU' || s.kind === 'LeakyReLU' || s.kind === 'ELU') fns.push(s.layer);
  }
  return (bias) =>
    tf.tidy(() => {
      let t: tf.Tensor = tf.tensor2d([[bias]]);
      for (const f of fns) t = f.apply(t) as tf.Tensor;
      return t.dataSync()[0];
    });
}

function zeroRows(kernel: Float32Array, rows: number[], cols: number): void {
  for (const r of rows) kernel.fill(0, r * cols, (r + 1) * cols);
}

function rowsAllZero(kernel: Float32Array, rows: number[], cols: number): boolean {
  for (const r of rows) for (let o = 0; o < cols; o++) if (kernel[r * cols + o] !== 0) return false;
  return true;
}

function incomingAllZero(kernel: Float32Array, units: number, u: number): boolean {
  for (let i = u; i < kernel.length; i += units) if (kernel[i] !== 0) return false;
  return true;
}

async function rebuild(
  model: tf.LayersModel,
  chain: Step[],
  weightedIdx: number[],
  kernels: Map<string, { kernel: Float32Array; shape: number[]; bias: Float32Array | undefined }>,
  keep: Map<string, Uint8Array>,
): Promise<ShrinkResult> {
  const topology = model.toJSON(null, false) as { config: { layers: { config: Record<string, unknown> }[] } };
  const byName = new Map(topology.config.layers.map((l) => [String(l.config.name), l.config]));
  for (const [name, mask] of keep) {
    const cfg = byName.get(name)!;
    const kept = mask.reduce((s, m) => s + m, 0);
    if (cfg.units !== undefined) cfg.units = kept;
    else cfg.filters = kept;
  }
  const shrunk = await tf.models.modelFromJSON({
    modelTopology: topology as unknown as tf.io.ModelJSON['modelTopology'],
  });
  const report: { name: string; before: number; after: number }[] = [];
  for (let w = 0; w < weightedIdx.length; w++) {
    const step = chain[weightedIdx[w]];
    const { kernel, shape, bias } = kernels.get(step.layer.name)!;
    const outMask = keep.get(step.layer.name);
    const prev = w > 0 ? chain[weightedIdx[w - 1]] : undefined;
    const inMask = prev ? keep.get(prev.layer.name) : undefined;
    const units = shape[shape.length - 1];
    const rowsTotal = kernel.length / units;
    let keepRow: (r: number) => boolean = () => true;
    if (inMask) {
      const prevUnits = inMask.length;
      // Every kernel row reads exactly one unit of the previous weighted layer: row index mod prevUnits for Dense
      // after Dense/Flatten (channels last) and for Conv2D kernels [kh, kw, in, out].
      keepRow = (r) => inMask[r % prevUnits] === 1;
    }
    const keepCol = (o: number) => !outMask || outMask[o] === 1;
    const newKernel: number[] = [];
    for (let r = 0; r < rowsTotal; r++) {
      if (!keepRow(r)) continue;
      for (let o = 0; o < units; o++) if (keepCol(o)) newKernel.push(kernel[r * units + o]);
    }
    const target = shrunk.getLayer(step.layer.name);
    const targetShapes = target.getWeights().map((t) => t.shape);
    const values = [tf.tensor(newKernel, targetShapes[0])];
    if (bias)
      values.push(
        tf.tensor(
          Array.from(bias).filter((_, o) => keepCol(o)),
          targetShapes[1],
        ),
      );
    target.setWeights(values);
    tf.dispose(values);
    report.push({
      name: step.layer.name,
      before: units,
      after: outMask ? outMask.reduce((s, m) => s + m, 0) : units,
    });
  }
  return { model: shrunk, layers: report };
}
