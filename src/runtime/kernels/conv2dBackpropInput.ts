import * as tf from '@tensorflow/tfjs';
import { cropOrPadNhwc, spreadByStrides } from './convWindow.js';
import { inputGradientByMatMul } from './convByMatMul.js';
import { type KernelScope, withKernelScope } from './kernelScope.js';
import { WasmHeap } from './wasmHeap.js';

type Pad = 'valid' | 'same' | number | tf.backend_util.ExplicitPadding;

/** Attributes of `Conv2DBackpropInput`. */
interface Conv2DBackpropInputAttrs {
  strides: [number, number] | number;
  pad: Pad;
  dataFormat?: 'NHWC' | 'NCHW';
  dimRoundingMode?: 'floor' | 'round' | 'ceil';
  inputShape: [number, number, number, number];
  dilations?: [number, number] | number;
}

/**
 * The gradient of a 2-D convolution with respect to its input (also the forward pass of a transposed convolution).
 * The wasm backend's own kernel is a scalar loop (~0.7 s per call for LeNet-5's second layer at batch 100).
 *
 * On the wasm backend: col2im(dy · Wᵀ), one MatMul and a SIMD scatter-add ({@link inputGradientByMatMul}; ~15 ms for
 * that layer). Elsewhere, composed from the backend's `Conv2D`:
 *
 *   ∂L/∂x[n, h, w, c] = Σ_{i, j, o} dy↑[n, h + padTop − i·d_h, w + padLeft − j·d_w, o] · W[i, j, c, o],
 *
 * where dy↑ is dy with s − 1 zeros inserted between neighbours (its value at p·s is dy[p]). With the filter flipped
 * in space and its channel axes swapped, this is a stride-1 'valid' convolution (dilation d) of the suitably padded
 * dy↑ — which also multiplies every inserted and padded zero (2.25× the work for LeNet-5's second layer).
 */
export function conv2dBackpropInputConfig(backendName: string): tf.KernelConfig {
  return {
    kernelName: 'Conv2DBackpropInput',
    backendName,
    kernelFunc: ({ inputs, backend, attrs }) =>
      withKernelScope(backend as tf.KernelBackend, backendName, (scope) =>
        conv2dBackpropInput(
          scope,
          inputs.dy as tf.TensorInfo,
          inputs.filter as tf.TensorInfo,
          attrs as unknown as Conv2DBackpropInputAttrs,
        ),
      ),
  };
}

function conv2dBackpropInput(
  scope: KernelScope,
  dy: tf.TensorInfo,
  filter: tf.TensorInfo,
  attrs: Conv2DBackpropInputAttrs,
): tf.TensorInfo {
  const channelsFirst = attrs.dataFormat === 'NCHW';
  const filterShape = filter.shape as [number, number, number, number];
  const info = tf.backend_util.computeConv2DInfo(
    attrs.inputShape,
    filterShape,
    attrs.strides,
    attrs.dilations ?? 1,
    attrs.pad,
    attrs.dimRoundingMode,
    false,
    channelsFirst ? 'channelsFirst' : 'channelsLast',
  );
  if (dy.shape.join(',') !== info.outShape.join(',')) {
    throw new Error(
      `Conv2DBackpropInput: dy has shape [${dy.shape}] but the convolution's output is [${info.outShape}]`,
    );
  }
  const dyNhwc = channelsFirst ? scope.transpose(dy, [0, 2, 3, 1]) : dy;
  const heap = WasmHeap.of(scope.backend);
  if (heap !== undefined) {
    const dx = inputGradientByMatMul(scope, heap, dyNhwc, filter, info);
    return channelsFirst ? scope.transpose(dx, [0, 3, 1, 2]) : dx;
  }
  const [fh, fw] = filterShape;
  const { strideHeight: sh, strideWidth: sw } = info;
  const { dilationHeight: dh, dilationWidth: dw, inHeight: h, inWidth: w } = info;
  const spread = spreadByStrides(scope, dyNhwc, [sh, sw]);
  const window = cropOrPadNhwc(
    scope,
    spread,
    { start: info.padInfo.top - (fh - 1) * dh, length: h + (fh - 1) * dh },
    { start: info.padInfo.left - (fw - 1) * dw, length: w + (fw - 1) * dw },
  );
  const flipped = scope.transpose(scope.run('Reverse', { x: filter }, { dims: [0, 1] }), [0, 1, 3, 2]);
  const dx = scope.run(
    'Conv2D',
    { x: window, filter: flipped },
    { strides: [1, 1], pad: 'valid', dataFormat: 'NHWC', dilations: [dh, dw], dimRoundingMode: undefined },
  );
  return channelsFirst ? scope.transpose(dx, [0, 3, 1, 2]) : dx;
}
