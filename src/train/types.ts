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

/** What the training loop records for one epoch (one entry of `history.json`). */
export interface EpochLog {
  /** Zero-based epoch. */
  readonly epoch: number;
  /** Optimiser steps taken in the epoch. */
  readonly steps: number;
  /** Mean minibatch loss over the epoch. */
  readonly loss: number;
  /** Mean of each of the objective's named terms over the epoch (e.g. `data`, `kl`, `beta`). */
  readonly terms: Readonly<Record<string, number>>;
  /** Learning rate at the epoch's first step. */
  readonly learningRate: number;
  /** Validation metrics (e.g. `accuracy`, `nll`), when the run validates. */
  readonly validation?: Readonly<Record<string, number>>;
  /** The objective's `epochMetrics` (e.g. sparsity). */
  readonly metrics?: Readonly<Record<string, number>>;
  /** Wall-clock seconds spent on the epoch, validation included. */
  readonly seconds: number;
}

/** What a callback returns: `'stop'` ends the run after the current step or epoch. */
export type CallbackResult = void | 'stop' | Promise<void | 'stop'>;

/** Passed to {@link TrainCallbacks.onBatchEnd}. */
export interface BatchEndInfo {
  readonly epoch: number;
  readonly step: number;
  readonly stepsPerEpoch: number;
  /** Steps since the start of the run (zero-based index of the step just taken). */
  readonly globalStep: number;
  readonly learningRate: number;
  /**
   * This step's loss. Reading it waits for the device, so the loop does not read it unless asked (the loop itself
   * reads losses in bulk every `divergenceCheckEvery` steps).
   */
  readLoss(): Promise<number>;
}

/** Hooks into the training loop. Any hook may return `'stop'` to end the run cleanly. */
export interface TrainCallbacks {
  /** Before each epoch's first step (not called again when a run resumes in the middle of that epoch). */
  onEpochStart?(epoch: number): CallbackResult;
  /** After each step. Throwing from here aborts the run (the last checkpoint stays as it was). */
  onBatchEnd?(info: BatchEndInfo): CallbackResult;
  /** After each epoch, once its log is complete and its checkpoint and history are written. */
  onEpochEnd?(log: EpochLog): CallbackResult;
}
