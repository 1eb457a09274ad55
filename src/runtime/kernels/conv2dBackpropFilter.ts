import * as tf from '@tensorflow/tfjs';
import { cropOrPadNhwc } from './convWindow.js';
import { filterGradientByMatMul } from './convByMatMul.js';
import { withKernelScope } from './kernelScope.js';
import { WasmHeap } from './wasmHeap.js';

type Pad = 'valid' | 'same' | number | tf.backend_util.ExplicitPadding;

/** Attributes of `Conv2DBackpropFilter`, plus the dilations that TF.js's own gradient never passes (it refuses > 1). */
interface Conv2DBackpropFilterAttrs {
  strides: [number, number] | number;
  pad: Pad;
  dataFormat?: 'NHWC' | 'NCHW';
  dimRoundingMode?: 'floor' | 'round' | 'ceil';
  filterShape: [number, number, number, number];
  dilations?: [number, number] | number;
}

/**
 * The gradient of a 2-D convolution with respect to its filter. With x̃ the zero-padded input, stride s and
 * dilation d,
 *
 *   ∂L/∂W[i, j, c, o] = Σ_{n, p, q} x̃[n, p·s_h + i·d_h, q·s_w + j·d_w, c] · dy[n, p, q, o].
 *
 * On the wasm backend: the transposed patch matrix of x times dy, one MatMul ({@link filterGradientByMatMul}), or for
 * short patches (≤ 32 taps × channels) SIMD dot products — LeNet-5's filter gradients took 18 and 27 ms composed as
 * below, ~5 and ~20 ms this way.
 *
 * Elsewhere (the cpu backend, whose own kernel is a scalar loop taking seconds at LeNet-5 sizes) it is composed from
 * the backend's convolution: read with the input channel c as the batch, the example n as the channel and (p, q) as
 * the filter taps, the right side is itself a 'valid' convolution of x̃ transposed to [C, H̃, W̃, N] with dy
 * transposed to [OH, OW, N, O], with stride d and dilation s, giving [C, fh, fw, O]: pad/crop → 2 transposes →
 * Conv2D → transpose.
 */
export function conv2dBackpropFilterConfig(backendName: string): tf.KernelConfig {
  return {
    kernelName: 'Conv2DBackpropFilter',
    backendName,
    kernelFunc: ({ inputs, backend, attrs }) =>
      conv2dBackpropFilter(
        inputs.x as tf.TensorInfo,
        inputs.dy as tf.TensorInfo,
        attrs as unknown as Conv2DBackpropFilterAttrs,
        backend as tf.KernelBackend,
        backendName,
      ),
  };
}

function conv2dBackpropFilter(
  x: tf.TensorInfo,
  dy: tf.TensorInfo,
  attrs: Conv2DBackpropFilterAttrs,
  backend: tf.KernelBackend,
  backendName: string,
): tf.TensorInfo {
  const channelsFirst = attrs.dataFormat === 'NCHW';
  const info = tf.backend_util.computeConv2DInfo(
    x.shape as [number, number, number, number],
    attrs.filterShape,
    attrs.strides,
    attrs.dilations ?? 1,
    attrs.pad,
    attrs.dimRoundingMode,
    false,
    channelsFirst ? 'channelsFirst' : 'channelsLast',
  );
  const expected = info.outShape.join(',');
  if (dy.shape.join(',') !== expected) {
    throw new Error(
      `Conv2DBackpropFilter: dy has shape [${dy.shape}] but the convolution's output is [${expected}]`,
    );
  }
  return withKernelScope(backend, backendName, (scope) => {
    const xNhwc = channelsFirst ? scope.transpose(x, [0, 2, 3, 1]) : x;
    const dyNhwc = channelsFirst ? scope.transpose(dy, [0, 2, 3, 1]) : dy;
    const heap = WasmHeap.of(backend);
    if (heap !== undefined) return filterGradientByMatMul(scope, heap, xNhwc, dyNhwc, info);
    const { strideHeight: sh, strideWidth: sw, dilationHeight: dh, dilationWidth: dw } = info;
    const window = cropOrPadNhwc(
      scope,
      xNhwc,
      { start: -info.padInfo.top, length: (info.outHeight - 1) * sh + (info.filterHeight - 1) * dh + 1 },
      { start: -info.padInfo.left, length: (info.outWidth - 1) * sw + (info.filterWidth - 1) * dw + 1 },
    );
    const examplesAsChannels = scope.transpose(window, [3, 1, 2, 0]);
    const gradientAsFilter = scope.transpose(dyNhwc, [1, 2, 0, 3]);
    const perInputChannel = scope.run(
      'Conv2D',
      { x: examplesAsChannels, filter: gradientAsFilter },
      {
        strides: [dh, dw],
        pad: 'valid',
        dataFormat: 'NHWC',
        dilations: [sh, sw],
        dimRoundingMode: undefined,
      },
    );
    return scope.transpose(perInputChannel, [1, 2, 0, 3]);
  });
}
