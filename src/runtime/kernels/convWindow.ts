import type * as tf from '@tensorflow/tfjs';
import type { KernelScope } from './kernelScope.js';

/** Rows (or columns) `start … start + length − 1` of an axis, where negative or too-large indices mean zero padding. */
export interface AxisWindow {
  readonly start: number;
  readonly length: number;
}

/**
 * Cuts the windows `rows` × `cols` out of an NHWC tensor, zero-padding where a window reaches past an edge, in at most
 * one `PadV2` and one `Slice`. A convolution's input is read exactly over such a window: rows −padTop …
 * (outHeight − 1)·stride + (filterHeight − 1)·dilation − padTop, so cutting it first lets a composed kernel run its
 * inner convolution with 'valid' padding and no wasted output.
 */
export function cropOrPadNhwc(
  scope: KernelScope,
  x: tf.TensorInfo,
  rows: AxisWindow,
  cols: AxisWindow,
): tf.TensorInfo {
  const [n, h, w, c] = x.shape;
  const padTop = Math.max(0, -rows.start);
  const padLeft = Math.max(0, -cols.start);
  const padBottom = Math.max(0, rows.start + rows.length - h);
  const padRight = Math.max(0, cols.start + cols.length - w);
  const padded = scope.pad(x, [
    [0, 0],
    [padTop, padBottom],
    [padLeft, padRight],
    [0, 0],
  ]);
  return scope.slice(
    padded,
    [0, rows.start + padTop, cols.start + padLeft, 0],
    [n, rows.length, cols.length, c],
  );
}
