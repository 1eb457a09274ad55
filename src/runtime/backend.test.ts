import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { describeBackend, initBackend } from './backend.js';

describe('initBackend', () => {
  it('starts the wasm backend by default in Node (tfjs-node is not installed here)', async () => {
    const info = await initBackend();
    expect(tf.getBackend()).toBe(info.name);
    expect(['tensorflow', 'wasm']).toContain(info.name);
    if (info.name === 'wasm') expect(info.simd).toBe(true);
    expect(describeBackend(info)).toMatch(/on tfjs 4\.22/);
  });

  it('can be forced to cpu and computes the same matrix product', async () => {
    const a = [1, 2, 3, 4, 5, 6];
    await initBackend({ backend: 'wasm' });
    const wasm = tf.matMul(tf.tensor2d(a, [2, 3]), tf.tensor2d(a, [3, 2])).dataSync();
    const info = await initBackend({ backend: 'cpu' });
    expect(info.name).toBe('cpu');
    const cpu = tf.matMul(tf.tensor2d(a, [2, 3]), tf.tensor2d(a, [3, 2])).dataSync();
    expect(Array.from(cpu)).toEqual(Array.from(wasm));
    expect(Array.from(cpu)).toEqual([22, 28, 49, 64]);
  });

  it('refuses a backend that is not installed instead of silently falling back', async () => {
    await expect(initBackend({ backend: 'webgpu' })).rejects.toThrow(/webgpu/);
  });
});
