import * as tf from '@tensorflow/tfjs';
import { afterAll, describe, expect, it } from 'vitest';
import { initBackend } from '../backend.js';
import { Random } from '../random.js';
import { maxRelativeError } from './test-utils.js';

interface Pool {
  readonly x: [number, number, number, number];
  readonly size: number;
  readonly stride: number;
  readonly pad: 'same' | 'valid';
}

const pools: Pool[] = [
  { x: [2, 8, 8, 4], size: 2, stride: 2, pad: 'valid' },
  { x: [3, 9, 7, 3], size: 3, stride: 2, pad: 'same' },
  { x: [2, 7, 7, 5], size: 2, stride: 2, pad: 'same' },
  { x: [1, 8, 8, 2], size: 3, stride: 1, pad: 'same' },
  { x: [2, 9, 9, 3], size: 3, stride: 2, pad: 'valid' },
  { x: [4, 24, 24, 20], size: 2, stride: 2, pad: 'valid' },
];

/** Float64 reference: every window sends dy to its first (row-major) maximum, or spreads dy / (#inputs inside it). */
function referencePoolGradient(
  kind: 'max' | 'avg',
  p: Pool,
  x: Float32Array,
  dy: Float32Array,
): Float64Array {
  const info = tf.backend_util.computePool2DInfo(p.x, p.size, p.stride, 1, p.pad);
  const [n, h, w, c] = p.x;
  const dx = new Float64Array(x.length);
  for (let b = 0; b < n; b++) {
    for (let i = 0; i < info.outHeight; i++) {
      for (let j = 0; j < info.outWidth; j++) {
        for (let k = 0; k < c; k++) {
          const g = dy[((b * info.outHeight + i) * info.outWidth + j) * c + k];
          const cells: number[] = [];
          for (let r = 0; r < p.size; r++) {
            for (let t = 0; t < p.size; t++) {
              const row = i * p.stride - info.padInfo.top + r;
              const col = j * p.stride - info.padInfo.left + t;
              if (row >= 0 && row < h && col >= 0 && col < w) cells.push(((b * h + row) * w + col) * c + k);
            }
          }
          if (kind === 'avg') {
            for (const cell of cells) dx[cell] += g / cells.length;
          } else {
            let best = cells[0];
            for (const cell of cells) if (x[cell] > x[best]) best = cell;
            dx[best] += g;
          }
        }
      }
    }
  }
  return dx;
}

function poolGradient(kind: 'max' | 'avg', p: Pool, xv: Float32Array, dyv: Float32Array): Float32Array {
  return tf.tidy(() => {
    const pool = (x: tf.Tensor) =>
      kind === 'max'
        ? tf.maxPool(x as tf.Tensor4D, p.size, p.stride, p.pad)
        : tf.avgPool(x as tf.Tensor4D, p.size, p.stride, p.pad);
    const x = tf.tensor(xv, p.x);
    const dy = tf.tensor(dyv, pool(x).shape);
    return tf
      .grad((a: tf.Tensor) => tf.sum(tf.mul(pool(a), dy)))(x)
      .dataSync() as Float32Array;
  });
}

describe.each(['wasm', 'cpu'] as const)('pooling gradients on %s', (backend) => {
  afterAll(async () => {
    await initBackend({ backend: 'wasm' });
  });

  it('max pooling: gradient goes to the first maximum of each window, ties included (ReLU zeros)', async () => {
    await initBackend({ backend });
    const random = new Random(61);
    for (const p of pools.slice(0, backend === 'cpu' ? 5 : 6)) {
      const size = p.x.reduce((a, b) => a * b, 1);
      // Half the inputs are exact zeros, as after a ReLU, so many windows have tied maxima.
      const xv = random.fillNormal(new Float32Array(size)).map((v) => Math.max(0, v));
      const info = tf.backend_util.computePool2DInfo(p.x, p.size, p.stride, 1, p.pad);
      const dyv = random.fillNormal(new Float32Array(info.outShape.reduce((a, b) => a * b, 1)));
      const got = poolGradient('max', p, xv, dyv);
      expect(maxRelativeError(got, referencePoolGradient('max', p, xv, dyv)), JSON.stringify(p)).toBeLessThan(
        1e-6,
      );
    }
  });

  it('average pooling: gradient agrees with the forward pass, which averages over inputs inside the window', async () => {
    await initBackend({ backend });
    const random = new Random(62);
    for (const p of pools.slice(0, 5)) {
      const size = p.x.reduce((a, b) => a * b, 1);
      const xv = random.fillNormal(new Float32Array(size));
      const info = tf.backend_util.computePool2DInfo(p.x, p.size, p.stride, 1, p.pad);
      const dyv = random.fillNormal(new Float32Array(info.outShape.reduce((a, b) => a * b, 1)));
      const got = poolGradient('avg', p, xv, dyv);
      expect(maxRelativeError(got, referencePoolGradient('avg', p, xv, dyv)), JSON.stringify(p)).toBeLessThan(
        1e-6,
      );
      // The forward pass of a constant is that constant (padding is not averaged in) ...
      const ones = tf.tidy(() => tf.avgPool(tf.ones(p.x) as tf.Tensor4D, p.size, p.stride, p.pad).dataSync());
      expect(Math.min(...ones)).toBeCloseTo(1, 6);
      // ... and, the pooling being linear, L(v) = ⟨∇L, v⟩ exactly, independently of the reference above.
      const [lhs, rhs] = tf.tidy(() => {
        const dy = tf.tensor(dyv, info.outShape);
        const v = tf.tensor(xv, p.x);
        const lossOfV = tf
          .sum(tf.mul(tf.avgPool(v as tf.Tensor4D, p.size, p.stride, p.pad), dy))
          .dataSync()[0];
        return [lossOfV, tf.sum(tf.mul(tf.tensor(got, p.x), v)).dataSync()[0]];
      });
      expect(Math.abs(lhs - rhs)).toBeLessThan(1e-4 * (1 + Math.abs(lhs)));
    }
  });
});
