import * as tf from '@tensorflow/tfjs';
import { batches } from '../data/batches.js';
import type { Dataset } from '../data/dataset.js';
import { softmaxCrossEntropyPerExample } from './map-objective.js';

/**
 * Metrics of the deterministic model on a dataset, in batches so memory stays bounded: for class labels `accuracy`
 * and `nll` (mean softmax cross-entropy of the logits, nats per example); for real targets `mse` and `rmse`. Sums are
 * accumulated on the device and read once at the end.
 */
export async function deterministicValidationMetrics(
  model: tf.LayersModel,
  data: Dataset,
  batchSize = 1000,
): Promise<Record<string, number>> {
  const classification = data.y instanceof Int32Array;
  let sums: tf.Tensor1D = tf.zeros([2]);
  for (const batch of batches(data, batchSize)) {
    const next = tf.tidy(() => {
      const outputs = model.apply(batch.x, { training: false }) as tf.Tensor;
      let first: tf.Tensor;
      let second: tf.Tensor;
      if (classification) {
        const correct = tf.equal(tf.argMax(outputs, 1).toInt(), batch.y);
        first = tf.sum(tf.cast(correct, 'float32'));
        second = tf.sum(softmaxCrossEntropyPerExample(outputs, batch.y));
      } else {
        const perExample = tf.mean(tf.reshape(tf.squaredDifference(outputs, batch.y), [batch.size, -1]), 1);
        first = tf.sum(perExample);
        second = tf.scalar(0);
      }
      return tf.add(sums, tf.stack([first, second])) as tf.Tensor1D;
    });
    tf.dispose([sums, batch.x, batch.y]);
    sums = next;
  }
  const [a, b] = await sums.data();
  sums.dispose();
  const n = Math.max(1, data.n);
  return classification ? { accuracy: a / n, nll: b / n } : { mse: a / n, rmse: Math.sqrt(a / n) };
}
