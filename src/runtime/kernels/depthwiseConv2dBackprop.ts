import * as tf from '@tensorflow/tfjs';
import { cropOrPadNhwc, spreadByStrides } from './convWindow.js';
import { type KernelScope, withKernelScope } from './kernelScope.js';

type Pad = 'valid' | 'same' | number | tf.backend_util.ExplicitPadding;

/** Attributes shared by both depthwise backprop kernels. */
interface DepthwiseAttrs {
  strides: [number, number] | number;
  dilations: [number, number] | number;
  pad: Pad;
  dimRoundingMode?: 'floor' | 'round' | 'ceil';
}

/**
 * The gradient of a depthwise convolution (filter [fh, fw, C, M], output channel c·M + m) with respect to its filter,
 * composed from the backend's own kernels. With x̃ the zero-padded input,
 *
 *   ∂L/∂W[i, j, c, m] = Σ_{n, p, q} x̃[n, p·s_h + i·d_h, q·s_w + j·d_w, c] · dy[n, p, q, c·M + m].
 *
 * The fh·fw shifted (and strided) views of x̃ are stacked into P [fh·fw, L, C] with L = N·OH·OW; then, with the
 * channel c as the batch, ∂L/∂W[·, c, ·] = P[·, ·, c] · dy[·, c, ·], one batched MatMul of [C, fh·fw, L] by [C, L, M].
 */
export function depthwiseConv2dBackpropFilterConfig(backendName: string): tf.KernelConfig {
  return {
    kernelName: 'DepthwiseConv2dNativeBackpropFilter',
    backendName,
    kernelFunc: ({ inputs, backend, attrs }) =>
      withKernelScope(backend as tf.KernelBackend, backendName, (scope) =>
        depthwiseFilterGradient(
          scope,
          inputs.x as tf.TensorInfo,
          inputs.dy as tf.TensorInfo,
          attrs as unknown as DepthwiseAttrs & { filterShape: [number, number, number, number] },
        ),
      ),
  };
}

/**
 * The gradient of a depthwise convolution with respect to its input, composed from the backend's own kernels:
 *
 *   ∂L/∂x[n, h, w, c] = Σ_{i, j, m} dy↑[n, h + padTop − i·d_h, w + padLeft − j·d_w, c·M + m] · W[i, j, c, m],
 *
 * where dy↑ is dy with s − 1 zeros inserted between neighbours (its value at p·s is dy[p]). Flipping the filter turns
 * this into a stride-1 depthwise convolution of the padded dy↑ with dilation d over C·M channels, followed by a sum
 * over the M channels of each input channel.
 */
export function depthwiseConv2dBackpropInputConfig(backendName: string): tf.KernelConfig {
  return {
    kernelName: 'DepthwiseConv2dNativeBackpropInput',
    backendName,
    kernelFunc: ({ inputs, backend, attrs }) =>
      withKernelScope(backend as tf.KernelBackend, backendName, (scope) =>
        depthwiseInputGradient(
          scope,
          inputs.dy as tf.TensorInfo,
          inputs.filter as tf.TensorInfo,
          attrs as unknown as DepthwiseAttrs & { inputShape: [number, number, number, number] },
        ),
      ),
  };
}

function convInfo(
  xShape: [number, number, number, number],
  filterShape: [number, number, number, number],
  attrs: DepthwiseAttrs,
  dy: tf.TensorInfo,
  kernelName: string,
): tf.backend_util.Conv2DInfo {
  const info = tf.backend_util.computeConv2DInfo(
    xShape,
    filterShape,
    attrs.strides,
    attrs.dilations ?? 1,
    attrs.pad,
    attrs.dimRoundingMode,
    true,
  );
  if (dy.shape.join(',') !== info.outShape.join(',')) {
    throw new Error(
      `${kernelName}: dy has shape [${dy.shape}] but the convolution's output is [${info.outShape}]`,
    );
  }
  return info;
}

function depthwiseFilterGradient(
  scope: KernelScope,
  x: tf.TensorInfo,
  dy: tf.TensorInfo,
  attrs: DepthwiseAttrs & { filterShape: [number, number, number, number] },
): tf.TensorInfo {
  const [fh, fw, c, m] = attrs.filterShape;
  const xShape = x.shape as [number, number, number, number];
  const info = convInfo(xShape, attrs.filterShape, attrs, dy, 'DepthwiseConv2dNativeBackpropFilter');
  const { outHeight: oh, outWidth: ow, strideHeight: sh, strideWidth: sw } = info;
  const { dilationHeight: dh, dilationWidth: dw } = info;
  const n = xShape[0];
  const rows = { start: -info.padInfo.top, length: (oh - 1) * sh + (fh - 1) * dh + 1 };
  const cols = { start: -info.padInfo.left, length: (ow - 1) * sw + (fw - 1) * dw + 1 };
  const window = cropOrPadNhwc(scope, x, rows, cols);
  const length = n * oh * ow;
  const taps: tf.TensorInfo[] = [];
  for (let i = 0; i < fh; i++) {
    for (let j = 0; j < fw; j++) {
      const begin = [0, i * dh, j * dw, 0];
      const tap =
        sh === 1 && sw === 1
          ? scope.slice(window, begin, [n, oh, ow, c])
          : scope.run(
              'StridedSlice',
              { x: window },
              {
                begin,
                end: [n, i * dh + (oh - 1) * sh + 1, j * dw + (ow - 1) * sw + 1, c],
                strides: [1, sh, sw, 1],
                beginMask: 0,
                endMask: 0,
                ellipsisMask: 0,
                newAxisMask: 0,
                shrinkAxisMask: 0,
              },
            );
      taps.push(scope.reshape(tap, [1, length, c]));
    }
  }
  const stacked =
    taps.length === 1
      ? taps[0]
      : scope.run('Concat', taps as unknown as Record<string, tf.TensorInfo>, { axis: 0 });
  const patches = scope.transpose(stacked, [2, 0, 1]);
  const grads = scope.transpose(scope.reshape(dy, [length, c, m]), [1, 0, 2]);
  const perChannel = scope.run(
    'BatchMatMul',
    { a: patches, b: grads },
    { transposeA: false, transposeB: false },
  );
  return scope.reshape(scope.transpose(perChannel, [1, 0, 2]), [fh, fw, c, m]);
}

function depthwiseInputGradient(
  scope: KernelScope,
  dy: tf.TensorInfo,
  filter: tf.TensorInfo,
  attrs: DepthwiseAttrs & { inputShape: [number, number, number, number] },
): tf.TensorInfo {
  const [n, h, w, c] = attrs.inputShape;
  const [fh, fw, , m] = filter.shape;
  const filterShape = filter.shape as [number, number, number, number];
  const info = convInfo(attrs.inputShape, filterShape, attrs, dy, 'DepthwiseConv2dNativeBackpropInput');
  const { strideHeight: sh, strideWidth: sw, dilationHeight: dh, dilationWidth: dw } = info;
  const spread = spreadByStrides(scope, dy, [sh, sw]);
  const window = cropOrPadNhwc(
    scope,
    spread,
    { start: info.padInfo.top - (fh - 1) * dh, length: h + (fh - 1) * dh },
    { start: info.padInfo.left - (fw - 1) * dw, length: w + (fw - 1) * dw },
  );
  const flipped = scope.reshape(scope.run('Reverse', { x: filter }, { dims: [0, 1] }), [fh, fw, c * m, 1]);
  const perOutputChannel = scope.run(
    'DepthwiseConv2dNative',
    { x: window, filter: flipped },
    { strides: [1, 1], pad: 'valid', dilations: [dh, dw], dimRoundingMode: undefined, dataFormat: 'NHWC' },
  );
  if (m === 1) return perOutputChannel;
  return scope.run(
    'Sum',
    { x: scope.reshape(perOutputChannel, [n, h, w, c, m]) },
    { axis: [4], keepDims: false },
  );
}
