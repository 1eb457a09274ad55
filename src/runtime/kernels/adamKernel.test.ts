import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../backend.js';
import { Random } from '../random.js';
import { adamKernel, javascriptAdam, writeAdamScalars } from './adamKernel.js';
import { WasmHeap } from './wasmHeap.js';

describe('Adam update on the wasm heap', () => {
  beforeAll(async () => {
    await initBackend({ backend: 'wasm' });
  });

  it('runs as SIMD and agrees bit for bit with the JavaScript form, tails included', () => {
    const heap = WasmHeap.of(tf.backend())!;
    const kernel = adamKernel(heap.memory());
    expect(kernel).not.toBe(javascriptAdam);
    const rng = new Random(4);
    for (const length of [1, 4, 37, 1000]) {
      const inputs = [0, 1, 2, 3].map(() => heap.output([length]));
      const outputs = [0, 1, 2, 3, 4, 5].map(() => heap.output([length]));
      const scalars = heap.output([6]);
      const at = (info: tf.TensorInfo) => heap.offset(info);
      const f32 = heap.f32;
      for (const info of inputs) for (let i = 0; i < length; i++) f32[at(info) + i] = rng.normal();
      // v must be non-negative (a running mean of squares).
      for (let i = 0; i < length; i++) f32[at(inputs[2]) + i] = Math.abs(f32[at(inputs[2]) + i]);
      writeAdamScalars(f32, at(scalars), {
        beta1: 0.9,
        oneMinusBeta1: 0.1,
        beta2: 0.999,
        oneMinusBeta2: 0.001,
        epsilon: 1e-7,
        step: -0.013,
      });
      const operands = (o: number) => ({
        w: at(inputs[0]),
        m: at(inputs[1]),
        v: at(inputs[2]),
        g: at(inputs[3]),
        outW: at(outputs[o]),
        outM: at(outputs[o + 1]),
        outV: at(outputs[o + 2]),
        length,
      });
      kernel.update(f32, operands(0), at(scalars));
      javascriptAdam.update(f32, operands(3), at(scalars));
      for (let k = 0; k < 3; k++) {
        const simd = Array.from(f32.subarray(at(outputs[k]), at(outputs[k]) + length));
        const js = Array.from(f32.subarray(at(outputs[k + 3]), at(outputs[k + 3]) + length));
        expect(simd).toEqual(js);
      }
      // The update moved w: w' ≠ w somewhere.
      expect(f32[at(outputs[0])]).not.toBe(f32[at(inputs[0])]);
      for (const info of [...inputs, ...outputs, scalars]) tf.backend().disposeData(info.dataId);
    }
  });
});
