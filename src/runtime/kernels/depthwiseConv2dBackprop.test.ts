import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../backend.js';
import { Random } from '../random.js';
import {
  type ConvGeometry,
  maxRelativeError,
  referenceDepthwiseFilterGradient,
  referenceDepthwiseInputGradient,
} from './test-utils.js';

interface Case {
  readonly x: [number, number, number, number];
  readonly filter: [number, number, number, number];
  readonly strides: number;
  readonly dilations: number;
  readonly pad: 'same' | 'valid';
}

function geometry(c: Case): { g: ConvGeometry; outShape: number[] } {
  const info = tf.backend_util.computeConv2DInfo(
    c.x,
    c.filter,
    c.strides,
    c.dilations,
    c.pad,
    undefined,
    true,
  );
  const g: ConvGeometry = {
    batch: c.x[0],
    inHeight: c.x[1],
    inWidth: c.x[2],
    inChannels: c.x[3],
    filterHeight: c.filter[0],
    filterWidth: c.filter[1],
    outHeight: info.outHeight,
    outWidth: info.outWidth,
    strideHeight: info.strideHeight,
    strideWidth: info.strideWidth,
    dilationHeight: info.dilationHeight,
    dilationWidth: info.dilationWidth,
    padTop: info.padInfo.top,
    padLeft: info.padInfo.left,
  };
  return { g, outShape: info.outShape };
}

const size = (shape: readonly number[]) => shape.reduce((a, b) => a * b, 1);

const grid: Case[] = [];
for (const strides of [1, 2, 3]) {
  for (const pad of ['same', 'valid'] as const) {
    for (const m of [1, 2]) {
      grid.push({ x: [2, 9, 8, 3], filter: [3, 2, 3, m], strides, dilations: 1, pad });
    }
  }
}
for (const pad of ['same', 'valid'] as const) {
  grid.push({ x: [2, 11, 10, 2], filter: [3, 3, 2, 2], strides: 1, dilations: 2, pad });
}

function run(kernel: string, inputs: tf.NamedTensorMap, attrs: object): Float32Array {
  const out = tf.engine().runKernel(kernel, inputs, attrs as tf.NamedAttrMap) as tf.Tensor;
  const values = out.dataSync() as Float32Array;
  out.dispose();
  return values;
}

describe('depthwise convolution gradients composed from wasm kernels', () => {
  beforeAll(async () => {
    await initBackend();
  });

  it('filter gradient matches the float64 defining sum', () => {
    const random = new Random(21);
    for (const c of grid) {
      const { g, outShape } = geometry(c);
      const xv = random.fillNormal(new Float32Array(size(c.x)));
      const dyv = random.fillNormal(new Float32Array(size(outShape)));
      const got = tf.tidy(() =>
        run(
          'DepthwiseConv2dNativeBackpropFilter',
          { x: tf.tensor(xv, c.x), dy: tf.tensor(dyv, outShape) },
          { strides: c.strides, dilations: c.dilations, pad: c.pad, filterShape: c.filter },
        ),
      );
      const want = referenceDepthwiseFilterGradient(g, c.filter[3], xv, dyv);
      expect(maxRelativeError(got, want), JSON.stringify(c)).toBeLessThan(1e-5);
    }
  });

  it('input gradient matches the float64 defining sum', () => {
    const random = new Random(22);
    for (const c of grid) {
      const { g, outShape } = geometry(c);
      const wv = random.fillNormal(new Float32Array(size(c.filter)));
      const dyv = random.fillNormal(new Float32Array(size(outShape)));
      const got = tf.tidy(() =>
        run(
          'DepthwiseConv2dNativeBackpropInput',
          { dy: tf.tensor(dyv, outShape), filter: tf.tensor(wv, c.filter) },
          { strides: c.strides, dilations: c.dilations, pad: c.pad, inputShape: c.x },
        ),
      );
      const want = referenceDepthwiseInputGradient(g, c.filter[3], wv, dyv);
      expect(maxRelativeError(got, want), JSON.stringify(c)).toBeLessThan(1e-5);
    }
  });

  it('lets tf.grad differentiate a separable convolution through both inputs', () => {
    const random = new Random(23);
    const xv = random.fillNormal(new Float32Array(2 * 8 * 8 * 3));
    const dw = random.fillNormal(new Float32Array(3 * 3 * 3 * 2));
    const pw = random.fillNormal(new Float32Array(6 * 4));
    const loss = (x: tf.Tensor, d: tf.Tensor) =>
      tf.sum(
        tf.square(
          tf.separableConv2d(x as tf.Tensor4D, d as tf.Tensor4D, tf.tensor4d(pw, [1, 1, 6, 4]), 2, 'same'),
        ),
      );
    const [gx, gd] = tf.tidy(() =>
      tf
        .grads(loss)([tf.tensor(xv, [2, 8, 8, 3]), tf.tensor(dw, [3, 3, 3, 2])])
        .map((t) => t.dataSync()),
    );
    // Directional derivative check: (L(θ + εv) − L(θ − εv)) / 2ε ≈ ⟨∇L, v⟩ along a random direction v.
    const vx = random.fillNormal(new Float32Array(xv.length));
    const vd = random.fillNormal(new Float32Array(dw.length));
    const eps = 1e-2;
    const at = (s: number) =>
      tf.tidy(
        () =>
          loss(
            tf.tensor(
              xv.map((v, i) => v + s * vx[i]),
              [2, 8, 8, 3],
            ),
            tf.tensor(
              dw.map((v, i) => v + s * vd[i]),
              [3, 3, 3, 2],
            ),
          ).dataSync()[0],
      );
    const numeric = (at(eps) - at(-eps)) / (2 * eps);
    let analytic = 0;
    gx.forEach((g, i) => (analytic += g * vx[i]));
    gd.forEach((g, i) => (analytic += g * vd[i]));
    // The loss is a quartic polynomial in (x, W): the central difference error is ε²·|L'''|/6, ~1e-4 relative here.
    expect(Math.abs(numeric - analytic) / Math.abs(analytic)).toBeLessThan(2e-3);
  });
});
