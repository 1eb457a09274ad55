import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Random } from '../random.js';
import { adamKernel, writeAdamScalars } from './adamKernel.js';
import { HeapHelper } from './heapHelper.js';
import { sparseVdKlPass } from './sparseVdKlKernel.js';

// One shared memory (as the threaded wasm build's) holding operands; kernels and the helper instantiated on it.
const memory = new WebAssembly.Memory({ initial: 64, maximum: 256, shared: true });
let helper: HeapHelper | undefined;

beforeAll(async () => {
  helper = await HeapHelper.start(memory, 1000);
});

afterAll(async () => {
  await helper?.stop();
});

function fill(heap: Float32Array, from: number, length: number, draw: () => number): void {
  for (let i = 0; i < length; i++) heap[from + i] = draw();
}

describe('kernels split with the helper thread', () => {
  it('starts on a shared memory', () => {
    expect(helper?.usable).toBe(true);
  });

  it('the Sparse VD KL pass gives the same terms and gradients bit for bit, out-of-range flags from either half', () => {
    const heap = new Float32Array(memory.buffer);
    const random = new Random(4);
    const n = 40_000;
    const o = {
      theta: 64,
      logSigma2: 64 + n,
      term: 64 + 2 * n,
      dTheta: 64 + 3 * n,
      dLogSigma2: 64 + 4 * n,
      length: n,
    };
    fill(heap, o.theta, n, () => 0.1 * random.normal());
    fill(heap, o.logSigma2, n, () => -8 + 4 * random.normal());
    const constants = { k1: 0.63576, k2: 1.8732, k3: 1.48695, clip: 8 };
    const pass = sparseVdKlPass(memory)!;
    const scratch = 8;
    expect(pass.run(heap, o, constants, scratch)).toBe(true);
    const alone = heap.slice(o.term, o.term + 3 * n);
    heap.fill(Number.NaN, o.term, o.term + 3 * n);
    expect(pass.run(heap, o, constants, scratch, helper)).toBe(true);
    expect(heap.slice(o.term, o.term + 3 * n)).toEqual(alone);
    // An input out of range in the helper's half is reported.
    heap[o.theta + n - 3] = Number.NaN;
    expect(pass.run(heap, o, constants, scratch, helper)).toBe(false);
  });

  it('the Adam update gives the same moments and weights bit for bit (a JavaScript tail included)', () => {
    const heap = new Float32Array(memory.buffer);
    const random = new Random(5);
    const n = 100_003;
    const base = 300_000;
    const o = {
      w: base,
      m: base + n,
      v: base + 2 * n,
      g: base + 3 * n,
      outW: base + 4 * n,
      outM: base + 5 * n,
      outV: base + 6 * n,
      length: n,
    };
    fill(heap, o.w, n, () => random.normal());
    fill(heap, o.m, n, () => 0.01 * random.normal());
    fill(heap, o.v, n, () => 1e-4 * Math.abs(random.normal()));
    fill(heap, o.g, n, () => random.normal());
    const scalars = 16;
    writeAdamScalars(heap, scalars, {
      beta1: 0.9,
      oneMinusBeta1: 0.1,
      beta2: 0.999,
      oneMinusBeta2: 0.001,
      epsilon: 1e-8,
      step: -1e-3,
    });
    const kernel = adamKernel(memory);
    kernel.update(heap, o, scalars);
    const alone = heap.slice(o.outW, o.outW + 3 * n);
    heap.fill(Number.NaN, o.outW, o.outW + 3 * n);
    kernel.update(heap, o, scalars, helper);
    expect(heap.slice(o.outW, o.outW + 3 * n)).toEqual(alone);
  });
});
