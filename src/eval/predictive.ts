/**
 * The predictive distribution of a classifier, behind one interface so every method — a deterministic network,
 * Monte-Carlo over a stochastic network (MC dropout, a variational posterior), a Laplace approximation, a deep
 * ensemble — is evaluated by the same code.
 *
 * To plug a new method in, write a {@link BatchPredictor}: a function from one batch of inputs to a tensor of
 * class probabilities (and optionally the per-sample probabilities it averaged), and wrap it with
 * {@link createPredictive}. Batching, download to typed arrays and disposal are handled there, so memory stays
 * bounded by one batch whatever the size of the data.
 *
 * @example A Monte-Carlo predictive over a variational posterior, as `src/variational` might write it:
 * ```ts
 * const predictive = createPredictive(
 *   (x) => {
 *     const perSample = Array.from({ length: S }, () => tf.tidy(() => tf.softmax(sampleLogits(x))));
 *     const samples = tf.stack(perSample); // [S, b, C]
 *     return { probs: tf.mean(samples, 0), samples };
 *   },
 *   { name: `mean-field VI (S=${S})`, numSamples: S },
 * );
 * const metrics = await evaluatePredictive(predictive, testData, { oodData });
 * ```
 * (That is what {@link monteCarloPredictive} does given `sampleLogits`.) A Laplace probit predictive returns
 * `{ probs }` only; its linearised Monte-Carlo variant may also return `samples`.
 */
import * as tf from '@tensorflow/tfjs';
import { sliceBatch } from '../data/batches.js';
import type { Dataset } from '../data/dataset.js';
import { BayescompError } from '../util/errors.js';

/** What one call of {@link Predictive.predict} returns: plain typed arrays, no tensors. */
export interface PredictiveOutput {
  /** Predictive class probabilities, row-major n×C; each row sums to 1. */
  readonly probs: Float32Array;
  /** Number of examples n. */
  readonly n: number;
  /** Number of classes C. */
  readonly numClasses: number;
  /**
   * Per-sample (or per-member) probabilities, S×n×C: sample s of example i at `[(s·n + i)·C, …+C)`. Present for
   * Monte-Carlo predictives unless `keepSamples: false` was asked for; `probs` is their mean.
   */
  readonly samples?: Float32Array;
  /** Number of samples S in `samples`. */
  readonly numSamples?: number;
}

/** Options for {@link Predictive.predict}. */
export interface PredictOptions {
  /** Examples per forward pass (default: the predictive's own, usually 256). */
  readonly batchSize?: number;
  /** Keep the per-sample probabilities (default true; they cost S×n×C floats). */
  readonly keepSamples?: boolean;
}

/** A classifier's predictive distribution p(y | x, D). */
export interface Predictive {
  /** A short name for reports, e.g. `MAP`, `MC dropout (S=30)`, `ensemble (M=5)`. */
  readonly name: string;
  /** Samples (or ensemble members) per prediction; undefined for a deterministic predictive. */
  readonly numSamples?: number;
  /**
   * Predictive probabilities for inputs `x` shaped `[n, ...featureShape]`, or for every example of a dataset.
   * Tensors passed in stay the caller's; nothing is left allocated afterwards.
   */
  predict(x: tf.Tensor | Dataset, options?: PredictOptions): Promise<PredictiveOutput>;
}

/**
 * One batch's prediction: `probs` shaped `[b, C]`, and optionally `samples` shaped `[S, b, C]` with `probs` their
 * mean over the first axis.
 */
export interface BatchPrediction {
  readonly probs: tf.Tensor;
  readonly samples?: tf.Tensor;
}

/**
 * The contract a method implements to become a {@link Predictive}: inputs `[b, ...featureShape]` → a
 * {@link BatchPrediction}. It may be async (e.g. when it runs dense linear algebra outside TF.js). Tensors it
 * creates are disposed for it, except when it reaches them across an `await` from outside the call.
 */
export type BatchPredictor = (x: tf.Tensor) => BatchPrediction | Promise<BatchPrediction>;

/** A network (or any function) mapping inputs `[b, ...]` to logits `[b, C]`. */
export type LogitsFunction = (x: tf.Tensor) => tf.Tensor;

/** Options shared by the predictive constructors. */
export interface PredictiveOptions {
  /** Name for reports. */
  readonly name?: string;
  /** Default examples per forward pass. Default 256. */
  readonly batchSize?: number;
}

/** The default examples per forward pass. */
export const DEFAULT_PREDICT_BATCH_SIZE = 256;

/**
 * Wraps a {@link BatchPredictor} as a {@link Predictive}: runs it batch by batch, downloads each batch's
 * probabilities into preallocated typed arrays, and disposes every tensor the batch created.
 */
export function createPredictive(
  predictBatch: BatchPredictor,
  options: PredictiveOptions & { readonly numSamples?: number } = {},
): Predictive {
  const name = options.name ?? 'predictive';
  return {
    name,
    numSamples: options.numSamples,
    async predict(x, predictOptions = {}) {
      const batchSize = predictOptions.batchSize ?? options.batchSize ?? DEFAULT_PREDICT_BATCH_SIZE;
      if (!(batchSize >= 1) || !Number.isInteger(batchSize)) {
        throw new BayescompError('bad-config', `batch size must be a positive integer, got ${batchSize}`);
      }
      const keepSamples = predictOptions.keepSamples ?? true;
      const n = x instanceof tf.Tensor ? x.shape[0] : x.n;
      if (!(n >= 1)) throw new BayescompError('bad-shape', `${name}: no examples to predict`);
      let probs: Float32Array | undefined;
      let samples: Float32Array | undefined;
      let numClasses = 0;
      let numSamples: number | undefined;
      for (let start = 0; start < n; start += batchSize) {
        const end = Math.min(start + batchSize, n);
        const { probs: p, samples: s } = await runBatch(predictBatch, x, start, end);
        try {
          if (p.rank !== 2 || p.shape[0] !== end - start) {
            throw new BayescompError(
              'bad-shape',
              `${name}: batch probabilities have shape [${p.shape}], expected [${end - start}, C]`,
            );
          }
          if (!probs) {
            numClasses = p.shape[1] as number;
            probs = new Float32Array(n * numClasses);
          } else if (p.shape[1] !== numClasses) {
            throw new BayescompError('bad-shape', `${name}: batches disagree on the number of classes`);
          }
          probs.set(toFloat32(await p.data()), start * numClasses);
          if (s && keepSamples) {
            if (s.rank !== 3 || s.shape[1] !== end - start || s.shape[2] !== numClasses) {
              throw new BayescompError(
                'bad-shape',
                `${name}: batch samples have shape [${s.shape}], expected [S, ${end - start}, ${numClasses}]`,
              );
            }
            const sampleCount: number = numSamples ?? s.shape[0];
            if (s.shape[0] !== sampleCount)
              throw new BayescompError('bad-shape', `${name}: batches disagree on S`);
            numSamples = sampleCount;
            samples ??= new Float32Array(sampleCount * n * numClasses);
            const values = toFloat32(await s.data());
            const rows = (end - start) * numClasses;
            for (let k = 0; k < sampleCount; k++) {
              samples.set(values.subarray(k * rows, (k + 1) * rows), (k * n + start) * numClasses);
            }
          }
        } finally {
          tf.dispose([p, ...(s ? [s] : [])]);
        }
      }
      return {
        probs: probs as Float32Array,
        n,
        numClasses,
        samples,
        numSamples: samples ? numSamples : undefined,
      };
    },
  };
}

function toFloat32(values: tf.TypedArray): Float32Array {
  return values instanceof Float32Array ? values : Float32Array.from(values);
}

/** Runs one batch inside an engine scope so every intermediate tensor is freed; keeps only the outputs. */
async function runBatch(
  predictBatch: BatchPredictor,
  x: tf.Tensor | Dataset,
  start: number,
  end: number,
): Promise<BatchPrediction> {
  const engine = tf.engine();
  engine.startScope();
  try {
    let xb: tf.Tensor;
    if (x instanceof tf.Tensor) {
      xb = start === 0 && end === x.shape[0] ? x : tf.slice(x, start, end - start);
    } else {
      const batch = sliceBatch(x, start, end);
      xb = batch.x;
      // The labels are not needed here; free them at once.
      batch.y.dispose();
    }
    const pending = predictBatch(xb);
    const result = pending instanceof Promise ? await pending : pending;
    // An adapter may return its input tensor unchanged; keep it from disposal only if it is not the caller's.
    const probs = result.probs === x ? result.probs.clone() : result.probs;
    tf.keep(probs);
    if (result.samples) tf.keep(result.samples);
    return { probs, samples: result.samples };
  } finally {
    engine.endScope();
  }
}

function asLogits(model: tf.LayersModel | LogitsFunction): LogitsFunction {
  if (typeof model === 'function') return model;
  return (x) => {
    const out = model.apply(x, { training: false });
    if (Array.isArray(out) || !(out instanceof tf.Tensor)) {
      throw new BayescompError('bad-shape', `model ${model.name} must have exactly one output (the logits)`);
    }
    return out;
  };
}

/** The deterministic predictive softmax(f(x)) of a network that outputs logits (e.g. the MAP network). */
export function deterministicPredictive(
  model: tf.LayersModel | LogitsFunction,
  options: PredictiveOptions = {},
): Predictive {
  const logits = asLogits(model);
  return createPredictive((x) => ({ probs: tf.softmax(logits(x)) }), {
    ...options,
    name: options.name ?? 'MAP',
  });
}

/** Options for {@link monteCarloPredictive}. */
export interface MonteCarloOptions extends PredictiveOptions {
  /** Number of stochastic forward passes S. */
  readonly samples: number;
}

/** Stacks S probability tensors `[b, C]` into samples `[S, b, C]` and their mean. */
function averageProbabilities(perSample: tf.Tensor[]): BatchPrediction {
  const samples = tf.stack(perSample);
  return { probs: tf.mean(samples, 0), samples };
}

/**
 * The Monte-Carlo predictive (1/S) Σ_s softmax(f_s(x)) of a stochastic network, where each call of `sampleLogits`
 * draws new noise (dropout masks, weights from a variational posterior, …). Keeps the S per-sample probabilities,
 * from which the mutual information (epistemic uncertainty) is computed.
 */
export function monteCarloPredictive(sampleLogits: LogitsFunction, options: MonteCarloOptions): Predictive {
  const s = options.samples;
  if (!(s >= 1) || !Number.isInteger(s)) {
    throw new BayescompError(
      'bad-config',
      `number of Monte-Carlo samples must be a positive integer, got ${s}`,
    );
  }
  return createPredictive(
    // Each pass is tidied on its own so only its [b, C] probabilities outlive it, not its activations.
    (x) => averageProbabilities(Array.from({ length: s }, () => tf.tidy(() => tf.softmax(sampleLogits(x))))),
    { ...options, name: options.name ?? `Monte Carlo (S=${s})`, numSamples: s },
  );
}

/**
 * The deep-ensemble predictive (1/M) Σ_m softmax(f_m(x)) (Lakshminarayanan et al. 2017, §2.4): each member is a
 * "sample", so the members' disagreement gives the mutual information.
 */
export function ensemblePredictive(
  members: ReadonlyArray<tf.LayersModel | LogitsFunction>,
  options: PredictiveOptions = {},
): Predictive {
  if (members.length === 0) throw new BayescompError('bad-config', 'an ensemble needs at least one member');
  const logits = members.map(asLogits);
  return createPredictive((x) => averageProbabilities(logits.map((f) => tf.tidy(() => tf.softmax(f(x))))), {
    ...options,
    name: options.name ?? `ensemble (M=${members.length})`,
    numSamples: members.length,
  });
}
