import * as tf from '@tensorflow/tfjs';
import type { Random } from '../runtime/random.js';
import type { Batch } from '../train/types.js';
import { type Dataset, featureSize, targetWidth } from './dataset.js';
import { subsetDataset } from './splits.js';

/** Options for {@link batches}. */
export interface BatchOptions {
  /** Shuffle the order each time the iterable is consumed (requires `random`). Default: false. */
  readonly shuffle?: boolean;
  /** Generator for the shuffle order; the same seed gives the same batches. */
  readonly random?: Random;
  /** Skip a last batch smaller than `batchSize`. Default: false. */
  readonly dropLast?: boolean;
}

/**
 * The number of batches {@link batches} yields for `n` examples.
 */
export function batchCount(n: number, batchSize: number, dropLast = false): number {
  return dropLast ? Math.floor(n / batchSize) : Math.ceil(n / batchSize);
}

/**
 * Minibatches of `data` as tensors. Each batch's tensors belong to the caller, who disposes them (the training
 * loop does so after each step), so memory stays bounded by one batch.
 */
export function* batches(data: Dataset, batchSize: number, options: BatchOptions = {}): Generator<Batch> {
  if (!(batchSize >= 1) || !Number.isInteger(batchSize)) {
    throw new RangeError(`batch size must be a positive integer, got ${batchSize}`);
  }
  let order: Int32Array | undefined;
  if (options.shuffle) {
    if (!options.random) throw new RangeError('shuffled batches need a seeded Random');
    order = options.random.permutation(data.n);
  }
  const count = batchCount(data.n, batchSize, options.dropLast);
  for (let b = 0; b < count; b++) {
    const start = b * batchSize;
    const end = Math.min(start + batchSize, data.n);
    if (order) yield makeBatch(data, order.subarray(start, end));
    else yield sliceBatch(data, start, end);
  }
}

/** A batch made of the examples at `indices`, in that order. */
export function makeBatch(data: Dataset, indices: ArrayLike<number>): Batch {
  const subset = subsetDataset(data, indices);
  return toBatch(data, subset.x, subset.y, subset.n);
}

/** A batch of the contiguous examples `start..end-1` (no copy of the feature values beyond the tensor upload). */
export function sliceBatch(data: Dataset, start: number, end: number): Batch {
  const fs = featureSize(data);
  const ts = targetWidth(data);
  return toBatch(data, data.x.subarray(start * fs, end * fs), data.y.subarray(start * ts, end * ts), end - start);
}


function toBatch(data: Dataset, x: Float32Array, y: Int32Array | Float32Array, m: number): Batch {
  const xs = tf.tensor(x, [m, ...data.featureShape], 'float32');
  const ys =
    y instanceof Int32Array ? tf.tensor1d(y, 'int32') : tf.tensor2d(y, [m, data.targetSize ?? 1], 'float32');
  return { x: xs, y: ys, size: m };
}
