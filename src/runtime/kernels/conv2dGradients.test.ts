import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../backend.js';
import { Random } from '../random.js';
import { replacedKernel } from './register.js';
import {
  type ConvGeometry,
  maxRelativeError,
  referenceConv2d,
  referenceConv2dFilterGradient,
  referenceConv2dInputGradient,
} from './test-utils.js';

type Pad = 'same' | 'valid' | tf.backend_util.ExplicitPadding;

interface Case {
  readonly x: [number, number, number, number];
  readonly filter: [number, number, number, number];
  readonly strides: number | [number, number];
  readonly dilations: number | [number, number];
  readonly pad: Pad;
}

function geometry(c: Case): { g: ConvGeometry; outShape: number[] } {
  const info = tf.backend_util.computeConv2DInfo(c.x, c.filter, c.strides, c.dilations, c.pad);
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

function normals(random: Random, n: number): Float32Array {
  return random.fillNormal(new Float32Array(n));
}

function size(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

/** Runs the registered Conv2DBackpropFilter kernel of the active backend through the engine. */
function filterGradient(
  x: tf.Tensor,
  dy: tf.Tensor,
  c: Case,
  dataFormat: 'NHWC' | 'NCHW' = 'NHWC',
): Float32Array {
  const attrs = { strides: c.strides, pad: c.pad, dataFormat, filterShape: c.filter, dilations: c.dilations };
  const out = tf
    .engine()
    .runKernel('Conv2DBackpropFilter', { x, dy }, attrs as unknown as tf.NamedAttrMap) as tf.Tensor;
  expect(out.shape).toEqual(c.filter);
  const values = out.dataSync() as Float32Array;
  out.dispose();
  return values;
}

const grid: Case[] = [];
for (const strides of [1, 2, 3, [2, 1] as [number, number]]) {
  for (const pad of ['same', 'valid'] as const) {
    grid.push({ x: [3, 9, 10, 2], filter: [3, 2, 2, 4], strides, dilations: 1, pad });
    grid.push({ x: [2, 8, 7, 3], filter: [5, 5, 3, 2], strides, dilations: 1, pad });
    grid.push({ x: [1, 6, 6, 1], filter: [1, 1, 1, 3], strides, dilations: 1, pad });
  }
}
for (const dilations of [2, [1, 3] as [number, number]]) {
  for (const pad of ['same', 'valid'] as const) {
    grid.push({ x: [2, 11, 12, 2], filter: [3, 3, 2, 3], strides: 1, dilations, pad });
  }
}
grid.push({
  x: [2, 7, 8, 2],
  filter: [3, 3, 2, 2],
  strides: 2,
  dilations: 1,
  pad: [
    [0, 0],
    [2, 0],
    [1, 3],
    [0, 0],
  ],
});

describe('convolution gradients composed from Conv2D', () => {
  beforeAll(async () => {
    await initBackend();
  });
  afterAll(async () => {
    await initBackend({ backend: 'wasm' });
  });

  it('matches the float64 defining sum over a grid of shapes, strides, paddings and dilations (wasm)', async () => {
    await initBackend({ backend: 'wasm' });
    const random = new Random(11);
    let worst = 0;
    for (const c of grid) {
      const { g, outShape } = geometry(c);
      const xv = normals(random, size(c.x));
      const dyv = normals(random, size(outShape));
      const x = tf.tensor(xv, c.x);
      const dy = tf.tensor(dyv, outShape);
      const got = filterGradient(x, dy, c);
      const want = referenceConv2dFilterGradient(g, c.filter[3], xv, dyv);
      const err = maxRelativeError(got, want);
      worst = Math.max(worst, err);
      expect(err, JSON.stringify(c)).toBeLessThan(1e-5);
      x.dispose();
      dy.dispose();
    }
    expect(worst).toBeGreaterThan(0); // float32 arithmetic: exactly 0 would mean the reference was not independent
  });

  it('Conv2DBackpropInput (replaced on wasm) matches the float64 defining sum over the same grid', async () => {
    await initBackend({ backend: 'wasm' });
    const random = new Random(15);
    for (const c of grid) {
      const { g, outShape } = geometry(c);
      const wv = normals(random, size(c.filter));
      const dyv = normals(random, size(outShape));
      const got = tf.tidy(() => {
        const attrs = {
          strides: c.strides,
          pad: c.pad,
          dataFormat: 'NHWC',
          inputShape: c.x,
          dilations: c.dilations,
        };
        const inputs = { dy: tf.tensor(dyv, outShape), filter: tf.tensor(wv, c.filter) };
        const out = tf
          .engine()
          .runKernel('Conv2DBackpropInput', inputs, attrs as unknown as tf.NamedAttrMap) as tf.Tensor;
        expect(out.shape).toEqual(c.x);
        return out.dataSync();
      });
      const want = referenceConv2dInputGradient(g, c.filter[3], wv, dyv);
      expect(maxRelativeError(got, want), JSON.stringify(c)).toBeLessThan(1e-5);
    }
  });

  it('cuts large batches into chunks of examples and still matches the defining sums (wasm)', async () => {
    await initBackend({ backend: 'wasm' });
    // 60·60·(5·5·16) = 1.44 M patch floats per example: 5 examples per chunk, so 7 examples make two chunks
    const c: Case = { x: [7, 64, 64, 16], filter: [5, 5, 16, 3], strides: 1, dilations: 1, pad: 'valid' };
    const { g, outShape } = geometry(c);
    const random = new Random(16);
    const xv = normals(random, size(c.x));
    const dyv = normals(random, size(outShape));
    const wv = normals(random, size(c.filter));
    const x = tf.tensor(xv, c.x);
    const dy = tf.tensor(dyv, outShape);
    expect(
      maxRelativeError(filterGradient(x, dy, c), referenceConv2dFilterGradient(g, 3, xv, dyv)),
    ).toBeLessThan(1e-5);
    const dx = tf.tidy(() => {
      const attrs = { strides: 1, pad: 'valid', dataFormat: 'NHWC', inputShape: c.x, dilations: 1 };
      const inputs = { dy, filter: tf.tensor(wv, c.filter) };
      const out = tf.engine().runKernel('Conv2DBackpropInput', inputs, attrs as unknown as tf.NamedAttrMap);
      return (out as tf.Tensor).dataSync();
    });
    expect(maxRelativeError(dx, referenceConv2dInputGradient(g, 3, wv, dyv))).toBeLessThan(1e-5);
    tf.dispose([x, dy]);
  });

  it('accepts NCHW tensors (filter and input gradients)', async () => {
    await initBackend({ backend: 'wasm' });
    const random = new Random(12);
    const c: Case = { x: [2, 7, 6, 3], filter: [3, 3, 3, 4], strides: 2, dilations: 1, pad: 'same' };
    const { g, outShape } = geometry(c);
    const xv = normals(random, size(c.x));
    const dyv = normals(random, size(outShape));
    const want = referenceConv2dFilterGradient(g, 4, xv, dyv);
    const got = tf.tidy(() => {
      const x = tf.transpose(tf.tensor(xv, c.x), [0, 3, 1, 2]);
      const dy = tf.transpose(tf.tensor(dyv, outShape), [0, 3, 1, 2]);
      return filterGradient(x, dy, c, 'NCHW');
    });
    expect(maxRelativeError(got, want)).toBeLessThan(1e-5);
    const wv = normals(random, size(c.filter));
    const wantInput = referenceConv2dInputGradient(g, 4, wv, dyv);
    const gotInput = tf.tidy(() => {
      const dy = tf.transpose(tf.tensor(dyv, outShape), [0, 3, 1, 2]);
      const inputShape = [c.x[0], c.x[3], c.x[1], c.x[2]];
      const attrs = { strides: c.strides, pad: c.pad, dataFormat: 'NCHW', inputShape };
      const inputs = { dy, filter: tf.tensor(wv, c.filter) };
      const dx = tf
        .engine()
        .runKernel('Conv2DBackpropInput', inputs, attrs as unknown as tf.NamedAttrMap) as tf.Tensor;
      return tf.transpose(dx, [0, 2, 3, 1]).dataSync();
    });
    expect(maxRelativeError(gotInput, wantInput)).toBeLessThan(1e-5);
  });

  it('agrees with the cpu backend’s original kernel, which it replaces there', async () => {
    await initBackend({ backend: 'cpu' });
    const original = replacedKernel('Conv2DBackpropFilter', 'cpu');
    expect(original).toBeDefined();
    const backend = tf.backend();
    const random = new Random(13);
    for (const c of grid.filter((k) => k.dilations === 1).slice(0, 12)) {
      const { outShape } = geometry(c);
      const x = tf.tensor(normals(random, size(c.x)), c.x);
      const dy = tf.tensor(normals(random, size(outShape)), outShape);
      const attrs = { strides: c.strides, pad: c.pad, dataFormat: 'NHWC', filterShape: c.filter };
      const info = original!.kernelFunc({ inputs: { x, dy }, backend, attrs }) as tf.TensorInfo;
      const want = backend.readSync(info.dataId) as Float32Array;
      backend.disposeData(info.dataId);
      const got = filterGradient(x, dy, c);
      expect(maxRelativeError(got, want), JSON.stringify(c)).toBeLessThan(1e-5);
      x.dispose();
      dy.dispose();
    }
  });

  it('gives tf.grad of a tiny two-layer conv net equal to float64 central differences (wasm)', async () => {
    await initBackend({ backend: 'wasm' });
    const random = new Random(14);
    const layer1: Case = { x: [2, 7, 7, 2], filter: [3, 3, 2, 3], strides: 2, dilations: 1, pad: 'same' };
    const { g: g1, outShape: h1 } = geometry(layer1);
    const layer2: Case = { x: h1 as Case['x'], filter: [2, 2, 3, 2], strides: 1, dilations: 1, pad: 'valid' };
    const { g: g2, outShape: h2 } = geometry(layer2);
    const xv = normals(random, size(layer1.x));
    const w1 = normals(random, size(layer1.filter)).map((v) => v * 0.5);
    const w2 = normals(random, size(layer2.filter)).map((v) => v * 0.5);
    const r = normals(random, size(h2));
    // loss(W1, W2) = Σ r ⊙ conv(tanh(conv(x, W1)), W2)
    const loss64 = (a: ArrayLike<number>, b: ArrayLike<number>): number => {
      const hidden = referenceConv2d(g1, 3, xv, a).map(Math.tanh);
      const out = referenceConv2d(g2, 2, hidden, b);
      return out.reduce((s, v, i) => s + v * r[i], 0);
    };
    const [d1, d2] = tf.tidy(() => {
      const x = tf.tensor4d(xv, layer1.x);
      const rt = tf.tensor(r, h2);
      const f = (a: tf.Tensor, b: tf.Tensor) =>
        tf.sum(
          tf.mul(
            tf.conv2d(tf.tanh(tf.conv2d(x, a as tf.Tensor4D, 2, 'same')), b as tf.Tensor4D, 1, 'valid'),
            rt,
          ),
        );
      const grads = tf.grads(f)([tf.tensor(w1, layer1.filter), tf.tensor(w2, layer2.filter)]);
      return grads.map((t) => t.dataSync() as Float32Array);
    });
    const h = 1e-5;
    const central = (w: Float32Array, which: 0 | 1): Float64Array => {
      const base = Float64Array.from(w);
      return base.map((v, i) => {
        const plus = Float64Array.from(base);
        const minus = Float64Array.from(base);
        plus[i] = v + h;
        minus[i] = v - h;
        const lp = which === 0 ? loss64(plus, w2) : loss64(w1, plus);
        const lm = which === 0 ? loss64(minus, w2) : loss64(w1, minus);
        return (lp - lm) / (2 * h);
      });
    };
    expect(maxRelativeError(d1, central(w1, 0))).toBeLessThan(1e-5);
    expect(maxRelativeError(d2, central(w2, 1))).toBeLessThan(1e-5);
  });

  it('frees every intermediate it creates', async () => {
    await initBackend({ backend: 'wasm' });
    const c = grid[1];
    const { outShape } = geometry(c);
    const x = tf.randomNormal(c.x, 0, 1, 'float32', 1);
    const dy = tf.randomNormal(outShape, 0, 1, 'float32', 2);
    filterGradient(x, dy, c);
    const before = tf.memory().numTensors;
    const buffers = tf.engine().backend.numDataIds();
    filterGradient(x, dy, c);
    expect(tf.memory().numTensors).toBe(before);
    expect(tf.engine().backend.numDataIds()).toBe(buffers);
    tf.dispose([x, dy]);
  });
});
