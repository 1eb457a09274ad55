import * as tf from '@tensorflow/tfjs';

/**
 * Consecutive chunks of at most `batch` examples (first axis) of `x`, one new tensor at a time; the caller disposes
 * each. They are cut out of one copy of `x`'s values: the wasm backend's slice copies its whole input on every call,
 * so slicing a 10 000-image tensor into 64-image chunks would copy all of it 157 times. A single chunk is a handle on
 * `x`'s own data.
 */
export function* exampleChunks(x: tf.Tensor, batch: number): Generator<tf.Tensor> {
  const n = x.shape[0];
  if (n <= batch) {
    yield tf.reshape(x, x.shape);
    return;
  }
  const values = x.dataSync();
  const per = x.size / n;
  for (let s = 0; s < n; s += batch) {
    const size = Math.min(batch, n - s);
    yield tf.tensor(values.subarray(s * per, (s + size) * per), [size, ...x.shape.slice(1)], x.dtype);
  }
}
