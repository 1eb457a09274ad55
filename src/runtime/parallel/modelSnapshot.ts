import * as tf from '@tensorflow/tfjs';
import { BayescompError } from '../../util/errors.js';
import { sharedFloat32 } from './sharedMemory.js';

/**
 * A model as plain data a worker thread can rebuild: its Keras-style topology (`model.toJSON`) and every weight
 * (trainable or not, in `model.weights` order) packed into one shared array. Custom layers must be registered in the
 * worker (the Bayesian layers of `src/variational` are; others through the `workerImports` option).
 */
export interface ModelSnapshot {
  readonly topology: string;
  /** Every weight's values, concatenated in `model.weights` order. */
  readonly weights: Float32Array;
  readonly shapes: readonly (readonly number[])[];
}

/** Total number of values in `model.weights`. */
export function weightCount(model: tf.LayersModel): number {
  return model.weights.reduce((sum, w) => sum + (w.shape as number[]).reduce((a, b) => a * b, 1), 0);
}

/** Captures `model` for {@link restoreModel} in another thread. */
export function snapshotModel(model: tf.LayersModel): ModelSnapshot {
  const topology = JSON.stringify(model.toJSON(null, false));
  const weights = sharedFloat32(weightCount(model));
  writeWeights(model, weights);
  return { topology, weights, shapes: model.weights.map((w) => (w.shape as number[]).slice()) };
}

/** Copies every weight of `model` into `out` (concatenated in `model.weights` order). */
export function writeWeights(model: tf.LayersModel, out: Float32Array): void {
  let offset = 0;
  for (const w of model.weights) {
    const values = w.read().dataSync() as Float32Array;
    out.set(values, offset);
    offset += values.length;
  }
}

/** Sets every weight of `model` from `values` (concatenated in `model.weights` order). */
export function readWeights(model: tf.LayersModel, values: Float32Array): void {
  let offset = 0;
  tf.tidy(() => {
    for (const w of model.weights) {
      const shape = w.shape as number[];
      const size = shape.reduce((a, b) => a * b, 1);
      // A copy: the tensor must not alias shared memory that workers keep writing.
      w.write(tf.tensor(values.slice(offset, offset + size), shape, 'float32'));
      offset += size;
    }
  });
}

/** Rebuilds a snapshot's model (in a worker thread). */
export async function restoreModel(snapshot: ModelSnapshot): Promise<tf.LayersModel> {
  let model: tf.LayersModel;
  try {
    model = await tf.models.modelFromJSON({
      modelTopology: JSON.parse(snapshot.topology) as tf.io.ModelJSON['modelTopology'],
    });
  } catch (err) {
    const message = err instanceof Error ? err.message.split('\n')[0] : String(err);
    throw new BayescompError(
      'runtime',
      `a worker could not rebuild the model (${message}); register custom layers in the workers with the workerImports option`,
    );
  }
  const shapes = model.weights.map((w) => (w.shape as number[]).join('×'));
  const expected = snapshot.shapes.map((s) => s.join('×'));
  if (shapes.join(',') !== expected.join(',')) {
    model.dispose();
    throw new BayescompError(
      'runtime',
      `a worker rebuilt the model with weights [${shapes.join(', ')}], not [${expected.join(', ')}]`,
    );
  }
  readWeights(model, snapshot.weights);
  return model;
}
