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
          const named = Object.entries(grads).map(([name, g]) => {
            const t = byVariable.get(name);
            return { name: t ? t.float.name : name, tensor: t?.mask ? tf.mul(g, t.mask) : g };
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

/** One kernel under fine-tuning: the model's variable (snapped values) and its float copy. */
interface SnappedTensor {
  readonly name: string;
  readonly variable: tf.Variable;
  readonly float: tf.Variable;
  readonly mask?: tf.Tensor;
  readonly codebook?: Float32Array;
  /** Writes mask · snap(float) into the model's variable. */
  project(): void;
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
  const codebook = codes ? Float32Array.from(codes.codebook).sort() : undefined;
  // Nearest codebook value by bisection on the midpoints (the codebook is sorted).
  const levels = codebook ? tf.tensor1d(codebook) : undefined;
  const midpoints = codebook
    ? tf.tensor1d(codebook.slice(1).map((c, k) => (c + codebook[k]) / 2))
    : undefined;
  return {
    name,
    variable,
    float,
    mask: maskTensor,
    codebook,
    project() {
      tf.tidy(() => {
        let w: tf.Tensor = float;
        if (levels && midpoints && codebook!.length === 1) w = tf.fill(float.shape, codebook![0]);
        else if (levels && midpoints) {
          const index = tf.searchSorted(midpoints, float.reshape([-1]), 'left');
          w = tf.gather(levels, index).reshape(float.shape);
        }
        variable.assign(maskTensor ? tf.mul(w, maskTensor) : w);
      });
    },
    dispose() {
      tf.dispose([float, maskTensor, levels, midpoints].filter((t): t is tf.Tensor => t !== undefined));
    },
  };
}

function collect(tensors: readonly SnappedTensor[], before: QuantizedKernels): QuantizedKernels {
  const kernels = new Map<string, Float32Array>();
  const codebooks = new Map<string, CodebookQuantization>();
  for (const t of tensors) {
    const values = t.variable.dataSync() as Float32Array;
    kernels.set(t.name, Float32Array.from(values));
    const original = before.codebooks?.get(t.name);
    if (!original) continue;
    const mask = t.mask?.dataSync();
    const kept = mask ? values.filter((_, i) => mask[i] === 1) : values;
    codebooks.set(t.name, snapToCodebook(kept, original.codebook));
  }
  return { kernels, ...(codebooks.size ? { codebooks } : {}) };
}
