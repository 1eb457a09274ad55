import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { Random } from '../random.js';
import { type HeapRuns, javascriptRuns, simdRuns } from './heapRuns.js';
import { col2imAdd, im2col, im2colTransposed } from './im2col.js';

type Pad = 'same' | 'valid' | tf.backend_util.ExplicitPadding;

interface Case {
  readonly x: [number, number, number, number];
  readonly filter: [number, number, number, number];
  readonly strides: number | [number, number];
  readonly dilations: number | [number, number];
  readonly pad: Pad;
}

const cases: Case[] = [];
for (const strides of [1, 2, [1, 3] as [number, number]]) {
  for (const pad of ['same', 'valid'] as const) {
    cases.push({ x: [3, 7, 9, 2], filter: [3, 4, 2, 1], strides, dilations: 1, pad });
    cases.push({ x: [2, 6, 6, 1], filter: [5, 5, 1, 1], strides, dilations: 1, pad });
    cases.push({ x: [2, 5, 8, 5], filter: [2, 3, 5, 1], strides, dilations: [2, 2], pad });
  }
}
cases.push({
  x: [2, 6, 7, 3],
  filter: [3, 3, 3, 1],
  strides: 2,
  dilations: 1,
  pad: [
    [0, 0],
    [2, 0],
    [1, 3],
    [0, 0],
  ],
});

/** Straight from the definition: the value each patch entry (row, column) reads, or 0 in the padding. */
function definedPatches(info: tf.backend_util.Conv2DInfo, x: Float32Array, first: number, count: number) {
  const { inHeight: h, inWidth: w, inChannels: c, filterHeight: fh, filterWidth: fw } = info;
  const k = fh * fw * c;
  const rows = count * info.outHeight * info.outWidth;
  const out = new Float64Array(rows * k);
  for (let n = first; n < first + count; n++) {
    for (let p = 0; p < info.outHeight; p++) {
      for (let q = 0; q < info.outWidth; q++) {
        const row = ((n - first) * info.outHeight + p) * info.outWidth + q;
        for (let i = 0; i < fh; i++) {
          for (let j = 0; j < fw; j++) {
            const r = p * info.strideHeight + i * info.dilationHeight - info.padInfo.top;
            const t = q * info.strideWidth + j * info.dilationWidth - info.padInfo.left;
            for (let ch = 0; ch < c; ch++) {
              const inside = r >= 0 && r < h && t >= 0 && t < w;
              out[row * k + (i * fw + j) * c + ch] = inside ? x[((n * h + r) * w + t) * c + ch] : 0;
            }
          }
        }
      }
    }
  }
  return { out, rows, k };
}

/** Both implementations of the runs, each on its own heap of `floats` floats. */
function implementations(floats: number): Array<{ name: string; heap: Float32Array; runs: HeapRuns }> {
  const memory = new WebAssembly.Memory({ initial: Math.ceil((floats * 4) / 65536) });
  const simd = simdRuns(memory);
  if (simd === undefined) throw new Error('WebAssembly SIMD unavailable');
  const plain = new Float32Array(floats);
  return [
    { name: 'simd', heap: new Float32Array(memory.buffer), runs: simd },
    { name: 'javascript', heap: plain, runs: javascriptRuns(plain) },
  ];
}

describe('im2col, its transpose and col2im on the heap', () => {
  it('patch matrices equal the definition, for whole batches and later chunks of examples', () => {
    const random = new Random(21);
    for (const c of cases) {
      const info = tf.backend_util.computeConv2DInfo(c.x, c.filter, c.strides, c.dilations, c.pad);
      const size = c.x.reduce((a, b) => a * b, 1);
      const xv = random.fillNormal(new Float32Array(size));
      for (const [first, count] of [
        [0, c.x[0]],
        [1, c.x[0] - 1],
      ]) {
        const { out: want, rows, k } = definedPatches(info, xv, first, count);
        for (const { name, heap, runs } of implementations(size + 3 * rows * k + 64)) {
          const at = 16;
          const cols = at + size + 8;
          const colsT = cols + rows * k + 8;
          heap.set(xv, at);
          heap.fill(Number.NaN, cols, colsT + rows * k); // anything not written shows as NaN
          im2col(runs, at, info, first, count, cols);
          im2colTransposed(runs, at, info, first, count, colsT);
          const label = `${name} ${JSON.stringify(c)} from ${first}`;
          for (let row = 0; row < rows; row++) {
            for (let col = 0; col < k; col++) {
              const v = want[row * k + col];
              if (heap[cols + row * k + col] !== v || heap[colsT + col * rows + row] !== v) {
                throw new Error(
                  `${label}: entry (${row}, ${col}) is ${heap[cols + row * k + col]}, want ${v}`,
                );
              }
            }
          }
        }
      }
    }
    expect(cases.length).toBeGreaterThan(10);
  });

  it('col2im is the adjoint of im2col: ⟨im2col(x), P⟩ = ⟨x, col2im(P)⟩', () => {
    const random = new Random(22);
    for (const c of cases) {
      const info = tf.backend_util.computeConv2DInfo(c.x, c.filter, c.strides, c.dilations, c.pad);
      const size = c.x.reduce((a, b) => a * b, 1);
      const xv = random.fillNormal(new Float32Array(size));
      const first = 1;
      const count = c.x[0] - 1;
      const { out: patches, rows, k } = definedPatches(info, xv, first, count);
      const pv = random.fillNormal(new Float32Array(rows * k));
      let forward = 0;
      for (let i = 0; i < pv.length; i++) forward += patches[i] * pv[i];
      for (const { name, heap, runs } of implementations(size + rows * k + 64)) {
        const dx = 16;
        const cols = dx + size + 8;
        heap.fill(7, dx, dx + size); // example 0 is outside the chunk and must stay untouched
        heap.fill(0, dx + size / c.x[0], dx + size);
        heap.set(pv, cols);
        col2imAdd(runs, cols, info, first, count, dx);
        let adjoint = 0;
        for (let i = size / c.x[0]; i < size; i++) adjoint += xv[i] * heap[dx + i];
        expect(Math.abs(adjoint - forward), `${name} ${JSON.stringify(c)}`).toBeLessThan(
          1e-4 * (1 + Math.abs(forward)),
        );
        expect(heap.subarray(dx, dx + size / c.x[0]).every((v) => v === 7)).toBe(true);
      }
    }
  });
});
