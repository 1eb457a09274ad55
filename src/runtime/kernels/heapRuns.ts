/**
 * Strided copies and sums of runs of float32 values on the wasm backend's heap — the inner loops of im2col, col2im,
 * column sums, max-pooling gradients and short dot products — done by a tiny WebAssembly module with 128-bit SIMD
 * that shares the backend's memory, with a plain JavaScript fallback of the same meaning (bit for bit).
 *
 * Why a module of our own: these loops move a few million floats per training step. In JavaScript they ran at
 * 2–12 ns per element on this machine (a col2im of LeNet-5's second layer took 7–15 ms, its first max-pooling
 * gradient 14 ms), several times the time of the matrix product they serve; in wasm SIMD they run at memory speed.
 * The module is ~1.4 KB, assembled below from its instructions (no toolchain needed; small enough for a synchronous
 * compile on a browser's main thread) and instantiated against the backend's `WebAssembly.Memory` — declared shared
 * for the threaded build's memory (our loops run on the calling thread only, so sharing needs no atomics). Where that
 * fails (no SIMD, a content security policy) the JavaScript loops run instead.
 */

import {
  type AssembledFunction,
  I32,
  V128,
  assembleModule,
  get,
  i32,
  increment,
  loadAt,
  memarg,
  op,
  perMemoryModule,
  set,
  simd,
  simdOp,
  whileNot,
} from './wasmAssembler.js';

/**
 * Runs of `length` floats, `count` of them, the r-th starting at `dst + r·dstStride` and `src + r·srcStride`
 * (indices of float32 elements of the heap; runs must not overlap).
 */
export interface HeapRuns {
  /** dst-run ← src-run, for each of the `count` runs. */
  copy(dst: number, dstStride: number, src: number, srcStride: number, length: number, count: number): void;
  /** dst-run += src-run (float32 addition), for each of the `count` runs. */
  add(dst: number, dstStride: number, src: number, srcStride: number, length: number, count: number): void;
  /** dst-run ← 0. */
  zero(dst: number, dstStride: number, length: number, count: number): void;
  /**
   * Strided gather: the k-th element of the r-th dst-run ← src[src + r·srcStride + k·srcStep] (transposes blocks,
   * e.g. channels-last patches into channel-major rows).
   */
  gather(
    dst: number,
    dstStride: number,
    src: number,
    srcStride: number,
    srcStep: number,
    length: number,
    count: number,
  ): void;
  /**
   * One max-pooling window's gradient for `channels` channels (a multiple of 4): the window of `rows` × `cols`
   * positions starts at `x` (channel 0), rows `rowStride` and columns `colStride` apart; each channel's first
   * (row-major) maximum gets its gradient `g[c]` added at the same position of dx, which starts at `dx`.
   */
  maxWindow(
    x: number,
    dx: number,
    g: number,
    rowStride: number,
    colStride: number,
    rows: number,
    cols: number,
    channels: number,
  ): void;
  /**
   * A 2 × 4 block of dot products over `length` floats (a multiple of 4): out[r·outRowStride + c] += Σ_k a_r[k]·b_c[k]
   * for the rows a_0, a_1 and b_0 … b_3 (each the index of its first element). Summed in 4 interleaved float32
   * partial sums.
   */
  dot2x4(
    a0: number,
    a1: number,
    b0: number,
    b1: number,
    b2: number,
    b3: number,
    length: number,
    out: number,
    outRowStride: number,
  ): void;
}

/** The runs on `heap` in JavaScript (the fallback; also the reference the tests compare with). */
export function javascriptRuns(heap: Float32Array): HeapRuns {
  const best = new Float32Array(4);
  const where = new Int32Array(4);
  return {
    copy(dst, dstStride, src, srcStride, length, count) {
      for (let r = 0; r < count; r++) {
        const d = dst + r * dstStride;
        const s = src + r * srcStride;
        if (length >= 16) heap.copyWithin(d, s, s + length);
        else for (let k = 0; k < length; k++) heap[d + k] = heap[s + k];
      }
    },
    add(dst, dstStride, src, srcStride, length, count) {
      for (let r = 0; r < count; r++) {
        const d = dst + r * dstStride;
        const s = src + r * srcStride;
        for (let k = 0; k < length; k++) heap[d + k] += heap[s + k];
      }
    },
    zero(dst, dstStride, length, count) {
      for (let r = 0; r < count; r++) heap.fill(0, dst + r * dstStride, dst + r * dstStride + length);
    },
    gather(dst, dstStride, src, srcStride, srcStep, length, count) {
      for (let r = 0; r < count; r++) {
        const d = dst + r * dstStride;
        const s = src + r * srcStride;
        for (let k = 0; k < length; k++) heap[d + k] = heap[s + k * srcStep];
      }
    },
    maxWindow(x, dx, g, rowStride, colStride, rows, cols, channels) {
      for (let c0 = 0; c0 < channels; c0 += 4) {
        for (let l = 0; l < 4; l++) {
          best[l] = heap[x + c0 + l];
          where[l] = x + c0 + l;
        }
        for (let r = 0; r < rows; r++) {
          for (let t = 0; t < cols; t++) {
            const at = x + r * rowStride + t * colStride + c0;
            for (let l = 0; l < 4; l++) {
              if (heap[at + l] > best[l]) {
                best[l] = heap[at + l];
                where[l] = at + l;
              }
            }
          }
        }
        for (let l = 0; l < 4; l++) heap[where[l] - x + dx] += heap[g + c0 + l];
      }
    },
    dot2x4(a0, a1, b0, b1, b2, b3, length, out, outRowStride) {
      const bs = [b0, b1, b2, b3];
      for (let r = 0; r < 2; r++) {
        const a = r === 0 ? a0 : a1;
        for (let c = 0; c < 4; c++) {
          const lanes = [0, 0, 0, 0];
          for (let k = 0; k < length; k++)
            lanes[k % 4] = Math.fround(lanes[k % 4] + Math.fround(heap[a + k] * heap[bs[c] + k]));
          const at = out + r * outRowStride + c;
          heap[at] += Math.fround(Math.fround(Math.fround(lanes[0] + lanes[1]) + lanes[2]) + lanes[3]);
        }
      }
    },
  };
}

type RunFunction = (
  dst: number,
  dstStride: number,
  src: number,
  srcStride: number,
  length: number,
  count: number,
) => void;

interface SimdExports {
  copyRuns: RunFunction;
  addRuns: RunFunction;
  dot2x4: (
    a0: number,
    a1: number,
    b0: number,
    b1: number,
    b2: number,
    b3: number,
    lengthBytes: number,
    out: number,
    outRowStride: number,
  ) => void;
  maxWindow: (
    x: number,
    dxMinusX: number,
    g: number,
    rowStride: number,
    colStride: number,
    rows: number,
    cols: number,
    channelBytes: number,
  ) => void;
  gatherRuns: (
    dst: number,
    dstStride: number,
    src: number,
    srcStride: number,
    srcStep: number,
    length: number,
    count: number,
  ) => void;
}

const simdRunsOn = perMemoryModule<SimdExports, HeapRuns>(
  () => kernelFunctions(),
  (exports, memory) => ({
    copy: (dst, dstStride, src, srcStride, length, count) =>
      exports.copyRuns(dst << 2, dstStride << 2, src << 2, srcStride << 2, length << 2, count),
    add: (dst, dstStride, src, srcStride, length, count) =>
      exports.addRuns(dst << 2, dstStride << 2, src << 2, srcStride << 2, length << 2, count),
    zero: (dst, dstStride, length, count) => {
      const heap = new Float32Array(memory.buffer);
      for (let r = 0; r < count; r++) heap.fill(0, dst + r * dstStride, dst + r * dstStride + length);
    },
    gather: (dst, dstStride, src, srcStride, srcStep, length, count) =>
      exports.gatherRuns(
        dst << 2,
        dstStride << 2,
        src << 2,
        srcStride << 2,
        srcStep << 2,
        length << 2,
        count,
      ),
    dot2x4: (a0, a1, b0, b1, b2, b3, length, out, outRowStride) =>
      exports.dot2x4(
        a0 << 2,
        a1 << 2,
        b0 << 2,
        b1 << 2,
        b2 << 2,
        b3 << 2,
        length << 2,
        out << 2,
        outRowStride << 2,
      ),
    maxWindow: (x, dx, g, rowStride, colStride, rows, cols, channels) =>
      exports.maxWindow(
        x << 2,
        (dx - x) << 2,
        g << 2,
        rowStride << 2,
        colStride << 2,
        rows,
        cols,
        channels << 2,
      ),
  }),
);

/**
 * The SIMD runs on `memory` (one module instance per memory, made on first use), or undefined where WebAssembly SIMD
 * or importing the memory is not possible (then use {@link javascriptRuns}).
 */
export function simdRuns(memory: WebAssembly.Memory): HeapRuns | undefined {
  return simdRunsOn(memory);
}

// --- the module ------------------------------------------------------------------------------------------------

// copyRuns / addRuns parameters (byte addresses and lengths): dst, dstStride, src, srcStride, lengthBytes, count;
// locals: k (byte position in the run), vectorEnd (the bytes handled 16 at a time).
const DST = 0;
const DST_STRIDE = 1;
const SRC = 2;
const SRC_STRIDE = 3;
const LENGTH = 4;
const COUNT = 5;
const K = 6;
const VECTOR_END = 7;

/** Next run: dst += dstStride, src += srcStride, count −= 1. */
const nextRun = [
  ...increment(DST, get(DST_STRIDE)),
  ...increment(SRC, get(SRC_STRIDE)),
  ...increment(COUNT, i32(-1)),
];

/**
 * for (; count != 0; count--, dst += dstStride, src += srcStride) {
 *   for (k = 0; k < vectorEnd; k += 16) store128(dst + k, combine(load128(dst + k), load128(src + k)));
 *   for (; k < length; k += 4) store32(dst + k, combine(load32(dst + k), load32(src + k)));
 * }
 * `combine` is the second operand (copy) or the sum (add).
 */
function runLoop(accumulate: boolean): AssembledFunction {
  const address = (base: number) => [...get(base), ...get(K), op.i32Add];
  const vectorBody = [
    ...address(DST),
    ...(accumulate ? [...address(DST), ...simdOp(simd.v128Load), ...memarg] : []),
    ...address(SRC),
    ...simdOp(simd.v128Load),
    ...memarg,
    ...(accumulate ? simdOp(simd.f32x4Add) : []),
    ...simdOp(simd.v128Store),
    ...memarg,
    ...increment(K, i32(16)),
  ];
  const scalarBody = [
    ...address(DST),
    ...(accumulate ? [...address(DST), op.f32Load, ...memarg] : []),
    ...address(SRC),
    op.f32Load,
    ...memarg,
    ...(accumulate ? [op.f32Add] : []),
    op.f32Store,
    ...memarg,
    ...increment(K, i32(4)),
  ];
  const code = [
    ...get(LENGTH),
    ...i32(-16),
    op.i32And,
    ...set(VECTOR_END),
    ...whileNot(
      [...get(COUNT), op.i32Eqz],
      [
        ...i32(0),
        ...set(K),
        ...whileNot([...get(K), ...get(VECTOR_END), op.i32GeS], vectorBody),
        ...whileNot([...get(K), ...get(LENGTH), op.i32GeS], scalarBody),
        ...nextRun,
      ],
    ),
  ];
  return { name: accumulate ? 'addRuns' : 'copyRuns', params: 6, locals: [I32, I32], code };
}

// gatherRuns parameters: dst, dstStride, src, srcStride, srcStep, lengthBytes, count; locals d, s, end.
const G_SRC_STEP = 4;
const G_LENGTH = 5;
const G_COUNT = 6;
const G_D = 7;
const G_S = 8;
const G_END = 9;

/**
 * for (; count != 0; count--, dst += dstStride, src += srcStride)
 *   for (d = dst, s = src, end = dst + length; d < end; d += 4, s += srcStep) store32(d, load32(s));
 */
function gatherLoop(): AssembledFunction {
  const code = whileNot(
    [...get(G_COUNT), op.i32Eqz],
    [
      ...get(DST),
      ...set(G_D),
      ...get(SRC),
      ...set(G_S),
      ...get(DST),
      ...get(G_LENGTH),
      op.i32Add,
      ...set(G_END),
      ...whileNot(
        [...get(G_D), ...get(G_END), op.i32GeU],
        [
          ...get(G_D),
          ...get(G_S),
          op.f32Load,
          ...memarg,
          op.f32Store,
          ...memarg,
          ...increment(G_D, i32(4)),
          ...increment(G_S, get(G_SRC_STEP)),
        ],
      ),
      ...increment(DST, get(DST_STRIDE)),
      ...increment(SRC, get(SRC_STRIDE)),
      ...increment(G_COUNT, i32(-1)),
    ],
  );
  return { name: 'gatherRuns', params: 7, locals: [I32, I32, I32], code };
}

// maxWindow parameters: x, dxMinusX, g, rowStride, colStride, rows, cols, channelBytes (all in bytes but rows/cols);
// locals: channel byte offset, row start, address, row, column, and the v128 best values and their addresses.
const W_X = 0;
const W_DX = 1;
const W_G = 2;
const W_ROW_STRIDE = 3;
const W_COL_STRIDE = 4;
const W_ROWS = 5;
const W_COLS = 6;
const W_CHANNEL_BYTES = 7;
const W_C = 8;
const W_ROW = 9;
const W_AT = 10;
const W_R = 11;
const W_T = 12;
const W_BEST = 13;
const W_WHERE = 14;
const W_V = 15;
const W_MASK = 16;

/** The byte addresses of the 4 lanes of a vector at the address on the stack: splat(address) + (0, 4, 8, 12). */
const laneAddresses = [
  ...simdOp(simd.i32x4Splat),
  ...simdOp(simd.v128Const),
  ...[0, 4, 8, 12].flatMap((v) => [v, 0, 0, 0]),
  ...simdOp(simd.i32x4Add),
];

/**
 * for (c = 0; c < channelBytes; c += 16) {
 *   best = load128(x + c); where = lanes(x + c);
 *   for r < rows, t < cols: at = x + r·rowStride + t·colStride + c; v = load128(at);
 *     mask = v > best; best = mask ? v : best; where = mask ? lanes(at) : where;
 *   for each lane l: store32(where[l] + dxMinusX, load32(where[l] + dxMinusX) + load32(g + c + 4l));
 * }
 * Strictly greater keeps the first maximum, as TensorFlow's rule (and NaN never replaces, as in JavaScript).
 */
function maxWindowLoop(): AssembledFunction {
  const scatterLane = (lane: number) => [
    ...get(W_WHERE),
    ...simdOp(simd.i32x4ExtractLane),
    lane,
    ...get(W_DX),
    op.i32Add,
    ...set(W_AT),
    ...get(W_AT),
    ...get(W_AT),
    op.f32Load,
    ...memarg,
    ...get(W_G),
    ...get(W_C),
    op.i32Add,
    ...i32(4 * lane),
    op.i32Add,
    op.f32Load,
    ...memarg,
    op.f32Add,
    op.f32Store,
    ...memarg,
  ];
  const visit = [
    ...get(W_AT),
    ...simdOp(simd.v128Load),
    ...memarg,
    ...set(W_V),
    ...get(W_V),
    ...get(W_BEST),
    ...simdOp(simd.f32x4Gt),
    ...set(W_MASK),
    ...get(W_V),
    ...get(W_BEST),
    ...get(W_MASK),
    ...simdOp(simd.v128Bitselect),
    ...set(W_BEST),
    ...get(W_AT),
    ...laneAddresses,
    ...get(W_WHERE),
    ...get(W_MASK),
    ...simdOp(simd.v128Bitselect),
    ...set(W_WHERE),
  ];
  const code = [
    ...i32(0),
    ...set(W_C),
    ...whileNot(
      [...get(W_C), ...get(W_CHANNEL_BYTES), op.i32GeS],
      [
        ...get(W_X),
        ...get(W_C),
        op.i32Add,
        ...set(W_ROW),
        ...get(W_ROW),
        ...simdOp(simd.v128Load),
        ...memarg,
        ...set(W_BEST),
        ...get(W_ROW),
        ...laneAddresses,
        ...set(W_WHERE),
        ...i32(0),
        ...set(W_R),
        ...whileNot(
          [...get(W_R), ...get(W_ROWS), op.i32GeS],
          [
            ...get(W_ROW),
            ...set(W_AT),
            ...i32(0),
            ...set(W_T),
            ...whileNot(
              [...get(W_T), ...get(W_COLS), op.i32GeS],
              [...visit, ...increment(W_AT, get(W_COL_STRIDE)), ...increment(W_T, i32(1))],
            ),
            ...increment(W_ROW, get(W_ROW_STRIDE)),
            ...increment(W_R, i32(1)),
          ],
        ),
        ...scatterLane(0),
        ...scatterLane(1),
        ...scatterLane(2),
        ...scatterLane(3),
        ...increment(W_C, i32(16)),
      ],
    ),
  ];
  return { name: 'maxWindow', params: 8, locals: [I32, I32, I32, I32, I32, V128, V128, V128, V128], code };
}

// dot2x4 parameters: a0, a1, b0, b1, b2, b3, lengthBytes, out, outRowStride; locals: k, the 8 accumulators, a0, a1, b.
const D_A = [0, 1];
const D_B = [2, 3, 4, 5];
const D_LENGTH = 6;
const D_OUT = 7;
const D_OUT_ROW = 8;
const D_K = 9;
const D_ACC = (r: number, c: number) => 10 + r * 4 + c;
const D_VA = [18, 19];
const D_VB = 20;

/**
 * for (k = 0; k < length; k += 16) { va_r = load128(a_r + k); for c: vb = load128(b_c + k); acc_rc += va_r · vb; }
 * out[r][c] += ((acc_rc[0] + acc_rc[1]) + acc_rc[2]) + acc_rc[3].
 */
function dotLoop(): AssembledFunction {
  const load = (base: number) => loadAt(base, D_K);
  const body = [
    ...load(D_A[0]),
    ...set(D_VA[0]),
    ...load(D_A[1]),
    ...set(D_VA[1]),
    ...[0, 1, 2, 3].flatMap((c) => [
      ...load(D_B[c]),
      ...set(D_VB),
      ...[0, 1].flatMap((r) => [
        ...get(D_ACC(r, c)),
        ...get(D_VA[r]),
        ...get(D_VB),
        ...simdOp(simd.f32x4Mul),
        ...simdOp(simd.f32x4Add),
        ...set(D_ACC(r, c)),
      ]),
    ]),
    ...increment(D_K, i32(16)),
  ];
  const lane = (r: number, c: number, l: number) => [
    ...get(D_ACC(r, c)),
    ...simdOp(simd.f32x4ExtractLane),
    l,
  ];
  const store = (r: number, c: number) => {
    const address = [
      ...get(D_OUT),
      ...(r === 1 ? [...get(D_OUT_ROW), op.i32Add] : []),
      ...i32(4 * c),
      op.i32Add,
    ];
    const sum = [
      ...lane(r, c, 0),
      ...lane(r, c, 1),
      op.f32Add,
      ...lane(r, c, 2),
      op.f32Add,
      ...lane(r, c, 3),
      op.f32Add,
    ];
    return [...address, ...address, op.f32Load, ...memarg, ...sum, op.f32Add, op.f32Store, ...memarg];
  };
  const code = [
    ...i32(0),
    ...set(D_K),
    ...whileNot([...get(D_K), ...get(D_LENGTH), op.i32GeS], body),
    ...[0, 1].flatMap((r) => [0, 1, 2, 3].flatMap((c) => store(r, c))),
  ];
  return { name: 'dot2x4', params: 9, locals: [I32, ...Array.from({ length: 11 }, () => V128)], code };
}

/** The module's functions: copyRuns, addRuns, gatherRuns, maxWindow and dot2x4. */
function kernelFunctions(): AssembledFunction[] {
  return [runLoop(false), runLoop(true), gatherLoop(), maxWindowLoop(), dotLoop()];
}

/** The module: imports env.memory (a shared one with `sharedMemory`); exports the functions above. */
export function kernelModule(options: { readonly sharedMemory?: boolean } = {}): Uint8Array<ArrayBuffer> {
  return assembleModule(kernelFunctions(), options);
}
