import { describe, expect, it } from 'vitest';
import { Random } from '../random.js';
import { type HeapRuns, javascriptRuns, kernelModule, simdRuns } from './heapRuns.js';

/** A fresh memory of 4 pages (65 536 floats) filled with normals, and the SIMD runs on it. */
function setup(seed: number): { heap: Float32Array; simd: HeapRuns } {
  const memory = new WebAssembly.Memory({ initial: 4 });
  const heap = new Float32Array(memory.buffer);
  new Random(seed).fillNormal(heap);
  const simd = simdRuns(memory);
  if (simd === undefined) throw new Error('WebAssembly SIMD unavailable');
  return { heap, simd };
}

describe('heap runs (wasm SIMD module and JavaScript fallback)', () => {
  it('assembles a valid module', () => {
    expect(WebAssembly.validate(kernelModule())).toBe(true);
  });

  it('copy, add and zero follow their definitions for lengths that are and are not multiples of 4', () => {
    for (const length of [1, 3, 4, 5, 16, 23, 100]) {
      const { heap, simd } = setup(length);
      const before = Float64Array.from(heap);
      const want = Float64Array.from(heap);
      // add: 7 runs dst 1000 + 130r, src 20000 + 111r
      for (let r = 0; r < 7; r++) {
        for (let k = 0; k < length; k++) want[1000 + 130 * r + k] += before[20000 + 111 * r + k];
      }
      // copy: 5 runs dst 40000 + 200r, src 30001 + 57r
      for (let r = 0; r < 5; r++)
        for (let k = 0; k < length; k++) want[40000 + 200 * r + k] = before[30001 + 57 * r + k];
      for (let r = 0; r < 3; r++) for (let k = 0; k < length; k++) want[50000 + 300 * r + k] = 0;
      const copyOfHeap = heap.slice();
      const jsRuns = javascriptRuns(copyOfHeap);
      for (const [runs, arr] of [
        [simd, heap],
        [jsRuns, copyOfHeap],
      ] as const) {
        runs.add(1000, 130, 20000, 111, length, 7);
        runs.copy(40000, 200, 30001, 57, length, 5);
        runs.zero(50000, 300, length, 3);
        // float32 sums are exact to float32 rounding of the float64 sum
        for (let i = 0; i < arr.length; i++) {
          if (arr[i] !== Math.fround(want[i]))
            throw new Error(`length ${length}: index ${i}: ${arr[i]} ≠ ${want[i]}`);
        }
      }
    }
  });

  it('gather reads with a stride (transposing blocks)', () => {
    const { heap, simd } = setup(3);
    const before = heap.slice();
    const jsHeap = before.slice();
    const jsRuns = javascriptRuns(jsHeap);
    // 20 runs of 8: dst 100 + 64r, src 2000 + r, step 20 (a [8, 20] block transposed to [20, 8] rows of 64)
    simd.gather(100, 64, 2000, 1, 20, 8, 20);
    jsRuns.gather(100, 64, 2000, 1, 20, 8, 20);
    for (let r = 0; r < 20; r++) {
      for (let k = 0; k < 8; k++) expect(heap[100 + 64 * r + k]).toBe(before[2000 + r + 20 * k]);
    }
    expect(Array.from(jsHeap)).toEqual(Array.from(heap));
  });

  it('maxWindow sends each channel’s gradient to its first maximum, ties and overlapping windows included', () => {
    const { heap, simd } = setup(4);
    // a 5 × 6 × 8 (rows × columns × channels) input at 1000, with ties: values rounded to one of 3 levels
    const [rows, cols, channels] = [5, 6, 8];
    const x = 1000;
    const dx = 9000;
    const g = 20000;
    for (let i = 0; i < rows * cols * channels; i++) heap[x + i] = Math.round(heap[x + i]);
    heap.fill(0, dx, dx + rows * cols * channels);
    const jsHeap = heap.slice();
    const js = javascriptRuns(jsHeap);
    const want = new Float64Array(rows * cols * channels);
    // 3 × 3 windows at (0,0), (0,1) (overlapping) and (2,3)
    for (const [r0, c0, gAt] of [
      [0, 0, g],
      [0, 1, g + 8],
      [2, 3, g + 16],
    ]) {
      const first = (r0 * cols + c0) * channels;
      for (const runs of [simd, js])
        runs.maxWindow(x + first, dx + first, gAt, cols * channels, channels, 3, 3, 8);
      for (let c = 0; c < channels; c++) {
        let where = first + c;
        for (let r = r0; r < r0 + 3; r++) {
          for (let t = c0; t < c0 + 3; t++) {
            const at = (r * cols + t) * channels + c;
            if (heap[x + at] > heap[x + where]) where = at;
          }
        }
        want[where] += heap[gAt + c];
      }
    }
    const got = heap.subarray(dx, dx + want.length);
    for (let i = 0; i < want.length; i++) expect(got[i]).toBeCloseTo(want[i], 5);
    expect(Array.from(jsHeap.subarray(dx, dx + want.length))).toEqual(Array.from(got));
    expect(want.filter((v) => v !== 0).length).toBeGreaterThan(8);
  });

  it('dot2x4 adds a 2 × 4 block of dot products (SIMD and JavaScript agree bit for bit)', () => {
    const { heap, simd } = setup(5);
    const out = 60000;
    heap.fill(0.5, out, out + 2 * 7);
    const jsHeap = heap.slice();
    const rows = [100, 3000, 6000, 9000, 12000, 15000];
    const length = 1036;
    simd.dot2x4(rows[0], rows[1], rows[2], rows[3], rows[4], rows[5], length, out, 7);
    javascriptRuns(jsHeap).dot2x4(rows[0], rows[1], rows[2], rows[3], rows[4], rows[5], length, out, 7);
    for (let r = 0; r < 2; r++) {
      for (let c = 0; c < 4; c++) {
        let want = 0.5;
        for (let k = 0; k < length; k++) want += heap[rows[r] + k] * heap[rows[2 + c] + k];
        expect(heap[out + 7 * r + c]).toBeCloseTo(want, 3);
      }
    }
    expect(Array.from(jsHeap.subarray(out, out + 14))).toEqual(Array.from(heap.subarray(out, out + 14)));
    expect(heap[out + 4]).toBe(0.5); // between the two output rows: untouched
  });

  it('runs on a shared memory (the threaded wasm build’s) exactly as on an unshared one', () => {
    const { heap, simd } = setup(6);
    const memory = new WebAssembly.Memory({ initial: 4, maximum: 64, shared: true });
    expect(memory.buffer).toBeInstanceOf(SharedArrayBuffer);
    const shared = simdRuns(memory);
    if (shared === undefined) throw new Error('the SIMD module did not instantiate on a shared memory');
    const sharedHeap = new Float32Array(memory.buffer);
    sharedHeap.set(heap);
    const before = heap.slice();
    for (const runs of [simd, shared]) {
      runs.add(1000, 130, 20000, 111, 23, 7);
      runs.copy(40000, 200, 30001, 57, 23, 5);
      runs.gather(100, 64, 2000, 1, 20, 8, 20);
      runs.dot2x4(3000, 6000, 9000, 12000, 15000, 18000, 1036, 60000, 7);
    }
    expect(Array.from(heap).some((v, i) => v !== sharedHeap[i])).toBe(false);
    expect(heap[1000]).not.toBe(before[1000]); // the runs did write
  });
});
