import * as tf from '@tensorflow/tfjs';
import { withKernelScope } from './kernelScope.js';
import { WasmHeap } from './wasmHeap.js';

/** Rows summed into one partial sum before the partial sums are added up (bounds float32 rounding growth). */
const BLOCK_ROWS = 256;

/**
 * `Sum` over leading axes (a float32 tensor read as rows, summed into one row: what every bias gradient and
 * `tf.sum(x, 0)` computes) as SIMD row additions on the wasm heap; any other reduction goes to the backend's kernel
 * (`original`). With rows r of length L,
 *
 *   out[l] = Σ_b Σ_{r ∈ block b} x[r, l],   blocks of {@link BLOCK_ROWS} rows,
 *
 * so each output adds at most 256 + rows/256 terms in sequence. The wasm backend's kernel transposes first to reduce
 * along the innermost axis: 4.1 ms against 0.4 ms for LeNet-5's first bias gradient ([100, 24, 24, 20] → [20]).
 */
export function leadingAxesSumConfig(original: tf.KernelConfig): tf.KernelConfig {
  return {
    ...original,
    kernelFunc: (args) => {
      const x = args.inputs.x as tf.TensorInfo;
      const { axis, keepDims } = args.attrs as unknown as { axis: number | number[]; keepDims?: boolean };
      const axes = tf.util.parseAxisParam(axis, x.shape);
      const kept = x.shape.length - axes.length;
      const leading = axes.length > 0 && [...axes].sort((a, b) => a - b).every((a, i) => a === i);
      const heap = WasmHeap.of(args.backend as tf.KernelBackend);
      const length = x.shape.slice(axes.length).reduce((a, b) => a * b, 1);
      const rows = x.shape.slice(0, axes.length).reduce((a, b) => a * b, 1);
      const usable = x.dtype === 'float32' && leading && kept > 0 && rows > 0 && length > 0;
      if (!usable || heap === undefined) return original.kernelFunc(args);
      const outShape = keepDims
        ? x.shape.map((d, i) => (i < axes.length ? 1 : d))
        : x.shape.slice(axes.length);
      return withKernelScope(args.backend as tf.KernelBackend, original.backendName, (scope) => {
        const blocks = Math.ceil(rows / BLOCK_ROWS);
        const out = scope.adopt(heap.output(outShape));
        const partial = blocks > 1 ? scope.adopt(heap.output([blocks, length])) : out;
        const runs = heap.runs();
        const source = heap.offset(x);
        const partialAt = heap.offset(partial);
        runs.zero(partialAt, 0, blocks * length, 1);
        for (let b = 0; b < blocks; b++) {
          const count = Math.min(BLOCK_ROWS, rows - b * BLOCK_ROWS);
          runs.add(partialAt + b * length, 0, source + b * BLOCK_ROWS * length, length, length, count);
        }
        if (blocks > 1) {
          const outAt = heap.offset(out);
          runs.zero(outAt, 0, length, 1);
          runs.add(outAt, 0, partialAt, length, length, blocks);
        }
        return out;
      });
    },
  };
}
