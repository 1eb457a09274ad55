import * as tf from '@tensorflow/tfjs';
import { batchCount, batches } from '../data/batches.js';
import type { Dataset } from '../data/dataset.js';
import { Random } from '../runtime/random.js';
import { mapObjective, type MapLikelihood } from '../train/map-objective.js';
import { setOptimizerLearningRate } from '../train/optimizers.js';
import type { StepContext } from '../train/types.js';
import { BayescompError, requireConfig } from '../util/errors.js';
import type { MaskSet } from './masks.js';
import type { QuantizedKernels } from './quantize-kernels.js';
import { type CodebookQuantization, snapToCodebook } from './quantize.js';

/** Options for {@link finetuneQuantized}. */
export interface QuantizedFinetuneOptions {
  /** Passes over the training data. */
  readonly epochs: number;
  /** Adam's learning rate. Default 1e-4. */
  readonly learningRate?: number;
  /**
   * Train the codebook values too (default true): each nonzero value moves by the summed gradient of the weights
   * coded to it (Han et al. 2016's trained quantisation; for VNQ's [−r, 0, r] the two signs then move apart, as in
   * Zhu et al. 2017's trained ternary quantisation). A zero value stays 0. The code width is unchanged.
   */
  readonly learnCodebook?: boolean;
  /** `linear` (default): the learning rate falls linearly to 0 over the run; `constant`: it stays. */
  readonly schedule?: 'linear' | 'constant';
  /** Default 128. */
  readonly batchSize?: number;
  /** Seed of the shuffle order. Default 0. */
  readonly seed?: number;
  /** The loss on the model's outputs. Default `categorical` (softmax cross-entropy on logits). */
  readonly likelihood?: MapLikelihood;
  /** Called after each epoch (the model holding the snapped kernels) with its mean minibatch loss; awaited. */
  readonly onEpoch?: (epoch: number, meanLoss: number) => void | Promise<void>;
}

/** What {@link finetuneQuantized} returns; the model's kernels already hold `quantized.kernels`. */
export interface QuantizedFinetuneResult {
  /** The fine-tuned kernels and codes, in {@link quantizeKernels}'s form (same codebooks, same masks). */
  readonly quantized: QuantizedKernels;
  /** Mean minibatch loss of each epoch. */
  readonly epochLosses: number[];
}

/**
 * Quantisation-aware fine-tuning with a straight-through estimator (Courbariaux et al. 2015; Zhou et al. 2017): the
 * network computes with every kept weight snapped to its tensor's codebook, the gradient at that snapped point
 * updates a float copy of the weights, and the codes are chosen again from the float copy after every step. Masks and
 * codebooks stay fixed (VNQ's learned [−r, 0, r], or the k-bit levels), so the result is encoded exactly as
 * {@link quantizeKernels}'s; biases and other trainable weights train as floats; pruned weights stay 0. Tensors
 * without a codebook (`keepFloat` layers) train as masked floats.
 *
 * Why: snapping a posterior mean that sits between two codebook values moves the function, and for a layer of few
 * weights (a first convolution) the error is large. Training through the snap lets the other weights absorb it.
 *
 * `model` is the deterministic network `quantized` was made for, with its kernels named `<layer>/kernel`; the float
 * copy starts at `floatKernels` (the masked means before snapping).
 */
export async function finetuneQuantized(
  model: tf.LayersModel,
  floatKernels: ReadonlyMap<string, Float32Array>,
  quantized: QuantizedKernels,
  masks: MaskSet,
  data: Dataset,
  options: QuantizedFinetuneOptions,
): Promise<QuantizedFinetuneResult> {
  requireConfig(
    Number.isInteger(options.epochs) && options.epochs >= 1,
    `fine-tuning epochs must be a positive integer, got ${options.epochs}`,
  );
  const learningRate = options.learningRate ?? 1e-4;
  requireConfig(
    learningRate > 0 && Number.isFinite(learningRate),
    `learning rate must be > 0, got ${learningRate}`,
  );
  if (quantized.precisions?.size) {
    throw new BayescompError(
      'bad-config',
      'fine-tuning needs codebook quantisation (vnq, uniform or kmeans)',
    );
  }
  const batchSize = options.batchSize ?? 128;
  const objective = mapObjective({ likelihood: options.likelihood ?? 'categorical' });
  const learnCodebook = options.learnCodebook ?? true;
  const tensors = [...quantized.kernels.keys()].map((name) =>
    snappedTensor(model, name, floatKernels, quantized.codebooks?.get(name), masks.get(name)),
  );
  const byVariable = new Map(tensors.map((t) => [t.variable.name, t]));
  const others = model.trainableWeights
    .map((w) => w.read() as tf.Variable)
    .filter((v) => !byVariable.has(v.name));
  const optimizer = tf.train.adam(learningRate);
  const random = new Random(options.seed ?? 0);
  const stepsPerEpoch = batchCount(data.n, batchSize);
  const epochLosses: number[] = [];
  try {
    for (const t of tensors) t.project();
    for (let epoch = 0; epoch < options.epochs; epoch++) {
      let total = 0;
      let step = 0;
      for (const batch of batches(data, batchSize, { shuffle: true, random })) {
        const context: StepContext = { epoch, step, stepsPerEpoch, datasetSize: data.n, random };
        if (options.schedule !== 'constant') {
          const progress = (epoch * stepsPerEpoch + step) / (options.epochs * stepsPerEpoch);
          setOptimizerLearningRate(optimizer, learningRate * (1 - progress));
        }
        const loss = tf.tidy(() => {
          const variables = [...tensors.map((t) => t.variable), ...others];
          const { value, grads } = tf.variableGrads(
            () => objective.loss(model, batch, context).loss,
            variables,
          );
          // Straight through: the gradient at the snapped kernel is applied to its float copy.
          const named = Object.entries(grads).flatMap(([name, g]) => {
            const t = byVariable.get(name);
            if (!t) return [{ name, tensor: g }];
            const masked = t.mask ? tf.mul(g, t.mask) : g;
            const levels = learnCodebook ? t.levelGradient(masked) : undefined;
            return [
              { name: t.float.name, tensor: masked },
              ...(levels ? [{ name: t.levels!.name, tensor: levels }] : []),
            ];
          });
          optimizer.applyGradients(named);
          return value;
        });
        tf.dispose([batch.x, batch.y]);
        for (const t of tensors) t.project();
        total += (await loss.data())[0];
        loss.dispose();
        step++;
      }
      const mean = total / step;
      if (!Number.isFinite(mean))
        throw new BayescompError('diverged', `fine-tuning loss became ${mean} in epoch ${epoch}`);
      epochLosses.push(mean);
      await options.onEpoch?.(epoch, mean);
    }
    return { quantized: collect(tensors, quantized), epochLosses };
  } finally {
    optimizer.dispose();
    for (const t of tensors) t.dispose();
  }
}

/** One kernel under fine-tuning: the model's variable (snapped values), its float copy and its codebook. */
interface SnappedTensor {
  readonly name: string;
  readonly variable: tf.Variable;
  readonly float: tf.Variable;
  readonly mask?: tf.Tensor;
  /** The codebook values, sorted (absent for a float tensor). */
  readonly levels?: tf.Variable;
  /** Writes mask · snap(float) into the model's variable and records each weight's code. */
  project(): void;
  /** The gradient of each codebook value: the sum of the (masked) kernel gradient over the weights coded to it. */
  levelGradient(kernelGradient: tf.Tensor): tf.Tensor | undefined;
  dispose(): void;
}

function snappedTensor(
  model: tf.LayersModel,
  name: string,
  floatKernels: ReadonlyMap<string, Float32Array>,
  codes: CodebookQuantization | undefined,
  mask: Uint8Array | undefined,
): SnappedTensor {
  const layerName = name.replace(/\/kernel$/, '');
  const weight = model.getLayer(layerName).trainableWeights[0];
  if (!weight)
    throw new BayescompError('bad-config', `${name}: layer '${layerName}' has no trainable kernel`);
  const variable = weight.read() as tf.Variable;
  const initial = floatKernels.get(name);
  if (!initial || initial.length !== variable.size) {
    throw new BayescompError(
      'bad-shape',
      `${name}: no float kernel of ${variable.size} values to start from`,
    );
  }
  const start = tf.tensor(initial, variable.shape);
  const float = tf.variable(start, true, `${layerName}/kernel_float_copy_${variable.id}`);
  start.dispose();
  const maskTensor = mask ? tf.tensor(mask, variable.shape, 'float32') : undefined;
  const sorted = codes ? Float32Array.from(codes.codebook).sort() : undefined;
  const levels = sorted
    ? tf.tidy(() => tf.variable(tf.tensor1d(sorted), true, `${layerName}/codebook_${variable.id}`))
    : undefined;
  // A zero value stays zero (it is what pruning and VNQ's middle spike mean).
  const free = sorted ? tf.tensor1d(sorted.map((c) => (c === 0 ? 0 : 1))) : undefined;
  let index: tf.Tensor | undefined;
  return {
    name,
    variable,
    float,
    mask: maskTensor,
    levels,
    project() {
      tf.dispose(index);
      index = undefined;
      const w = tf.tidy(() => {
        if (!levels) return float;
        const values = Float32Array.from(levels.dataSync()).sort();
        levels.assign(tf.tensor1d(values));
        // Nearest value by bisection on the midpoints of the sorted codebook.
        const midpoints = tf.tensor1d(values.slice(1).map((c, k) => (c + values[k]) / 2));
        const codesNow =
          values.length === 1
            ? tf.zeros([float.size], 'int32')
            : tf.searchSorted(midpoints, float.reshape([-1]), 'left').reshape([-1]);
        index = tf.keep(codesNow);
        return tf.gather(levels, codesNow).reshape(float.shape);
      });
      tf.tidy(() => variable.assign(maskTensor ? tf.mul(w, maskTensor) : w));
      if (w !== float) w.dispose();
    },
    levelGradient(kernelGradient) {
      if (!levels || !index || !free) return undefined;
      return tf.mul(
        tf.unsortedSegmentSum(kernelGradient.reshape([-1]), index as tf.Tensor1D, levels.size),
        free,
      );
    },
    dispose() {
      tf.dispose([float, maskTensor, levels, free, index].filter((t): t is tf.Tensor => t !== undefined));
    },
  };
}

function collect(tensors: readonly SnappedTensor[], before: QuantizedKernels): QuantizedKernels {
  const kernels = new Map<string, Float32Array>();
  const codebooks = new Map<string, CodebookQuantization>();
  for (const t of tensors) {
    const values = t.variable.dataSync() as Float32Array;
    kernels.set(t.name, Float32Array.from(values));
    if (!before.codebooks?.get(t.name) || !t.levels) continue;
    const mask = t.mask?.dataSync();
    const kept = mask ? values.filter((_, i) => mask[i] === 1) : values;
    codebooks.set(t.name, snapToCodebook(kept, Float32Array.from(t.levels.dataSync())));
  }
  return { kernels, ...(codebooks.size ? { codebooks } : {}) };
}
