import * as tf from '@tensorflow/tfjs';

/**
 * The gradient of `tf.mirrorPad`. TF.js 4.22's own gradient (all backends) only slices out the centre of dy and
 * drops the gradient flowing through the mirrored border copies. Each padded border is a reversed copy of the input's
 * edge, so its gradient is reversed and added back, axis by axis:
 *
 *   ∂L/∂x = dy_centre + pad(reverse(dy_before), [o, n − o − b]) + pad(reverse(dy_after), [n − o − a, o]),
 *
 * with n the input length, b/a the border widths and o = 1 for 'reflect' (the edge itself is not repeated), 0 for
 * 'symmetric'.
 */
export const mirrorPadGradConfig: tf.GradConfig = {
  kernelName: 'MirrorPad',
  inputsToSave: ['x'],
  gradFunc: (dy, saved, attrs) => {
    const x = saved[0];
    const { paddings, mode } = attrs as unknown as {
      paddings: Array<[number, number]>;
      mode: 'reflect' | 'symmetric';
    };
    const offset = mode === 'reflect' ? 1 : 0;
    return {
      x: () =>
        tf.tidy(() => {
          let g = dy as tf.Tensor;
          paddings.forEach(([before, after], axis) => {
            if (before === 0 && after === 0) return;
            const n = x.shape[axis];
            const take = (start: number, length: number) => {
              const begin = g.shape.map((_, k) => (k === axis ? start : 0));
              const size = g.shape.map((d, k) => (k === axis ? length : d));
              return tf.slice(g, begin, size);
            };
            const around = (t: tf.Tensor, lo: number, hi: number) =>
              tf.pad(
                t,
                t.shape.map((_, k): [number, number] => (k === axis ? [lo, hi] : [0, 0])),
              );
            const parts = [take(before, n)];
            if (before > 0)
              parts.push(around(tf.reverse(take(0, before), axis), offset, n - offset - before));
            if (after > 0)
              parts.push(around(tf.reverse(take(before + n, after), axis), n - offset - after, offset));
            g = parts.length === 1 ? parts[0] : tf.addN(parts);
          });
          return g;
        }),
    };
  },
};
