import type * as tf from '@tensorflow/tfjs';
import type { HeapRuns } from './heapRuns.js';

type ConvInfo = tf.backend_util.Conv2DInfo;

/**
 * One strided group of runs shared by a patch matrix and its convolution input: `count` runs of `length` floats, the
 * r-th at `col + r·colStride` of the patch matrix (relative to its first element) and at `input + r·inputStride` of
 * the input (relative to its first element).
 */
type RunVisitor = (
  col: number,
  colStride: number,
  input: number,
  inputStride: number,
  length: number,
  count: number,
) => void;

/** ⌈a / b⌉ for integers, b > 0. */
function ceilDiv(a: number, b: number): number {
  return -Math.floor(-a / b);
}

/**
 * Visits every stretch of the patch matrix (of the examples `first … first + count − 1`) that reads input values, as
 * groups of runs (see {@link im2col} for the layout). Entries that read padding are not visited. For each example n,
 * output row p and filter row i, the output columns q run with stride K through the patch matrix and with stride
 * s_w·C through the input; where the filter is not dilated along the width the taps (j, c) of one filter row are one
 * contiguous run of fw·C floats, cut where a window reaches past the left or right edge.
 */
function forEachRun(info: ConvInfo, first: number, count: number, visit: RunVisitor): void {
  const { inHeight: h, inWidth: w, inChannels: c, outHeight: oh, outWidth: ow } = info;
  const { filterHeight: fh, filterWidth: fw, strideHeight: sh, strideWidth: sw } = info;
  const { dilationHeight: dh, dilationWidth: dw } = info;
  const pt = info.padInfo.top;
  const pl = info.padInfo.left;
  const k = fh * fw * c;
  // Output columns whose whole window row lies inside the input: q·s_w − pl ≥ 0 and q·s_w − pl + (fw−1)·d_w < w.
  const inner0 = Math.min(ow, Math.max(0, ceilDiv(pl, sw)));
  const inner1 = Math.max(inner0, Math.min(ow, Math.floor((w - 1 + pl - (fw - 1) * dw) / sw) + 1));
  for (let n = first; n < first + count; n++) {
    for (let p = 0; p < oh; p++) {
      const rowOfPatches = ((n - first) * oh + p) * ow * k;
      for (let i = 0; i < fh; i++) {
        const r = p * sh + i * dh - pt;
        if (r < 0 || r >= h) continue;
        const inputRow = (n * h + r) * w * c;
        const tapRow = rowOfPatches + i * fw * c;
        if (dw === 1) {
          if (inner1 > inner0) {
            const left = inner0 * sw - pl;
            visit(tapRow + inner0 * k, k, inputRow + left * c, sw * c, fw * c, inner1 - inner0);
          }
          for (let q = 0; q < ow; q++) {
            if (q === inner0 && inner1 > inner0) q = inner1;
            if (q >= ow) break;
            const left = q * sw - pl;
            const ja = Math.max(0, -left);
            const jb = Math.min(fw, w - left);
            if (jb > ja)
              visit(tapRow + q * k + ja * c, k, inputRow + (left + ja) * c, sw * c, (jb - ja) * c, 1);
          }
        } else {
          for (let j = 0; j < fw; j++) {
            const q0 = Math.max(0, ceilDiv(pl - j * dw, sw));
            const q1 = Math.min(ow, Math.floor((w - 1 + pl - j * dw) / sw) + 1);
            if (q1 <= q0) continue;
            const t = q0 * sw + j * dw - pl;
            visit(tapRow + q0 * k + j * c, k, inputRow + t * c, sw * c, c, q1 - q0);
          }
        }
      }
    }
  }
}

/**
 * The transpose of {@link im2col}'s patch matrix, for the examples `first … first + count − 1`:
 *
 *   colsT[(i·fw + j)·C + c, ((n − first)·OH + p)·OW + q] = x̃[n, p·s_h + i·d_h − padTop, q·s_w + j·d_w − padLeft, c].
 *
 * ∂L/∂W = colsT · dy is then a matrix product whose second operand is the small one (dy, not the patches): the wasm
 * MatMul repacks its second operand on every call at ~10 ns a float, which made dyᵀ · cols several times slower.
 * Each filter tap (i, j) and channel c reads, per example and output row, the output columns q with stride s_w·C.
 */
export function im2colTransposed(
  runs: HeapRuns,
  x: number,
  info: ConvInfo,
  first: number,
  count: number,
  colsT: number,
): void {
  const { inHeight: h, inWidth: w, inChannels: c, outHeight: oh, outWidth: ow } = info;
  const { filterHeight: fh, filterWidth: fw, strideHeight: sh, strideWidth: sw } = info;
  const { dilationHeight: dh, dilationWidth: dw } = info;
  const pt = info.padInfo.top;
  const pl = info.padInfo.left;
  const m = count * oh * ow;
  if (readsPadding(info)) runs.zero(colsT, 0, fh * fw * c * m, 1);
  for (let n = first; n < first + count; n++) {
    for (let p = 0; p < oh; p++) {
      const column = ((n - first) * oh + p) * ow;
      for (let i = 0; i < fh; i++) {
        const r = p * sh + i * dh - pt;
        if (r < 0 || r >= h) continue;
        const inputRow = x + (n * h + r) * w * c;
        for (let j = 0; j < fw; j++) {
          const q0 = Math.max(0, ceilDiv(pl - j * dw, sw));
          const q1 = Math.min(ow, Math.floor((w - 1 + pl - j * dw) / sw) + 1);
          if (q1 <= q0) continue;
          const t = q0 * sw + j * dw - pl;
          const dst = colsT + (i * fw + j) * c * m + column + q0;
          if (c === 1 && sw === 1) runs.copy(dst, m, inputRow + t, 1, q1 - q0, 1);
          else runs.gather(dst, m, inputRow + t * c, 1, sw * c, q1 - q0, c);
        }
      }
    }
  }
}

/** Whether some window of the convolution reads padding (then patch matrices have entries that stay zero). */
export function readsPadding(info: ConvInfo): boolean {
  const lastRow = (info.outHeight - 1) * info.strideHeight + (info.filterHeight - 1) * info.dilationHeight;
  const lastCol = (info.outWidth - 1) * info.strideWidth + (info.filterWidth - 1) * info.dilationWidth;
  return (
    info.padInfo.top > 0 ||
    info.padInfo.left > 0 ||
    lastRow - info.padInfo.top >= info.inHeight ||
    lastCol - info.padInfo.left >= info.inWidth
  );
}

/**
 * Patch matrix ("im2col") of a channels-last convolution input, for the examples `first … first + count − 1`:
 *
 *   cols[((n − first)·OH + p)·OW + q, (i·fw + j)·C + c] = x̃[n, p·s_h + i·d_h − padTop, q·s_w + j·d_w − padLeft, c],
 *
 * with x̃ zero outside the input. Then conv(x, W) = cols · W[fh·fw·C, O], ∂L/∂W = colsᵀ · dy and
 * ∂L/∂x = col2im(dy · Wᵀ) ({@link col2imAdd}), each one matrix product. `x` and `cols` are the indices of the two
 * tensors' first elements on the heap that `runs` works on.
 */
export function im2col(
  runs: HeapRuns,
  x: number,
  info: ConvInfo,
  first: number,
  count: number,
  cols: number,
): void {
  if (readsPadding(info)) {
    const size =
      count * info.outHeight * info.outWidth * info.filterHeight * info.filterWidth * info.inChannels;
    runs.zero(cols, 0, size, 1);
  }
  forEachRun(info, first, count, (col, colStride, input, inputStride, length, n) =>
    runs.copy(cols + col, colStride, x + input, inputStride, length, n),
  );
}

/**
 * The adjoint of {@link im2col}: adds every patch entry back where it was read from,
 *
 *   dx[n, p·s_h + i·d_h − padTop, q·s_w + j·d_w − padLeft, c] += cols[((n − first)·OH + p)·OW + q, (i·fw + j)·C + c],
 *
 * dropping entries that fall in the padding. `dx` is the whole input gradient (NHWC); the rows of the examples
 * `first … first + count − 1` must be zeroed first.
 */
export function col2imAdd(
  runs: HeapRuns,
  cols: number,
  info: ConvInfo,
  first: number,
  count: number,
  dx: number,
): void {
  forEachRun(info, first, count, (col, colStride, input, inputStride, length, n) =>
    runs.add(dx + input, inputStride, cols + col, colStride, length, n),
  );
}
