import * as tf from '@tensorflow/tfjs';

/**
 * a·b for 2-D tensors whose gradient uses explicit transposes and plain products: the built-in MatMul gradient asks
 * for `transposeA`/`transposeB` products, which the wasm backend runs about ten times slower than `tf.transpose`
 * followed by a plain product (RUNTIME-NOTES). Values and gradients equal `tf.matMul`'s.
 */
export const matMulPlainGrad: (a: tf.Tensor2D, b: tf.Tensor2D) => tf.Tensor2D = tf.customGrad(
  (...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const a = args[0] as tf.Tensor2D;
    const b = args[1] as tf.Tensor2D;
    const save = args[2] as tf.GradSaveFunc;
    save([a, b]);
    return {
      value: tf.matMul(a, b),
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [sa, sb] = saved as [tf.Tensor2D, tf.Tensor2D];
        return [
          tf.matMul(dy as tf.Tensor2D, tf.transpose(sb)),
          tf.matMul(tf.transpose(sa), dy as tf.Tensor2D),
        ];
      },
    };
  },
) as (a: tf.Tensor2D, b: tf.Tensor2D) => tf.Tensor2D;
