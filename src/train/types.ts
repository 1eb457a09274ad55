import type * as tf from '@tensorflow/tfjs';
import type { Random } from '../runtime/random.js';

/** One minibatch as tensors: `x` shaped `[size, ...featureShape]`; `y` int32 labels `[size]` or float targets `[size, d]`. */
export interface Batch {
  readonly x: tf.Tensor;
  readonly y: tf.Tensor;
  readonly size: number;
}

/** Where the training loop is, handed to objectives and callbacks. */
export interface StepContext {
  /** Zero-based epoch. */
  readonly epoch: number;
  /** Zero-based step within the epoch. */
  readonly step: number;
  readonly stepsPerEpoch: number;
  /** Training-set size N (for N/M scaling of minibatch likelihoods and 1/N scaling of KL terms). */
  readonly datasetSize: number;
  /** The run's generator, for any noise the objective draws. */
  readonly random: Random;
}

/** A scalar loss to minimise plus named scalar terms to log (e.g. `data`, `kl`, `beta`). */
export interface LossTerms {
  readonly loss: tf.Scalar;
  readonly terms?: Readonly<Record<string, tf.Scalar>>;
}

/**
 * What the training loop minimises. The MAP objective (cross-entropy or Gaussian NLL plus weight decay) and every
 * variational objective (ELBO, Rényi) implement this, so one loop trains them all.
 */
export interface Objective {
  /** A short name for logs, e.g. `map` or `elbo`. */
  readonly name: string;
  /** Builds the minibatch loss; called inside the optimiser's gradient tape. */
  loss(model: tf.LayersModel, batch: Batch, context: StepContext): LossTerms;
  /** Variables to optimise beyond the model's trainable weights (e.g. a learned prior or a VNQ codebook). */
  extraVariables?(): tf.Variable[];
  /** Called before each epoch, e.g. to advance a KL-weight schedule. */
  onEpochStart?(epoch: number, model: tf.LayersModel): void;
  /** Called after each epoch with the epoch's logs; may update state (plateau schedules, empirical Bayes). */
  onEpochEnd?(epoch: number, model: tf.LayersModel, logs: Readonly<Record<string, number>>): void;
  /** Values to log once per epoch (e.g. sparsity), computed outside the tape. */
  epochMetrics?(model: tf.LayersModel): Record<string, number>;
  /** Serialisable state for checkpoints (schedules, counters). */
  getState?(): Record<string, unknown>;
  /** Restores {@link getState}'s output on resume. */
  setState?(state: Record<string, unknown>): void;
}
