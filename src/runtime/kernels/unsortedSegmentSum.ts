import type * as tf from '@tensorflow/tfjs';

/**
 * `UnsortedSegmentSum`, which the gradient of `tf.gather` (embeddings, any gather of weights) calls and the wasm
 * backend lacks: out[k, …] = Σ_{i : segmentIds[i] = k} x[i, …], where i runs over the leading dimensions that
 * `segmentIds` covers. Ids outside [0, numSegments) are skipped, as in TensorFlow.
 *
 * A single pass in JavaScript over the values (O(|x|)) rather than a one-hot MatMul (O(|x|·numSegments)).
 */
export function unsortedSegmentSumConfig(backendName: string): tf.KernelConfig {
  return {
    kernelName: 'UnsortedSegmentSum',
    backendName,
    kernelFunc: ({ inputs, backend, attrs }) => {
      const x = inputs.x as tf.TensorInfo;
      const ids = inputs.segmentIds as tf.TensorInfo;
      const numSegments = (attrs as { numSegments: number }).numSegments;
      const storage = backend as tf.KernelBackend;
      const rows = ids.shape.reduce((a, b) => a * b, 1);
      const inner = x.shape.slice(ids.shape.length).reduce((a, b) => a * b, 1);
      if (x.shape.slice(0, ids.shape.length).join(',') !== ids.shape.join(',')) {
        throw new Error(
          `UnsortedSegmentSum: segmentIds shape [${ids.shape}] is not a prefix of x shape [${x.shape}]`,
        );
      }
      const values = storage.readSync(x.dataId) as Float32Array | Int32Array;
      const segment = storage.readSync(ids.dataId) as Int32Array | Float32Array;
      const out =
        x.dtype === 'int32' ? new Int32Array(numSegments * inner) : new Float32Array(numSegments * inner);
      for (let i = 0; i < rows; i++) {
        const k = segment[i];
        if (!(k >= 0 && k < numSegments)) continue;
        const from = i * inner;
        const to = k * inner;
        for (let j = 0; j < inner; j++) out[to + j] += values[from + j];
      }
      const shape = [numSegments, ...x.shape.slice(ids.shape.length)];
      return { dataId: storage.write(out, shape, x.dtype), shape, dtype: x.dtype };
    },
  };
}
