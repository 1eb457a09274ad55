import type * as tf from '@tensorflow/tfjs';
import type { KernelScope } from './kernelScope.js';

/** Rows (or columns) `start … start + length − 1` of an axis, where negative or too-large indices mean zero padding. */
export interface AxisWindow {
  readonly start: number;
  readonly length: number;
}

/**
 * Cuts one window per spatial axis out of a channels-last tensor [N, …spatial, C], zero-padding where a window reaches
 * past an edge, in at most one `PadV2` and one `Slice`. A convolution's input is read exactly over such a window: rows
 * −padTop … (outHeight − 1)·stride + (filterHeight − 1)·dilation − padTop, so cutting it first lets a composed kernel
 * run its inner convolution with 'valid' padding and no wasted output.
 */
export function cropOrPadSpatial(
  scope: KernelScope,
  x: tf.TensorInfo,
  windows: readonly AxisWindow[],
): tf.TensorInfo {
  if (windows.length !== x.shape.length - 2) {
    throw new Error(`cropOrPadSpatial: ${windows.length} windows for a rank-${x.shape.length} tensor`);
  }
  const before = windows.map((w) => Math.max(0, -w.start));
  const after = windows.map((w, i) => Math.max(0, w.start + w.length - x.shape[i + 1]));
  const padded = scope.pad(x, [
    [0, 0],
    ...windows.map((_, i): [number, number] => [before[i], after[i]]),
    [0, 0],
  ]);
  const begin = [0, ...windows.map((w, i) => w.start + before[i]), 0];
  const size = [x.shape[0], ...windows.map((w) => w.length), x.shape[x.shape.length - 1]];
  return scope.slice(padded, begin, size);
}

/** {@link cropOrPadSpatial} for NHWC tensors. */
export function cropOrPadNhwc(
  scope: KernelScope,
  x: tf.TensorInfo,
  rows: AxisWindow,
  cols: AxisWindow,
): tf.TensorInfo {
  return cropOrPadSpatial(scope, x, [rows, cols]);
}

/**
 * Inserts `stride − 1` zeros after every element along each spatial axis of a channels-last tensor: the value at
 * position p·s of the result is x[p]. Transposed convolutions (input gradients) read their input this way. One axis at
 * a time, each as a rank-4 pad, because the backend's pad kernel (XNNPACK) accepts at most rank 6.
 */
export function spreadByStrides(
  scope: KernelScope,
  x: tf.TensorInfo,
  strides: readonly number[],
): tf.TensorInfo {
  let out = x;
  strides.forEach((s, i) => {
    if (s === 1) return;
    const shape = out.shape;
    const axis = i + 1;
    const outer = shape.slice(0, axis).reduce((a, b) => a * b, 1);
    const inner = shape.slice(axis + 1).reduce((a, b) => a * b, 1);
    const apart = scope.pad(scope.reshape(out, [outer, shape[axis], 1, inner]), [
      [0, 0],
      [0, 0],
      [0, s - 1],
      [0, 0],
    ]);
    out = scope.reshape(
      apart,
      shape.map((d, k) => (k === axis ? d * s : d)),
    );
  });
  return out;
}
