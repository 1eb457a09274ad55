import type * as tf from '@tensorflow/tfjs';
import { withKernelScope } from './kernelScope.js';

/**
 * Wraps a backend's `BatchMatMul` or `_FusedMatMul` kernel so that `transposeA`/`transposeB` are carried out by an
 * explicit `Transpose` of the last two axes before a plain product, with the original kernel doing the product.
 *
 * Why: the wasm backend hands transposed operands to a slow path — on 100×784ᵀ · 100×300 (the weight gradient of a
 * 784→300 dense layer) it took ~30–40 ms against ~4 ms for transpose + plain MatMul. The built-in MatMul gradient asks
 * for exactly those transposed products, so every dense layer's backward pass pays it. The result equals
 * `tf.matMul(tf.transpose(a), b)` bit for bit, since that is what runs.
 *
 * `original` is the kernel being replaced (from `tf.getKernel` before unregistering); its setup and dispose hooks are
 * kept so the wrapper stays valid if the backend is re-initialised.
 */
export function transposingMatMulConfig(original: tf.KernelConfig): tf.KernelConfig {
  const backendName = original.backendName;
  return {
    ...original,
    kernelFunc: ({ inputs, backend, attrs }) => {
      const { transposeA, transposeB } = attrs as { transposeA?: boolean; transposeB?: boolean };
      if (!transposeA && !transposeB) return original.kernelFunc({ inputs, backend, attrs });
      return withKernelScope(backend as tf.KernelBackend, backendName, (scope) => {
        const a = inputs.a as tf.TensorInfo;
        const b = inputs.b as tf.TensorInfo;
        const plainInputs = {
          ...inputs,
          a: transposeA ? scope.transpose(a, swapLastTwo(a.shape.length)) : a,
          b: transposeB ? scope.transpose(b, swapLastTwo(b.shape.length)) : b,
        };
        const out = original.kernelFunc({
          inputs: plainInputs,
          backend,
          attrs: { ...attrs, transposeA: false, transposeB: false },
        });
        if (Array.isArray(out)) throw new Error(`${original.kernelName} returned several outputs`);
        scope.adopt(out);
        return out;
      });
    },
  };
}

/** The permutation [0, …, r−3, r−1, r−2]. */
function swapLastTwo(rank: number): number[] {
  const perm = Array.from({ length: rank }, (_, i) => i);
  perm[rank - 2] = rank - 1;
  perm[rank - 1] = rank - 2;
  return perm;
}
