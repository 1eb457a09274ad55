import type * as tf from '@tensorflow/tfjs';
import { type GemmOperands, gemmKernel, gemmTileCalls, runTileCalls } from './gemmKernel.js';
import { heapHelperFor } from './heapHelper.js';
import { WasmHeap } from './wasmHeap.js';

/** Products smaller than this (multiply-adds) stay with the backend's kernel: too small for the difference to matter. */
const MIN_PRODUCT = 4096;
/** Products at least this large are split with the helper thread, when there is one (smaller ones lose to the wake-up). */
const MIN_SHARED_PRODUCT = 1 << 18;

/**
 * Wraps the wasm backend's `BatchMatMul` so that plain float32 products A·B — A of any leading shape, B one matrix
 * (`[K, N]` or `[1, K, N]`), no transposes — run as {@link gemmKernel}'s SIMD tiles on the heap (rows split with the
 * helper thread when one runs, see `heapHelper.ts`); everything else goes to `original`. Why: XNNPACK packs B on
 * every call whose B it has not seen, which during training is every call (see `gemmKernel.ts`).
 */
export function gemmMatMulConfig(original: tf.KernelConfig): tf.KernelConfig {
  return {
    ...original,
    kernelFunc: (args) => {
      const a = args.inputs.a as tf.TensorInfo;
      const b = args.inputs.b as tf.TensorInfo;
      const { transposeA, transposeB } = args.attrs as { transposeA?: boolean; transposeB?: boolean };
      const heap = WasmHeap.of(args.backend as tf.KernelBackend);
      const operands = heap && !transposeA && !transposeB ? plainProduct(a, b) : undefined;
      if (!heap || !operands) return original.kernelFunc(args);
      if (!gemmKernel(heap.memory()).exports) return original.kernelFunc(args);
      const out = heap.output([...a.shape.slice(0, -1), operands.n]);
      multiplyOnHeap(heap, { ...operands, a: heap.offset(a), b: heap.offset(b), c: heap.offset(out) });
      return out;
    },
  };
}

/**
 * C = A·B on the heap with {@link gemmKernel}'s tiles: rows split with the helper thread when one runs and the product
 * is large enough (see `heapHelper.ts`), else on this thread. Needs n ≥ 4 and k ≥ 1 for the tiles (a JavaScript loop
 * otherwise).
 */
export function multiplyOnHeap(heap: WasmHeap, p: GemmOperands): void {
  const kernel = gemmKernel(heap.memory());
  const exports = kernel.exports;
  const helper = heapHelperFor(heap.memory());
  if (!exports || !helper || p.m * p.k * p.n < MIN_SHARED_PRODUCT || p.m < 8 || p.n < 4 || p.k < 1) {
    kernel.multiply(heap.f32, p);
    return;
  }
  // The upper half of the rows here, rounded to whole 4-row tiles; the lower half on the helper.
  const split = ((p.m + 7) >> 3) << 2;
  const theirs = gemmTileCalls(p, split, p.m);
  helper.run(
    theirs,
    () => runTileCalls(exports, gemmTileCalls(p, 0, split)),
    () => runTileCalls(exports, theirs),
  );
}

/** m, k, n of a product the tiles take, or undefined. */
function plainProduct(a: tf.TensorInfo, b: tf.TensorInfo): Omit<GemmOperands, 'a' | 'b' | 'c'> | undefined {
  if (a.dtype !== 'float32' || b.dtype !== 'float32' || a.shape.length < 2 || b.shape.length < 2)
    return undefined;
  if (b.shape.length > a.shape.length || b.shape.slice(0, -2).some((d) => d !== 1)) return undefined;
  const k = a.shape[a.shape.length - 1];
  const [kb, n] = b.shape.slice(-2);
  const m = a.shape.slice(0, -1).reduce((x, y) => x * y, 1);
  if (k !== kb || n < 4 || k < 1 || m * k * n < MIN_PRODUCT) return undefined;
  return { m, k, n };
}
