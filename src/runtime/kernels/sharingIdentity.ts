import type * as tf from '@tensorflow/tfjs';

/**
 * `Identity` that shares its input's buffer (reference-counted, like `Reshape`) instead of copying it.
 *
 * Why: while a gradient tape records, the engine clones every tensor a gradient will need (`tf.clone` runs
 * `Identity`), and the wasm backend's `Identity` copies the data. A LeNet-5 training step clones ~30 tensors, up to
 * 1.15 M floats each, only to keep them alive. Tensors are immutable and every kernel writes only to its own outputs,
 * so sharing is safe; the cpu backend's own `Identity` shares too. Strings go to the backend's kernel (`original`).
 */
export function sharingIdentityConfig(original: tf.KernelConfig): tf.KernelConfig {
  return {
    ...original,
    kernelFunc: (args) => {
      const x = args.inputs.x as tf.TensorInfo;
      if (x.dtype === 'string') return original.kernelFunc(args);
      (args.backend as tf.KernelBackend).incRef(x.dataId);
      return { dataId: x.dataId, shape: [...x.shape], dtype: x.dtype };
    },
  };
}
