/**
 * The plain float32 matrix product C = A·B (A `[M, K]`, B `[K, N]`, C `[M, N]`, row-major, on the wasm heap) as
 * 128-bit SIMD register tiles that read B where it lies.
 *
 * Why: the wasm backend hands every product to XNNPACK, which first packs B into its own layout, and caches the
 * packing by B's tensor id. During training B is a new tensor at every step (the weights after an update, a
 * gradient), so the packing is paid on every product, on one thread: for the 784×300 kernel of LeNet-300-100 it
 * costs about 1 ms on top of a ~2 ms product (measured: fresh against cached B). Here a 4×8 tile of C stays in
 * eight registers while k runs over the shared dimension — per k, two vector loads of B's row, four broadcast loads
 * of A and sixteen vector operations — and B's 8-column panel, reused by every row tile, stays in the first-level
 * cache. No packing, no allocation.
 *
 * Each C element is the sum over k = 0 … K−1 in that order, each product and sum rounded to float32 (the naive
 * order; XNNPACK's differs in the last bits).
 */
import {
  type AssembledFunction,
  I32,
  V128,
  get,
  i32,
  increment,
  op,
  perMemoryModule,
  set,
  simd,
  simdOp,
  unsigned,
  vec,
  whileNot,
} from './wasmAssembler.js';

/** A product on one heap, all positions in float32 elements of the heap. */
export interface GemmKernel {
  /**
   * C[i, :] = A[i, :]·B for the rows `rowStart ≤ i < rowEnd` (all rows by default), with A at element `a`, B at `b`
   * and C at `c` of `heap` (C must not overlap A or B).
   */
  multiply(heap: Float32Array, p: GemmOperands, rowStart?: number, rowEnd?: number): void;
  /** The SIMD module's exports (absent for the JavaScript form), for {@link runTileCalls}. */
  readonly exports?: Record<string, unknown>;
}

/** Where a product's operands lie on the heap (float32 element indices) and its dimensions. */
export interface GemmOperands {
  readonly a: number;
  readonly b: number;
  readonly c: number;
  readonly m: number;
  readonly k: number;
  readonly n: number;
}

// Parameters: A, B, C (byte addresses of the region's first elements), rows, column bytes, A's and B's/C's row strides.
const [A, B, C, ROWS, COL_BYTES, STRIDE_A, STRIDE_B] = [0, 1, 2, 3, 4, 5, 6];
// i32 locals, then v128 locals (accumulators, B vectors, the broadcast A value).
const [J, I, PA, PB, K_END, ROW_A, ROW_C, STRIDE_A2, STRIDE_A3] = [7, 8, 9, 10, 11, 12, 13, 14, 15];
const FIRST_V128 = 16;

const memargAt = (offset: number): number[] => [0, ...unsigned(offset)];
const loadVector = (offset: number): number[] => [...simdOp(simd.v128Load), ...memargAt(offset)];
const loadSplat = [...simdOp(simd.v128Load32Splat), ...memargAt(0)];
const storeVector = (offset: number): number[] => [...simdOp(simd.v128Store), ...memargAt(offset)];
const ZERO = [...simdOp(simd.v128Const), ...new Array<number>(16).fill(0)];

/** The loops for `rows` tiles of `mr` rows by `4·nv` columns (mr ∈ 1…4, nv ∈ 1, 2). */
function tile(mr: number, nv: number): AssembledFunction {
  const acc = (r: number, v: number) => FIRST_V128 + r * nv + v;
  const bVector = (v: number) => FIRST_V128 + mr * nv + v;
  const splat = FIRST_V128 + mr * nv + nv;
  const rowOffset = [
    [],
    [...get(STRIDE_A), op.i32Add],
    [...get(STRIDE_A2), op.i32Add],
    [...get(STRIDE_A3), op.i32Add],
  ];
  const kStep = [
    ...Array.from({ length: nv }, (_, v) => [...get(PB), ...loadVector(16 * v), ...set(bVector(v))]).flat(),
    ...Array.from({ length: mr }, (_, r) => [
      ...get(PA),
      ...rowOffset[r],
      ...loadSplat,
      ...set(splat),
      ...Array.from({ length: nv }, (_, v) => [
        ...get(acc(r, v)),
        ...get(splat),
        ...get(bVector(v)),
        ...vec.mul,
        ...vec.add,
        ...set(acc(r, v)),
      ]).flat(),
    ]).flat(),
    ...increment(PA, i32(4)),
    ...increment(PB, get(STRIDE_B)),
  ];
  // C's row r of the tile: ROW_C + r·STRIDE_B.
  const stores = Array.from({ length: mr }, (_, r) =>
    Array.from({ length: nv }, (_, v) => [
      ...get(ROW_C),
      ...Array.from({ length: r }, () => [...get(STRIDE_B), op.i32Add]).flat(),
      ...get(acc(r, v)),
      ...storeVector(16 * v),
    ]).flat(),
  ).flat();
  const rowTile = [
    ...Array.from({ length: mr * nv }, (_, x) => [...ZERO, ...set(FIRST_V128 + x)]).flat(),
    ...get(ROW_A),
    ...set(PA),
    ...get(B),
    ...get(J),
    op.i32Add,
    ...set(PB),
    ...get(ROW_A),
    ...get(STRIDE_A),
    op.i32Add,
    ...set(K_END),
    ...whileNot([...get(PA), ...get(K_END), op.i32GeU], kStep),
    ...stores,
    ...increment(I, i32(mr)),
    ...Array.from({ length: mr }, () => increment(ROW_A, get(STRIDE_A))).flat(),
    ...Array.from({ length: mr }, () => increment(ROW_C, get(STRIDE_B))).flat(),
  ];
  const code = [
    ...get(STRIDE_A),
    ...get(STRIDE_A),
    op.i32Add,
    ...set(STRIDE_A2),
    ...get(STRIDE_A2),
    ...get(STRIDE_A),
    op.i32Add,
    ...set(STRIDE_A3),
    ...i32(0),
    ...set(J),
    ...whileNot(
      [...get(J), ...get(COL_BYTES), op.i32GeS],
      [
        ...i32(0),
        ...set(I),
        ...get(A),
        ...set(ROW_A),
        ...get(C),
        ...get(J),
        op.i32Add,
        ...set(ROW_C),
        ...whileNot([...get(I), ...get(ROWS), op.i32GeS], rowTile),
        ...increment(J, i32(16 * nv)),
      ],
    ),
  ];
  const v128Locals = mr * nv + nv + 1;
  return {
    name: `tile${mr}x${4 * nv}`,
    params: 7,
    locals: [...new Array<number>(9).fill(I32), ...new Array<number>(v128Locals).fill(V128)],
    code,
  };
}

/** The tile functions, in the order {@link TileCall.tile} indexes them. */
const TILES: ReadonlyArray<readonly [number, number]> = [
  [4, 2],
  [4, 1],
  [1, 2],
  [1, 1],
];
const [T4X8, T4X4, T1X8, T1X4] = [0, 1, 2, 3];

/** One call of a tile function: its export name and its 7 arguments (byte addresses, counts, strides). */
export interface TileCall {
  readonly fn: string;
  readonly args: readonly [number, number, number, number, number, number, number];
}

/** The module's functions, in {@link TILES} order. */
export function gemmTileFunctions(): AssembledFunction[] {
  return TILES.map(([mr, nv]) => tile(mr, nv));
}

/**
 * The tile calls computing rows `[rowStart, rowEnd)` of C: 4×8 tiles, then a 4-column block, then single rows. A
 * column count that is not a multiple of 4 ends with a 4-column block at n − 4, which overlaps columns already done
 * and writes them again with the same values (same summation order), so no scalar tail is needed; hence n ≥ 4.
 */
export function gemmTileCalls(p: GemmOperands, rowStart: number, rowEnd: number): TileCall[] {
  if (p.n < 4 || p.k < 1)
    throw new RangeError(`the tiled product needs n ≥ 4 and k ≥ 1, got n ${p.n}, k ${p.k}`);
  const strideA = p.k << 2;
  const strideB = p.n << 2;
  const n8 = p.n & ~7;
  const blocks: Array<[number, number]> = []; // [first column, columns] of 4-column blocks after the 8-column part
  if (p.n - n8 >= 4) blocks.push([n8, 4]);
  if (p.n % 4 !== 0) blocks.push([p.n - 4, 4]);
  const rows4 = (rowEnd - rowStart) & ~3;
  const calls: TileCall[] = [];
  const add = (tile: number, row: number, rows: number, column: number, columns: number) => {
    if (rows <= 0 || columns <= 0) return;
    calls.push({
      fn: tileName(tile),
      args: [
        (p.a + row * p.k) << 2,
        (p.b + column) << 2,
        (p.c + row * p.n + column) << 2,
        rows,
        columns << 2,
        strideA,
        strideB,
      ],
    });
  };
  const single = rowStart + rows4;
  add(T4X8, rowStart, rows4, 0, n8);
  for (const [column, columns] of blocks) add(T4X4, rowStart, rows4, column, columns);
  add(T1X8, single, rowEnd - single, 0, n8);
  for (const [column, columns] of blocks) add(T1X4, single, rowEnd - single, column, columns);
  return calls;
}

type TileExport = (...args: TileCall['args']) => void;

/** Runs tile calls against a module's exports (the main thread's or a helper thread's instance). */
export function runTileCalls(exports: Record<string, unknown>, calls: readonly TileCall[]): void {
  for (const call of calls) (exports[call.fn] as TileExport)(...call.args);
}

function tileName(index: number): string {
  const [mr, nv] = TILES[index];
  return `tile${mr}x${4 * nv}`;
}

/** Rows `[r0, r1)` in JavaScript, in the kernel's summation order. */
function multiplyScalar(heap: Float32Array, p: GemmOperands, r0: number, r1: number): void {
  for (let i = r0; i < r1; i++)
    for (let j = 0; j < p.n; j++) {
      let s = 0;
      for (let k = 0; k < p.k; k++)
        s = Math.fround(s + Math.fround(heap[p.a + i * p.k + k] * heap[p.b + k * p.n + j]));
      heap[p.c + i * p.n + j] = s;
    }
}

/** The JavaScript form (used where SIMD is unavailable, and for n < 4). */
export const javascriptGemm: GemmKernel = {
  multiply: (heap, p, rowStart = 0, rowEnd = p.m) => multiplyScalar(heap, p, rowStart, rowEnd),
};

const simdGemmOn = perMemoryModule<Record<string, unknown>, GemmKernel>(gemmTileFunctions, (exports) => ({
  exports,
  multiply(heap, p, rowStart = 0, rowEnd = p.m) {
    if (p.n < 4 || p.k < 1) multiplyScalar(heap, p, rowStart, rowEnd);
    else runTileCalls(exports, gemmTileCalls(p, rowStart, rowEnd));
  },
}));

/** The SIMD kernel on `memory` (one instance per memory), or the JavaScript one where SIMD is unavailable. */
export function gemmKernel(memory: WebAssembly.Memory | undefined): GemmKernel {
  return (memory && simdGemmOn(memory)) ?? javascriptGemm;
}
