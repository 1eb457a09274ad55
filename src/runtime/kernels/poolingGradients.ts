import * as tf from '@tensorflow/tfjs';
import type { HeapRuns } from './heapRuns.js';
import { WasmHeap } from './wasmHeap.js';

type Pad = 'valid' | 'same' | number | tf.backend_util.ExplicitPadding;

/** Attributes of `MaxPoolGrad` and `AvgPoolGrad`. */
interface PoolGradAttrs {
  filterSize: [number, number] | number;
  strides: [number, number] | number;
  pad: Pad;
  dimRoundingMode?: 'floor' | 'round' | 'ceil';
}

/** The pooling windows of an NHWC input: for output (n, p, q), input rows p·s_h − padTop + i, columns q·s_w − padLeft + j. */
function poolInfo(input: tf.TensorInfo, attrs: PoolGradAttrs): tf.backend_util.Conv2DInfo {
  return tf.backend_util.computePool2DInfo(
    input.shape as [number, number, number, number],
    attrs.filterSize,
    attrs.strides,
    1,
    attrs.pad,
    attrs.dimRoundingMode,
  );
}

/**
 * Visits every pooling window: `visit(outIndexWithoutChannel, firstRow, lastRow, firstCol, lastCol)` with the window
 * clipped to the input (rows and columns inclusive, in input coordinates).
 */
function forEachWindow(
  info: tf.backend_util.Conv2DInfo,
  visit: (outBase: number, n: number, r0: number, r1: number, c0: number, c1: number) => void,
): void {
  const { batchSize, inHeight, inWidth, outHeight, outWidth, strideHeight, strideWidth } = info;
  const { effectiveFilterHeight: fh, effectiveFilterWidth: fw, dilationHeight: dh, dilationWidth: dw } = info;
  if (dh !== 1 || dw !== 1) throw new Error('pooling gradient: dilations other than 1 are not supported');
  for (let n = 0; n < batchSize; n++) {
    for (let p = 0; p < outHeight; p++) {
      const top = p * strideHeight - info.padInfo.top;
      const r0 = Math.max(0, top);
      const r1 = Math.min(inHeight, top + fh) - 1;
      for (let q = 0; q < outWidth; q++) {
        const left = q * strideWidth - info.padInfo.left;
        const c0 = Math.max(0, left);
        const c1 = Math.min(inWidth, left + fw) - 1;
        visit(((n * outHeight + p) * outWidth + q) * info.outChannels, n, r0, r1, c0, c1);
      }
    }
  }
}

/**
 * `MaxPoolGrad`: each window passes its output gradient to the first position (row-major) holding the window's
 * maximum, as TensorFlow does — also when several positions tie (e.g. zeros after a ReLU):
 *
 *   ∂L/∂x[n, r, t, c] = Σ_{windows w whose first argmax is (r, t)} dy[w, c].
 *
 * Replaces the wasm backend's kernel, which returns wrong gradients in TF.js 4.22 (e.g. 2×2 pooling with stride 2 of
 * a [1, 8, 8, 4] input: relative error ~1 against this rule). One pass over the windows, reading and writing the wasm
 * heap in place, 4 channels at a time in SIMD ({@link HeapRuns.maxWindow}; LeNet-5's first pooling gradient: 14 ms in
 * plain JavaScript, ~2 ms this way); leftover channels and other backends use the same rule in JavaScript.
 */
export function maxPoolGradConfig(backendName: string): tf.KernelConfig {
  return {
    kernelName: 'MaxPoolGrad',
    backendName,
    kernelFunc: ({ inputs, backend, attrs }) => {
      const storage = backend as tf.KernelBackend;
      const input = inputs.input as tf.TensorInfo;
      const dy = inputs.dy as tf.TensorInfo;
      const info = poolInfo(input, attrs as unknown as PoolGradAttrs);
      const heap = WasmHeap.of(storage);
      if (heap !== undefined) {
        const out = heap.output([...input.shape]);
        const f32 = heap.f32;
        const at = [heap.offset(input), heap.offset(dy), heap.offset(out)] as const;
        maxPoolGradient(info, f32, at[0], f32, at[1], f32, at[2], heap.runs());
        return out;
      }
      const x = storage.readSync(input.dataId) as Float32Array;
      const g = storage.readSync(dy.dataId) as Float32Array;
      const dx = new Float32Array(x.length);
      maxPoolGradient(info, x, 0, g, 0, dx, 0);
      return { dataId: storage.write(dx, input.shape, 'float32'), shape: input.shape, dtype: 'float32' };
    },
  };
}

/**
 * {@link maxPoolGradConfig}'s rule on arrays: input at `xAt` of `x`, dy at `gAt` of `g`, dx (written) at `dxAt`.
 * With `runs` (all three on the wasm heap, `x === g === dx`) whole groups of 4 channels are done by
 * {@link HeapRuns.maxWindow}, the remaining channels here.
 */
function maxPoolGradient(
  info: tf.backend_util.Conv2DInfo,
  x: Float32Array,
  xAt: number,
  g: Float32Array,
  gAt: number,
  dx: Float32Array,
  dxAt: number,
  runs?: HeapRuns,
): void {
  const { batchSize, inHeight, inWidth, outHeight, outWidth, strideHeight, strideWidth } = info;
  const { effectiveFilterHeight: fh, effectiveFilterWidth: fw, dilationHeight, dilationWidth } = info;
  if (dilationHeight !== 1 || dilationWidth !== 1) {
    throw new Error('pooling gradient: dilations other than 1 are not supported');
  }
  const channels = info.inChannels;
  const vectorChannels = runs === undefined ? 0 : channels - (channels % 4);
  dx.fill(0, dxAt, dxAt + batchSize * inHeight * inWidth * channels);
  const best = new Float32Array(channels);
  const where = new Int32Array(channels);
  let outAt = gAt;
  for (let n = 0; n < batchSize; n++) {
    for (let p = 0; p < outHeight; p++) {
      const top = p * strideHeight - info.padInfo.top;
      const r0 = Math.max(0, top);
      const r1 = Math.min(inHeight, top + fh);
      for (let q = 0; q < outWidth; q++, outAt += channels) {
        const left = q * strideWidth - info.padInfo.left;
        const c0 = Math.max(0, left);
        const c1 = Math.min(inWidth, left + fw);
        if (r1 <= r0 || c1 <= c0) continue;
        const first = ((n * inHeight + r0) * inWidth + c0) * channels;
        if (vectorChannels > 0) {
          const rowStride = inWidth * channels;
          runs!.maxWindow(
            xAt + first,
            dxAt + first,
            outAt,
            rowStride,
            channels,
            r1 - r0,
            c1 - c0,
            vectorChannels,
          );
          if (vectorChannels === channels) continue;
        }
        for (let c = vectorChannels; c < channels; c++) {
          best[c] = x[xAt + first + c];
          where[c] = first + c;
        }
        for (let r = r0; r < r1; r++) {
          for (let t = r === r0 ? c0 + 1 : c0; t < c1; t++) {
            const at = ((n * inHeight + r) * inWidth + t) * channels;
            for (let c = vectorChannels; c < channels; c++) {
              const v = x[xAt + at + c];
              if (v > best[c]) {
                best[c] = v;
                where[c] = at + c;
              }
            }
          }
        }
        for (let c = vectorChannels; c < channels; c++) dx[dxAt + where[c]] += g[outAt + c];
      }
    }
  }
}

/**
 * `AvgPoolGrad` consistent with TF.js's forward average pooling, which divides each window's sum by the number of
 * input positions inside it (padding excluded):
 *
 *   ∂L/∂x[n, r, t, c] = Σ_{windows w ∋ (r, t)} dy[w, c] / |w ∩ input|.
 *
 * TF.js 4.22's own AvgPoolGrad (cpu and wasm) divides by the full window size instead, so its gradient is wrong
 * wherever a 'same'-padded window overlaps the border. Where no window reaches into padding the backend's own kernel
 * (`original`) is exact and is used.
 */
export function avgPoolGradConfig(
  backendName: string,
  original: tf.KernelConfig | undefined,
): tf.KernelConfig {
  return {
    kernelName: 'AvgPoolGrad',
    backendName,
    setupFunc: original?.setupFunc,
    disposeFunc: original?.disposeFunc,
    kernelFunc: ({ inputs, backend, attrs }) => {
      const storage = backend as tf.KernelBackend;
      const input = inputs.input as tf.TensorInfo;
      const dy = inputs.dy as tf.TensorInfo;
      const info = poolInfo(input, attrs as unknown as PoolGradAttrs);
      if (original !== undefined && !windowsReachPadding(info))
        return original.kernelFunc({ inputs, backend, attrs });
      const g = storage.readSync(dy.dataId) as Float32Array;
      const dx = new Float32Array(input.shape.reduce((a, b) => a * b, 1));
      const { inHeight, inWidth } = info;
      const channels = info.inChannels;
      forEachWindow(info, (outBase, n, r0, r1, c0, c1) => {
        const count = (r1 - r0 + 1) * (c1 - c0 + 1);
        if (count <= 0) return;
        for (let r = r0; r <= r1; r++) {
          for (let t = c0; t <= c1; t++) {
            const base = ((n * inHeight + r) * inWidth + t) * channels;
            for (let c = 0; c < channels; c++) dx[base + c] += g[outBase + c] / count;
          }
        }
      });
      return { dataId: storage.write(dx, input.shape, 'float32'), shape: input.shape, dtype: 'float32' };
    },
  };
}

/** Whether some pooling window extends past the input's edge (then clipped windows are smaller than the filter). */
function windowsReachPadding(info: tf.backend_util.Conv2DInfo): boolean {
  const lastRow = (info.outHeight - 1) * info.strideHeight - info.padInfo.top + info.effectiveFilterHeight;
  const lastCol = (info.outWidth - 1) * info.strideWidth - info.padInfo.left + info.effectiveFilterWidth;
  return info.padInfo.top > 0 || info.padInfo.left > 0 || lastRow > info.inHeight || lastCol > info.inWidth;
}
