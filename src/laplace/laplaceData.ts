import * as tf from '@tensorflow/tfjs';
import { batches } from '../data/batches.js';
import { type Dataset, isClassification } from '../data/dataset.js';
import type { Batch } from '../train/types.js';
import type { LaplaceLikelihood } from './likelihood.js';

/** Data a Laplace approximation is fitted or evaluated on: a {@link Dataset}, or feature and target tensors. */
export type LaplaceData = Dataset | { readonly x: tf.Tensor; readonly y: tf.Tensor };

function isDataset(data: LaplaceData): data is Dataset {
  return (data as Dataset).featureShape !== undefined;
}

/** Number of examples. */
export function laplaceDataSize(data: LaplaceData): number {
  return isDataset(data) ? data.n : data.x.shape[0];
}

/** Classification for integer labels, regression for real targets. */
export function inferLikelihood(data: LaplaceData): LaplaceLikelihood {
  if (isDataset(data)) return isClassification(data) ? 'classification' : 'regression';
  return data.y.dtype === 'int32' ? 'classification' : 'regression';
}

/** Batches in order (no shuffling: curvature is a sum); each batch's tensors belong to the consumer. */
export function* laplaceBatches(data: LaplaceData, batchSize: number): Generator<Batch> {
  if (isDataset(data)) {
    yield* batches(data, batchSize);
    return;
  }
  const n = data.x.shape[0];
  for (let start = 0; start < n; start += batchSize) {
    const size = Math.min(batchSize, n - start);
    const x = data.x.slice(start, size);
    const y = data.y.slice(start, size);
    yield { x, y, size };
  }
}

/** Features of the data as one tensor (a new tensor the caller disposes) and the targets. */
export function laplaceDataTensors(data: LaplaceData): { x: tf.Tensor; y: tf.Tensor } {
  if (!isDataset(data)) return { x: data.x.clone(), y: data.y.clone() };
  const batch = batches(data, Math.max(1, data.n)).next().value as Batch;
  return { x: batch.x, y: batch.y };
}
