/**
 * The inner loop of sparse inference: a sparse matrix (CSR, one row per output unit) times a tile of activations
 * held feature-major — row i of the tile is feature i of `tileWidth` samples side by side — so that every stored
 * weight multiplies a contiguous run of samples. That run is what 128-bit SIMD works on: the kernel below keeps 16
 * samples (four f32x4 accumulators) in registers while it walks one output unit's weights, and loads each weight and
 * its column index once per 16 samples. A plain JavaScript loop of the same meaning is the fallback where
 * WebAssembly SIMD cannot be instantiated (and the reference the tests compare with).
 *
 * The module is assembled from its instructions with `src/runtime/kernels/wasmAssembler` (no toolchain) and owns its
 * memory: weights and activation tiles are copied in once per model and per tile, so the heap of the TF.js wasm
 * backend (which moves when it grows) is never touched.
 */

import {
  type AssembledFunction,
  I32,
  V128,
  assembleModule,
  get,
  i32,
  increment,
  op,
  set,
  simd,
  simdOp,
  unsigned,
  whileNot,
} from '../runtime/kernels/wasmAssembler.js';

/**
 * y ← act(W·x + b) on one feature-major tile, everything addressed in float32/int32 elements of the kernel's memory:
 * W is CSR with `rows` rows starting at `rowStart` (rows + 1 entries), column indices at `colIndex` and values at
 * `values`; x holds (columns of W) rows of `tileWidth` floats, y receives `rows` rows of `tileWidth` floats.
 * `tileWidth` is a multiple of 4. `relu` fuses max(·, 0).
 */
export type SparseTileProduct = (
  rowStart: number,
  colIndex: number,
  values: number,
  bias: number,
  x: number,
  y: number,
  rows: number,
  tileWidth: number,
  relu: boolean,
) => void;

/** A memory of float32/int32 elements and the sparse tile product that works on it. */
export interface SparseKernels {
  /** `simd` (the WebAssembly module) or `javascript`. */
  readonly kind: 'simd' | 'javascript';
  /** The memory's elements as float32 (valid until {@link grow}). */
  f32(): Float32Array;
  /** The memory's elements as int32 (valid until {@link grow}). */
  i32(): Int32Array;
  /** Makes the memory hold at least `elements` 4-byte elements (views taken before are then stale). */
  grow(elements: number): void;
  readonly product: SparseTileProduct;
}

/** The SIMD kernels on a fresh memory, or undefined where WebAssembly SIMD is unavailable. */
export function simdSparseKernels(): SparseKernels | undefined {
  let module: WebAssembly.Module;
  try {
    module = compiledModule();
  } catch {
    return undefined;
  }
  const memory = new WebAssembly.Memory({ initial: 1 });
  let exports: SimdExports;
  try {
    exports = new WebAssembly.Instance(module, { env: { memory } }).exports as unknown as SimdExports;
  } catch {
    return undefined;
  }
  return {
    kind: 'simd',
    f32: () => new Float32Array(memory.buffer),
    i32: () => new Int32Array(memory.buffer),
    grow(elements) {
      const pages = Math.ceil((elements * 4) / 65536) - memory.buffer.byteLength / 65536;
      if (pages > 0) memory.grow(pages);
    },
    product(rowStart, colIndex, values, bias, x, y, rows, tileWidth, relu) {
      const f = tileWidth % 16 === 0 ? exports.product16 : exports.product4;
      f(
        rowStart << 2,
        colIndex << 2,
        values << 2,
        bias << 2,
        x << 2,
        y << 2,
        rows,
        tileWidth << 2,
        relu ? 1 : 0,
      );
    },
  };
}

/** The same product in JavaScript on an ordinary buffer. */
export function javascriptSparseKernels(): SparseKernels {
  let buffer = new ArrayBuffer(65536);
  let f = new Float32Array(buffer);
  let n = new Int32Array(buffer);
  return {
    kind: 'javascript',
    f32: () => f,
    i32: () => n,
    grow(elements) {
      if (elements * 4 <= buffer.byteLength) return;
      const bigger = new ArrayBuffer(Math.ceil((elements * 4) / 65536) * 65536);
      new Uint8Array(bigger).set(new Uint8Array(buffer));
      buffer = bigger;
      f = new Float32Array(buffer);
      n = new Int32Array(buffer);
    },
    product(rowStart, colIndex, values, bias, x, y, rows, tileWidth, relu) {
      javascriptProduct(f, n, rowStart, colIndex, values, bias, x, y, rows, tileWidth, relu);
    },
  };
}

function javascriptProduct(
  f: Float32Array,
  n: Int32Array,
  rowStart: number,
  colIndex: number,
  values: number,
  bias: number,
  x: number,
  y: number,
  rows: number,
  tileWidth: number,
  relu: boolean,
): void {
  for (let j = 0; j < rows; j++) {
    const out = y + j * tileWidth;
    const b = f[bias + j];
    f.fill(b, out, out + tileWidth);
    const end = n[rowStart + j + 1];
    for (let k = n[rowStart + j]; k < end; k++) {
      const v = f[values + k];
      const from = x + n[colIndex + k] * tileWidth;
      for (let t = 0; t < tileWidth; t++) f[out + t] += Math.fround(v * f[from + t]);
    }
    if (relu) for (let t = out; t < out + tileWidth; t++) if (f[t] < 0) f[t] = 0;
  }
}

// --- the module ------------------------------------------------------------------------------------------------

interface SimdExports {
  product16: WasmProduct;
  product4: WasmProduct;
}
type WasmProduct = (
  rowStart: number,
  colIndex: number,
  values: number,
  bias: number,
  x: number,
  y: number,
  rows: number,
  tileBytes: number,
  relu: number,
) => void;

let compiled: WebAssembly.Module | undefined;

function compiledModule(): WebAssembly.Module {
  compiled ??= new WebAssembly.Module(sparseKernelModule());
  return compiled;
}

const I32_LOAD = 0x28;
const I32_MUL = 0x6c;
const V128_LOAD32_SPLAT = 0x09;
const F32X4_MAX = 0xe9;
const IF = 0x04;

// Parameters (byte addresses): rowStart, colIndex, values, bias, x, y, rows, tileBytes, relu.
const P_ROW_START = 0;
const P_COL = 1;
const P_VALUES = 2;
const P_BIAS = 3;
const P_X = 4;
const P_Y = 5;
const P_ROWS = 6;
const P_TILE = 7;
const P_RELU = 8;
// Locals: row counter, byte position of the current row's first/last weight, weight cursor, chunk offset, address,
// output row address; then v128: the weight, the bias, the accumulators.
const L_J = 9;
const L_START = 10;
const L_END = 11;
const L_K = 12;
const L_C = 13;
const L_ADDR = 14;
const L_OUT = 15;
const L_V = 16;
const L_B = 17;
const L_ACC = 18;

const memarg = (offset: number) => [2, ...unsigned(offset)];

/**
 * for (j = 0, out = y; j < rows; j++, out += tileBytes) {
 *   start = 4·rowStart[j]; end = 4·rowStart[j + 1]; b = splat(bias[j]);
 *   for (c = 0; c < tileBytes; c += 16·lanes) {
 *     acc_0..lanes−1 = b;
 *     for (k = start; k < end; k += 4) {
 *       v = splat(values[k]); addr = x + colIndex[k]·tileBytes + c;
 *       acc_l += v · load128(addr + 16 l);
 *     }
 *     if (relu) acc_l = max(acc_l, 0);
 *     store128(out + c + 16 l, acc_l);
 *   }
 * }
 */
function productLoop(name: string, vectors: number): AssembledFunction {
  const acc = (l: number) => L_ACC + l;
  const lanes = Array.from({ length: vectors }, (_, l) => l);
  const inner = [
    ...get(P_VALUES),
    ...get(L_K),
    op.i32Add,
    ...simdOp(V128_LOAD32_SPLAT),
    ...memarg(0),
    ...set(L_V),
    ...get(P_COL),
    ...get(L_K),
    op.i32Add,
    I32_LOAD,
    ...memarg(0),
    ...get(P_TILE),
    I32_MUL,
    ...get(P_X),
    op.i32Add,
    ...get(L_C),
    op.i32Add,
    ...set(L_ADDR),
    ...lanes.flatMap((l) => [
      ...get(acc(l)),
      ...get(L_V),
      ...get(L_ADDR),
      ...simdOp(simd.v128Load),
      ...memarg(16 * l),
      ...simdOp(simd.f32x4Mul),
      ...simdOp(simd.f32x4Add),
      ...set(acc(l)),
    ]),
    ...increment(L_K, i32(4)),
  ];
  const zero = [...simdOp(simd.v128Const), ...new Array<number>(16).fill(0)];
  const chunk = [
    ...lanes.flatMap((l) => [...get(L_B), ...set(acc(l))]),
    ...get(L_START),
    ...set(L_K),
    ...whileNot([...get(L_K), ...get(L_END), op.i32GeS], inner),
    ...get(P_RELU),
    IF,
    op.empty,
    ...lanes.flatMap((l) => [...get(acc(l)), ...zero, ...simdOp(F32X4_MAX), ...set(acc(l))]),
    op.end,
    ...lanes.flatMap((l) => [
      ...get(L_OUT),
      ...get(L_C),
      op.i32Add,
      ...get(acc(l)),
      ...simdOp(simd.v128Store),
      ...memarg(16 * l),
    ]),
    ...increment(L_C, i32(16 * vectors)),
  ];
  const rowAddress = (next: number) => [
    ...get(P_ROW_START),
    ...get(L_J),
    ...i32(4),
    I32_MUL,
    op.i32Add,
    I32_LOAD,
    ...memarg(4 * next),
    ...i32(4),
    I32_MUL,
  ];
  const row = [
    ...rowAddress(0),
    ...set(L_START),
    ...rowAddress(1),
    ...set(L_END),
    ...get(P_BIAS),
    ...get(L_J),
    ...i32(4),
    I32_MUL,
    op.i32Add,
    ...simdOp(V128_LOAD32_SPLAT),
    ...memarg(0),
    ...set(L_B),
    ...i32(0),
    ...set(L_C),
    ...whileNot([...get(L_C), ...get(P_TILE), op.i32GeS], chunk),
    ...increment(L_OUT, get(P_TILE)),
    ...increment(L_J, i32(1)),
  ];
  const code = [
    ...i32(0),
    ...set(L_J),
    ...get(P_Y),
    ...set(L_OUT),
    ...whileNot([...get(L_J), ...get(P_ROWS), op.i32GeS], row),
  ];
  const locals = [I32, I32, I32, I32, I32, I32, I32, V128, V128, ...lanes.map(() => V128)];
  return { name, params: 9, locals, code };
}

/** The module: imports env.memory; exports product16 (tiles of 16·m samples) and product4 (tiles of 4·m). */
export function sparseKernelModule(): Uint8Array<ArrayBuffer> {
  return assembleModule([productLoop('product16', 4), productLoop('product4', 1)]);
}
