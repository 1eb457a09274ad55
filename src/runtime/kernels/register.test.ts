import * as tf from '@tensorflow/tfjs';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { initBackend } from '../backend.js';
import { patchedKernels, registerMissingKernels, replacedKernel } from './register.js';

/** Kernels that the gradients of common conv/dense layers call (found by differentiating each op on wasm). */
const trainingKernels = [
  'Conv2DBackpropFilter',
  'Conv2DBackpropInput',
  'DepthwiseConv2dNativeBackpropFilter',
  'DepthwiseConv2dNativeBackpropInput',
  'MaxPoolGrad',
  'AvgPoolGrad',
  'EluGrad',
  'UnsortedSegmentSum',
  'BatchMatMul',
  '_FusedMatMul',
];

describe('registerMissingKernels', () => {
  afterAll(async () => {
    await initBackend({ backend: 'wasm' });
  });

  it('keeps the cpu backend quiet in Node (no tfjs-node banner; runs first, before cpu is used)', async () => {
    const warn = vi.spyOn(console, 'warn');
    await initBackend({ backend: 'cpu' });
    tf.tidy(() => tf.add(tf.ones([2]), 1).dataSync());
    expect(warn.mock.calls.flat().join(' ')).not.toMatch(/looks like you are running TensorFlow\.js in Node/);
    warn.mockRestore();
  });
  it('leaves no training kernel missing on wasm', async () => {
    await initBackend({ backend: 'wasm' });
    const have = new Set(tf.getKernelsForBackend('wasm').map((k) => k.kernelName));
    expect(trainingKernels.filter((k) => !have.has(k))).toEqual([]);
    expect(patchedKernels('wasm')).toEqual([
      'AvgPoolGrad',
      'BatchMatMul',
      'Conv2DBackpropFilter',
      'Conv2DBackpropInput',
      'Conv3DBackpropInputV2',
      'DepthwiseConv2dNativeBackpropFilter',
      'DepthwiseConv2dNativeBackpropInput',
      'Exp',
      'Identity',
      'Log',
      'MaxPoolGrad',
      'Sum',
      'UnsortedSegmentSum',
      '_FusedMatMul',
    ]);
  });

  it('installed kernels free every buffer they allocate (backend data ids stay flat)', async () => {
    await initBackend({ backend: 'wasm' });
    const x = tf.randomNormal([2, 9, 9, 3], 0, 1, 'float32', 1);
    const w = tf.randomNormal([3, 3, 3, 4], 0, 1, 'float32', 2);
    const dw = tf.randomNormal([3, 3, 3, 2], 0, 1, 'float32', 3);
    const table = tf.randomNormal([6, 4], 0, 1, 'float32', 4);
    const ids = tf.tensor1d([0, 5, 5], 'int32');
    const step = () =>
      tf.tidy(() => {
        const loss = (a: tf.Tensor, f: tf.Tensor, d: tf.Tensor, t: tf.Tensor) => {
          const c = tf.conv2d(a as tf.Tensor4D, f as tf.Tensor4D, 2, 'same');
          const p = tf.add(tf.maxPool(c, 2, 1, 'same'), tf.avgPool(c, 3, 1, 'same'));
          const e = tf.depthwiseConv2d(a as tf.Tensor4D, d as tf.Tensor4D, 1, 'valid');
          const flat = tf.reshape(p, [2, -1]);
          const dense = tf.fused.matMul({ a: flat, b: flat, transposeB: true, activation: 'relu' });
          return tf.addN([tf.sum(dense), tf.sum(tf.square(e)), tf.sum(tf.gather(t, ids))]);
        };
        tf.grads(loss)([x, w, dw, table]).forEach((g) => g.dataSync());
      });
    step();
    const buffers = tf.engine().backend.numDataIds();
    const tensors = tf.memory().numTensors;
    step();
    step();
    expect(tf.engine().backend.numDataIds()).toBe(buffers);
    expect(tf.memory().numTensors).toBe(tensors);
    tf.dispose([x, w, dw, table, ids]);
  });

  it('is idempotent, also across switching wasm → cpu → wasm', async () => {
    await initBackend({ backend: 'wasm' });
    const snapshot = (name: string) => tf.getKernelsForBackend(name).map((k) => [k.kernelName, k.kernelFunc]);
    const wasmBefore = snapshot('wasm');
    const originalMatMul = replacedKernel('BatchMatMul', 'wasm');
    registerMissingKernels('wasm');
    registerMissingKernels('wasm');
    await initBackend({ backend: 'cpu' });
    expect(patchedKernels('cpu')).toEqual(['AvgPoolGrad', 'Conv2DBackpropFilter']);
    const cpuBefore = snapshot('cpu');
    registerMissingKernels('cpu');
    expect(snapshot('cpu')).toEqual(cpuBefore);
    await initBackend({ backend: 'wasm' });
    registerMissingKernels('wasm');
    expect(snapshot('wasm')).toEqual(wasmBefore);
    // The wrapper wraps the backend's own kernel, never a previous wrapper.
    expect(replacedKernel('BatchMatMul', 'wasm')).toBe(originalMatMul);
    const product = tf.tidy(() => tf.matMul(tf.tensor2d([1, 2, 3, 4], [2, 2]), tf.eye(2), true).dataSync());
    expect(Array.from(product)).toEqual([1, 3, 2, 4]);
  });

  it('touches nothing on a backend it has no plan for beyond missing composed kernels', () => {
    expect(() => registerMissingKernels('no-such-backend')).not.toThrow();
    expect(patchedKernels('no-such-backend')).toEqual([
      'Conv2DBackpropFilter',
      'DepthwiseConv2dNativeBackpropFilter',
      'DepthwiseConv2dNativeBackpropInput',
      'UnsortedSegmentSum',
    ]);
    for (const k of patchedKernels('no-such-backend')) tf.unregisterKernel(k, 'no-such-backend');
  });
});
