import * as tf from '@tensorflow/tfjs';
import { cropOrPadSpatial, spreadByStrides } from './convWindow.js';
import { withKernelScope } from './kernelScope.js';

/** Attributes of `Conv3DBackpropInputV2`. */
interface Conv3DBackpropInputAttrs {
  strides: [number, number, number] | number;
  pad: 'valid' | 'same';
  inputShape: [number, number, number, number, number];
}

/**
 * The gradient of a 3-D convolution with respect to its input, composed from the backend's `Conv3D`:
 *
 *   ∂L/∂x[n, z, h, w, c] = Σ_{k, i, j, o} dy↑[n, z + padFront − k, h + padTop − i, w + padLeft − j, o] · W[k, i, j, c, o],
 *
 * with dy↑ the output gradient spread by the strides (zeros between neighbours); flipping the filter and swapping its
 * channel axes makes this a stride-1 'valid' convolution. Replaces the wasm backend's kernel, which in TF.js 4.22
 * returns wrong values whenever the filter has more than one input channel.
 */
export function conv3dBackpropInputConfig(backendName: string): tf.KernelConfig {
  return {
    kernelName: 'Conv3DBackpropInputV2',
    backendName,
    kernelFunc: ({ inputs, backend, attrs }) =>
      withKernelScope(backend as tf.KernelBackend, backendName, (scope) => {
        const dy = inputs.dy as tf.TensorInfo;
        const filter = inputs.filter as tf.TensorInfo;
        const { strides, pad, inputShape } = attrs as unknown as Conv3DBackpropInputAttrs;
        const filterShape = filter.shape as [number, number, number, number, number];
        const info = tf.backend_util.computeConv3DInfo(inputShape, filterShape, strides, 1, pad);
        if (dy.shape.join(',') !== info.outShape.join(',')) {
          throw new Error(
            `Conv3DBackpropInputV2: dy has shape [${dy.shape}], the convolution's output is [${info.outShape}]`,
          );
        }
        const [fd, fh, fw] = filterShape;
        const spread = spreadByStrides(scope, dy, [info.strideDepth, info.strideHeight, info.strideWidth]);
        const window = cropOrPadSpatial(scope, spread, [
          { start: info.padInfo.front - (fd - 1), length: info.inDepth + fd - 1 },
          { start: info.padInfo.top - (fh - 1), length: info.inHeight + fh - 1 },
          { start: info.padInfo.left - (fw - 1), length: info.inWidth + fw - 1 },
        ]);
        const flipped = scope.transpose(
          scope.run('Reverse', { x: filter }, { dims: [0, 1, 2] }),
          [0, 1, 2, 4, 3],
        );
        return scope.run(
          'Conv3D',
          { x: window, filter: flipped },
          { strides: [1, 1, 1], pad: 'valid', dilations: [1, 1, 1], dataFormat: 'NDHWC' },
        );
      }),
  };
}
