import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../backend.js';
import { Random } from '../random.js';
import { HeapHelper, helperFunctions } from './heapHelper.js';
import { type GemmOperands, gemmKernel, gemmTileCalls, javascriptGemm, runTileCalls } from './gemmKernel.js';
import { assembleModule } from './wasmAssembler.js';

beforeAll(async () => {
  await initBackend({ backend: 'wasm' });
});

/** A heap with A at 0 and B after it, filled with seeded normals; C after B. */
function operands(heap: Float32Array, m: number, k: number, n: number, seed: number): GemmOperands {
  const random = new Random(seed);
  const p = { a: 16, b: 16 + m * k + 3, c: 16 + m * k + 3 + k * n + 5, m, k, n };
  for (let i = 0; i < m * k; i++) heap[p.a + i] = random.normal();
  for (let i = 0; i < k * n; i++) heap[p.b + i] = random.normal();
  return p;
}

const SHAPES: Array<[number, number, number]> = [
  [1, 1, 4],
  [4, 3, 8],
  [7, 5, 13],
  [13, 33, 10],
  [3, 17, 5],
  [9, 2, 16],
  [100, 64, 30],
];

describe('SIMD matrix product without packing', () => {
  it('every tile path (row/column tails, overlapping 4-column block) equals the naive float32 sum bit for bit', () => {
    const memory = new WebAssembly.Memory({ initial: 2 });
    const kernel = gemmKernel(memory);
    expect(kernel.exports).toBeDefined();
    for (const [m, k, n] of SHAPES) {
      const heap = new Float32Array(memory.buffer);
      const p = operands(heap, m, k, n, m * 100 + n);
      kernel.multiply(heap, p);
      const simd = heap.slice(p.c, p.c + m * n);
      javascriptGemm.multiply(heap, p);
      expect(simd).toEqual(heap.slice(p.c, p.c + m * n));
      // and within float32 rounding of the float64 product
      for (let i = 0; i < m; i++)
        for (let j = 0; j < n; j++) {
          let exact = 0;
          let scale = 0;
          for (let q = 0; q < k; q++) {
            exact += heap[p.a + i * k + q] * heap[p.b + q * n + j];
            scale += Math.abs(heap[p.a + i * k + q] * heap[p.b + q * n + j]);
          }
          expect(Math.abs(simd[i * n + j] - exact)).toBeLessThanOrEqual(k * 1.2e-7 * scale + 1e-30);
        }
    }
  });

  it('row ranges compose: rows [0, r) then [r, m) give the whole product', () => {
    const memory = new WebAssembly.Memory({ initial: 2 });
    const kernel = gemmKernel(memory);
    const heap = new Float32Array(memory.buffer);
    const p = operands(heap, 23, 9, 11, 5);
    kernel.multiply(heap, p);
    const whole = heap.slice(p.c, p.c + 23 * 11);
    heap.fill(0, p.c, p.c + 23 * 11);
    kernel.multiply(heap, p, 0, 12);
    kernel.multiply(heap, p, 12, 23);
    expect(heap.slice(p.c, p.c + 23 * 11)).toEqual(whole);
    expect(() => gemmTileCalls({ ...p, n: 3 }, 0, 1)).toThrow(/n ≥ 4/);
  });

  it('the wasm BatchMatMul runs it: tf.matMul equals the naive sum, batched A and transposes included', () => {
    const random = new Random(9);
    const values = (size: number) => Float32Array.from({ length: size }, () => random.normal());
    const [av, bv] = [values(2 * 30 * 40), values(40 * 21)];
    const a = tf.tensor3d(av, [2, 30, 40]);
    const b = tf.tensor2d(bv, [40, 21]);
    const heap = Float32Array.from([...av, ...bv, ...new Float32Array(60 * 21)]);
    javascriptGemm.multiply(heap, { a: 0, b: av.length, c: av.length + bv.length, m: 60, k: 40, n: 21 });
    const reference = heap.slice(av.length + bv.length);
    const batched = tf.matMul(a, b);
    expect(batched.shape).toEqual([2, 30, 21]);
    expect(batched.dataSync()).toEqual(reference);
    const flat = a.reshape([60, 40]);
    const viaTranspose = tf.matMul(flat.transpose(), b.transpose(), true, true);
    expect(viaTranspose.dataSync()).toEqual(reference);
    tf.dispose([a, b, batched, flat, viaTranspose]);
  });

  it('a helper thread on a shared memory computes the lower rows: same result bit for bit; stopped, the caller does all', async () => {
    const memory = new WebAssembly.Memory({ initial: 4, maximum: 64, shared: true });
    const module = new WebAssembly.Module(assembleModule(helperFunctions(), { sharedMemory: true }));
    const exports = new WebAssembly.Instance(module, { env: { memory } }).exports as Record<string, unknown>;
    const helper = await HeapHelper.start(memory, 1000);
    expect(helper).toBeDefined();
    try {
      for (const [m, k, n] of [
        [100, 64, 30],
        [37, 50, 13],
        [8, 3, 4],
      ] as const) {
        const heap = new Float32Array(memory.buffer);
        const p = operands(heap, m, k, n, m + k + n);
        javascriptGemm.multiply(heap, p);
        const expected = heap.slice(p.c, p.c + m * n);
        heap.fill(Number.NaN, p.c, p.c + m * n);
        const theirs = gemmTileCalls(p, 4, m);
        helper!.run(
          theirs,
          () => runTileCalls(exports, gemmTileCalls(p, 0, 4)),
          () => runTileCalls(exports, theirs),
        );
        expect(heap.slice(p.c, p.c + m * n)).toEqual(expected);
      }
      await helper!.stop();
      expect(helper!.usable).toBe(false);
      const heap = new Float32Array(memory.buffer);
      const p = operands(heap, 20, 6, 9, 1);
      javascriptGemm.multiply(heap, p);
      const expected = heap.slice(p.c, p.c + 20 * 9);
      heap.fill(Number.NaN, p.c, p.c + 20 * 9);
      const theirs = gemmTileCalls(p, 8, 20);
      helper!.run(
        theirs,
        () => runTileCalls(exports, gemmTileCalls(p, 0, 8)),
        () => runTileCalls(exports, theirs),
      );
      expect(heap.slice(p.c, p.c + 20 * 9)).toEqual(expected);
    } finally {
      await helper!.stop();
    }
  });

  it('no helper where the memory is not shared', async () => {
    expect(await HeapHelper.start(new WebAssembly.Memory({ initial: 1 }))).toBeUndefined();
  });
});
