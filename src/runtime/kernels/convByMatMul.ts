import type * as tf from '@tensorflow/tfjs';
import { col2imAdd, im2colTransposed } from './im2col.js';
import type { KernelScope } from './kernelScope.js';
import type { WasmHeap } from './wasmHeap.js';

type ConvInfo = tf.backend_util.Conv2DInfo;

/**
 * Largest patch matrix built at once, in floats (32 MiB). Bigger batches are cut into chunks of whole examples, so
 * memory stays bounded whatever the input size; LeNet-5's layers at batch 100 fit in one chunk (≤ 3.2 M floats).
 */
const MAX_PATCH_FLOATS = 1 << 23;

/** Consecutive chunks of whole examples whose patch matrices fit in {@link MAX_PATCH_FLOATS}. */
function* exampleChunks(info: ConvInfo): Generator<{ first: number; count: number }> {
  const perExample = info.outHeight * info.outWidth * info.filterHeight * info.filterWidth * info.inChannels;
  const size = Math.max(1, Math.floor(MAX_PATCH_FLOATS / Math.max(1, perExample)));
  for (let first = 0; first < info.batchSize; first += size) {
    yield { first, count: Math.min(size, info.batchSize - first) };
  }
}

/** Rows `first·OH·OW …` of dy as a [1, rows, O] matrix (shares dy's buffer when the chunk is the whole batch). */
function outputRows(scope: KernelScope, dy: tf.TensorInfo, info: ConvInfo, first: number, count: number) {
  const perExample = info.outHeight * info.outWidth;
  const o = info.outChannels;
  const flat = scope.reshape(dy, [1, info.batchSize * perExample, o]);
  return scope.slice(flat, [0, first * perExample, 0], [1, count * perExample, o]);
}

/**
 * ∂L/∂W of a channels-last 2-D convolution as one matrix product per chunk of examples (wasm heap only):
 *
 *   ∂L/∂W[(i, j, c), o] = Σ_{n, p, q} colsT[(i, j, c), (n, p, q)] · dy[(n, p, q), o],
 *
 * with colsT the transposed patch matrix ({@link im2colTransposed}), so dy is the operand the wasm MatMul repacks.
 */
export function filterGradientByMatMul(
  scope: KernelScope,
  heap: WasmHeap,
  x: tf.TensorInfo,
  dy: tf.TensorInfo,
  info: ConvInfo,
): tf.TensorInfo {
  const { filterHeight: fh, filterWidth: fw, inChannels: c, outChannels: o } = info;
  const k = fh * fw * c;
  if (k <= SHORT_PATCH) return filterGradientByDots(scope, heap, x, dy, info);
  let sum: tf.TensorInfo | undefined;
  for (const { first, count } of exampleChunks(info)) {
    const rows = count * info.outHeight * info.outWidth;
    const colsT = scope.adopt(heap.output([1, k, rows]));
    im2colTransposed(heap.runs(), heap.offset(x), info, first, count, heap.offset(colsT));
    const part = scope.run(
      'BatchMatMul',
      { a: colsT, b: outputRows(scope, dy, info, first, count) },
      { transposeA: false, transposeB: false },
    );
    scope.release(colsT);
    sum = sum === undefined ? part : scope.run('Add', { a: sum, b: part });
  }
  return scope.reshape(sum!, [fh, fw, c, o]);
}

/**
 * Patches at most this long (fh·fw·C) take {@link filterGradientByDots}. The wasm MatMul repacks its second operand
 * (here dy, B·OH·OW × O) at ~5–8 ns a float on every call, which outweighs its arithmetic when each dy value meets
 * only a few patch entries: for LeNet-5's first layer (25 taps) packing took ~8 of ~11 ms.
 */
const SHORT_PATCH = 32;

/** Output positions per tile of {@link filterGradientByDots}: 2 + 4 rows of 8 KiB stay in the first-level cache. */
const DOT_TILE = 2048;

/**
 * ∂L/∂W for short patches as dot products of rows (wasm heap only):
 *
 *   ∂L/∂W[(i, j, c), o] = Σ_m colsT[(i, j, c), m] · dyᵀ[o, m],
 *
 * in 2 × 4 blocks of SIMD dot products ({@link HeapRuns.dot2x4}) over tiles of {@link DOT_TILE} positions, summed
 * into one accumulator across tiles and chunks. Rows past fh·fw·C and O read a zero row.
 */
function filterGradientByDots(
  scope: KernelScope,
  heap: WasmHeap,
  x: tf.TensorInfo,
  dy: tf.TensorInfo,
  info: ConvInfo,
): tf.TensorInfo {
  const { filterHeight: fh, filterWidth: fw, inChannels: c, outChannels: o } = info;
  const k = fh * fw * c;
  const kPad = k + (k % 2);
  const oPad = o + ((4 - (o % 4)) % 4);
  const sums = scope.adopt(heap.output([kPad, oPad]));
  heap.runs().zero(heap.offset(sums), 0, kPad * oPad, 1);
  for (const { first, count } of exampleChunks(info)) {
    const m = count * info.outHeight * info.outWidth;
    // rows k … kPad are zero: the partner of an odd last row, and the stand-in for dyᵀ rows past O
    const colsT = scope.adopt(heap.output([kPad + 1, m]));
    const dyT = scope.transpose(outputRows(scope, dy, info, first, count), [0, 2, 1]);
    const runs = heap.runs();
    const [p, d, s] = [heap.offset(colsT), heap.offset(dyT), heap.offset(sums)];
    runs.zero(p + k * m, 0, (kPad + 1 - k) * m, 1);
    im2colTransposed(runs, heap.offset(x), info, first, count, p);
    const zeroRow = p + kPad * m;
    const vectorEnd = m - (m % 4);
    for (let t = 0; t < vectorEnd; t += DOT_TILE) {
      const length = Math.min(DOT_TILE, vectorEnd - t);
      const bRow = (col: number) => (col < o ? d + col * m : zeroRow) + t;
      for (let row = 0; row < kPad; row += 2) {
        for (let col = 0; col < oPad; col += 4) {
          const a = p + row * m + t;
          runs.dot2x4(
            a,
            a + m,
            bRow(col),
            bRow(col + 1),
            bRow(col + 2),
            bRow(col + 3),
            length,
            s + row * oPad + col,
            oPad,
          );
        }
      }
    }
    if (vectorEnd < m) {
      const f32 = heap.f32;
      for (let row = 0; row < k; row++) {
        for (let col = 0; col < o; col++) {
          let tail = 0;
          for (let at = vectorEnd; at < m; at++) tail += f32[p + row * m + at] * f32[d + col * m + at];
          f32[s + row * oPad + col] += tail;
        }
      }
    }
    scope.release(colsT);
    scope.release(dyT);
  }
  const gradient = scope.adopt(heap.output([fh, fw, c, o]));
  heap.runs().copy(heap.offset(gradient), o, heap.offset(sums), oPad, o, k);
  return gradient;
}

/**
 * ∂L/∂x of a channels-last 2-D convolution (wasm heap only): per chunk of examples one matrix product and its
 * scatter back onto the input grid,
 *
 *   ∂L/∂x = col2im(dy · W[fh·fw·C, O]ᵀ)   ({@link col2imAdd}),
 *
 * which does the convolution's own work once. The alternative — a dense convolution of the zero-spread, zero-padded
 * dy with the flipped filter — multiplies by every inserted and padded zero too (2.25× the work for LeNet-5's second
 * layer, s² × more with stride s).
 */
export function inputGradientByMatMul(
  scope: KernelScope,
  heap: WasmHeap,
  dy: tf.TensorInfo,
  filter: tf.TensorInfo,
  info: ConvInfo,
): tf.TensorInfo {
  const { filterHeight: fh, filterWidth: fw, inChannels: c, outChannels: o } = info;
  const k = fh * fw * c;
  const filterT = scope.transpose(scope.reshape(filter, [1, k, o]), [0, 2, 1]);
  const dx = scope.adopt(heap.output([info.batchSize, info.inHeight, info.inWidth, c]));
  const dxStart = heap.offset(dx);
  heap.f32.fill(0, dxStart, dxStart + info.batchSize * info.inHeight * info.inWidth * c);
  for (const { first, count } of exampleChunks(info)) {
    const cols = scope.run(
      'BatchMatMul',
      { a: outputRows(scope, dy, info, first, count), b: filterT },
      { transposeA: false, transposeB: false },
    );
    col2imAdd(heap.runs(), heap.offset(cols), info, first, count, dxStart);
    scope.release(cols);
  }
  return dx;
}
