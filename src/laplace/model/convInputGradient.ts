import * as tf from '@tensorflow/tfjs';

/** Convolution geometry (channels-last). */
export interface ConvGeometry {
  readonly strides: [number, number];
  readonly dilations: [number, number];
  readonly padding: 'same' | 'valid';
}

/** Leading padding, padded size and output size of one spatial axis, as TF.js computes them. */
export function convAxis(
  size: number,
  k: number,
  stride: number,
  dilation: number,
  padding: 'same' | 'valid',
) {
  const effective = (k - 1) * dilation + 1;
  if (padding === 'valid') {
    const out = Math.ceil((size - effective + 1) / stride);
    return { before: 0, padded: size, out, effective };
  }
  const out = Math.ceil(size / stride);
  const total = Math.max((out - 1) * stride + effective - size, 0);
  const before = Math.floor(total / 2);
  return { before, padded: size + total, out, effective };
}

/**
 * The gradient of a convolution w.r.t. its input, as a forward convolution: dx is the full correlation of the
 * stride-dilated output gradient with the spatially flipped, channel-transposed kernel, cropped to the input.
 * The wasm backend's own Conv2DBackpropInput is ~20× slower than its Conv2D on LeNet-5 sizes, and the tiled backward
 * passes of the Laplace module run it once per output class.
 */
export function convInputGradient(
  dy: tf.Tensor4D,
  kernel: tf.Tensor4D,
  inputShape: number[],
  g: ConvGeometry,
): tf.Tensor4D {
  return tf.tidy(() => {
    const [n, h, w] = inputShape;
    const [kh, kw] = kernel.shape;
    const ah = convAxis(h, kh, g.strides[0], g.dilations[0], g.padding);
    const aw = convAxis(w, kw, g.strides[1], g.dilations[1], g.padding);
    let d: tf.Tensor4D = dy;
    const [, oh, ow, c] = dy.shape;
    if (g.strides[0] > 1 || g.strides[1] > 1) {
      const [sh, sw] = g.strides;
      const spread = tf.pad(dy.reshape([n, oh, 1, ow, 1, c]), [
        [0, 0],
        [0, 0],
        [0, sh - 1],
        [0, 0],
        [0, sw - 1],
        [0, 0],
      ]);
      d = tf.slice(
        spread.reshape([n, oh * sh, ow * sw, c]) as tf.Tensor4D,
        [0, 0, 0, 0],
        [n, (oh - 1) * sh + 1, (ow - 1) * sw + 1, c],
      );
    }
    const coveredH = (oh - 1) * g.strides[0] + ah.effective;
    const coveredW = (ow - 1) * g.strides[1] + aw.effective;
    const padded = tf.pad(d, [
      [0, 0],
      [ah.effective - 1, ah.effective - 1 + (ah.padded - coveredH)],
      [aw.effective - 1, aw.effective - 1 + (aw.padded - coveredW)],
      [0, 0],
    ]);
    const flipped = tf.transpose(tf.reverse(kernel, [0, 1]), [0, 1, 3, 2]) as tf.Tensor4D;
    const full = tf.conv2d(padded as tf.Tensor4D, flipped, 1, 'valid', 'NHWC', g.dilations);
    return full.slice([0, ah.before, aw.before, 0], [n, h, w, -1]) as tf.Tensor4D;
  });
}

/**
 * conv2d(x, kernel) differentiable w.r.t. x only, with the input gradient computed by {@link convInputGradient}. The
 * kernel is treated as a constant: use it where only gradients w.r.t. activations are needed.
 */
export function conv2dInputDifferentiable(x: tf.Tensor4D, kernel: tf.Tensor4D, g: ConvGeometry): tf.Tensor4D {
  const f = tf.customGrad<tf.Tensor4D>((...args) => {
    const input = args[0] as tf.Tensor4D;
    const value = tf.conv2d(input, kernel, g.strides, g.padding, 'NHWC', g.dilations);
    return { value, gradFunc: (dy: tf.Tensor4D) => convInputGradient(dy, kernel, input.shape, g) };
  });
  return f(x) as tf.Tensor4D;
}
