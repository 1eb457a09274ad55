/**
 * Just enough of the WebAssembly binary format (core 1.0 + fixed-width SIMD) to assemble a small module of loops from
 * TypeScript, so that no compiler toolchain is needed: instructions are arrays of bytes, concatenated.
 */

/** Value types. */
export const I32 = 0x7f;
export const V128 = 0x7b;

/** Core opcodes used by the kernels. */
export const op = {
  block: 0x02,
  loop: 0x03,
  br: 0x0c,
  brIf: 0x0d,
  end: 0x0b,
  localGet: 0x20,
  localSet: 0x21,
  i32Const: 0x41,
  i32Eqz: 0x45,
  i32GeS: 0x4e,
  i32GeU: 0x4f,
  i32Add: 0x6a,
  i32Sub: 0x6b,
  i32And: 0x71,
  f32Load: 0x2a,
  f32Store: 0x38,
  f32Add: 0x92,
  /** Block type of a block or loop that yields nothing. */
  empty: 0x40,
} as const;

/** SIMD opcodes (after the 0xfd prefix). */
export const simd = {
  v128Load: 0x00,
  v128Load32Splat: 0x09,
  v128Store: 0x0b,
  v128Const: 0x0c,
  i32x4Splat: 0x11,
  i32x4ExtractLane: 0x1b,
  f32x4ExtractLane: 0x1f,
  f32x4Lt: 0x43,
  f32x4Gt: 0x44,
  f32x4Le: 0x45,
  f32x4Ge: 0x46,
  v128And: 0x4e,
  v128Or: 0x50,
  v128Bitselect: 0x52,
  f32x4Floor: 0x68,
  i32x4Shl: 0xab,
  i32x4ShrU: 0xad,
  i32x4Add: 0xae,
  i32x4Sub: 0xb1,
  f32x4Abs: 0xe0,
  f32x4Sqrt: 0xe3,
  f32x4Add: 0xe4,
  f32x4Sub: 0xe5,
  f32x4Mul: 0xe6,
  f32x4Div: 0xe7,
  f32x4Min: 0xe8,
  f32x4Max: 0xe9,
  i32x4TruncSatF32x4S: 0xf8,
  f32x4ConvertI32x4S: 0xfa,
} as const;

/** Unsigned LEB128. */
export function unsigned(value: number): number[] {
  const bytes: number[] = [];
  do {
    let byte = value & 0x7f;
    value >>>= 7;
    if (value !== 0) byte |= 0x80;
    bytes.push(byte);
  } while (value !== 0);
  return bytes;
}

/** Signed LEB128 of a 32-bit integer. */
export function signed(value: number): number[] {
  const bytes: number[] = [];
  for (;;) {
    const byte = value & 0x7f;
    value >>= 7;
    const done = (value === 0 && (byte & 0x40) === 0) || (value === -1 && (byte & 0x40) !== 0);
    bytes.push(done ? byte : byte | 0x80);
    if (done) return bytes;
  }
}

/** A length-prefixed vector of encoded items. */
export function vector(items: number[][]): number[] {
  return [...unsigned(items.length), ...items.flat()];
}

/** A name (UTF-8 bytes, length-prefixed; ASCII here). */
export function name(text: string): number[] {
  return vector([...text].map((ch) => [ch.charCodeAt(0)]));
}

export function section(id: number, body: number[]): number[] {
  return [id, ...unsigned(body.length), ...body];
}

export const get = (local: number): number[] => [op.localGet, ...unsigned(local)];
export const set = (local: number): number[] => [op.localSet, ...unsigned(local)];
export const i32 = (value: number): number[] => [op.i32Const, ...signed(value)];
export const simdOp = (code: number): number[] => [0xfd, ...unsigned(code)];
/** Memory immediate: alignment exponent 0 (any address), offset 0. */
export const memarg = [0, 0];

/** `local += value` for an i32 local. */
export function increment(local: number, value: number[]): number[] {
  return [...get(local), ...value, op.i32Add, ...set(local)];
}

/** `while (!(exit)) { body }` where `exit` leaves an i32 condition on the stack. */
export function whileNot(exit: number[], body: number[]): number[] {
  return [op.block, op.empty, op.loop, op.empty, ...exit, op.brIf, 1, ...body, op.br, 0, op.end, op.end];
}

/** `v128.const` with the same 4 bytes in each lane. */
function splatConst(write: (lane: DataView) => void): number[] {
  const bytes = new Uint8Array(16);
  for (let lane = 0; lane < 4; lane++) write(new DataView(bytes.buffer, lane * 4, 4));
  return [...simdOp(simd.v128Const), ...bytes];
}

/** `v128.const` of four equal float32 lanes. */
export const f32x4 = (value: number): number[] => splatConst((lane) => lane.setFloat32(0, value, true));
/** `v128.const` of four equal int32 lanes. */
export const i32x4 = (value: number): number[] => splatConst((lane) => lane.setUint32(0, value >>> 0, true));

/** Vector instructions the loops use, as byte sequences. */
export const vec = {
  add: simdOp(simd.f32x4Add),
  sub: simdOp(simd.f32x4Sub),
  mul: simdOp(simd.f32x4Mul),
  div: simdOp(simd.f32x4Div),
  min: simdOp(simd.f32x4Min),
  max: simdOp(simd.f32x4Max),
  abs: simdOp(simd.f32x4Abs),
  sqrt: simdOp(simd.f32x4Sqrt),
  floor: simdOp(simd.f32x4Floor),
  lt: simdOp(simd.f32x4Lt),
  le: simdOp(simd.f32x4Le),
  ge: simdOp(simd.f32x4Ge),
  and: simdOp(simd.v128And),
  or: simdOp(simd.v128Or),
  store: [...simdOp(simd.v128Store), ...memarg],
} as const;

/** The byte address `base + k` (two i32 locals) on the stack. */
export const address = (base: number, k: number): number[] => [...get(base), ...get(k), op.i32Add];

/** The vector at byte address `base + k` on the stack. */
export const loadAt = (base: number, k: number): number[] => [
  ...address(base, k),
  ...simdOp(simd.v128Load),
  ...memarg,
];

/** `local` ← the float32 at index `index` after the byte address in local `pointer`, in all four lanes. */
export const splatFrom = (pointer: number, index: number, local: number): number[] => [
  ...get(pointer),
  ...i32(4 * index),
  op.i32Add,
  ...simdOp(simd.v128Load32Splat),
  ...memarg,
  ...set(local),
];

/** `for (k = 0; k < bytes; k += 16) body` over i32 locals `k` and `bytes`. */
export function vectorLoop(k: number, bytes: number, body: number[]): number[] {
  return [
    ...i32(0),
    ...set(k),
    ...whileNot([...get(k), ...get(bytes), op.i32GeS], [...body, ...increment(k, i32(16))]),
  ];
}

/** Whether the 4 int32 lanes at element index `at` of `heap` are all −1 (a loop's all-true mask, stored there). */
export function allLanesTrue(heap: Float32Array, at: number): boolean {
  return new Int32Array(heap.buffer, heap.byteOffset + (at << 2), 4).every((lane) => lane === -1);
}

/** A function body: its extra locals (types in order) and code. */
export function functionBody(locals: readonly number[], code: number[]): number[] {
  const declared = vector(locals.map((type) => [1, type]));
  const body = [...declared, ...code, op.end];
  return [...unsigned(body.length), ...body];
}

/** One exported function of a module: its i32 parameter count, extra locals and code. */
export interface AssembledFunction {
  readonly name: string;
  readonly params: number;
  readonly locals: readonly number[];
  readonly code: number[];
}

/** Pages of a 32-bit WebAssembly memory at most (4 GiB); a shared memory import must declare a maximum. */
const MAX_PAGES = 65536;

/**
 * A module importing `env.memory` and exporting `functions` (all (i32 × params) → ()). With `sharedMemory` the import
 * is a shared memory (the threaded wasm build's, backed by a SharedArrayBuffer) of maximum 4 GiB, which accepts any
 * shared memory since an import matches a memory whose maximum is at most the declared one.
 */
export function assembleModule(
  functions: readonly AssembledFunction[],
  { sharedMemory = false }: { readonly sharedMemory?: boolean } = {},
): Uint8Array<ArrayBuffer> {
  const arities = [...new Set(functions.map((f) => f.params))];
  const funcType = (params: number) => [
    0x60,
    ...vector(Array.from({ length: params }, () => [I32])),
    ...vector([]),
  ];
  // Limits: flags 0x00 (minimum only) or 0x03 (shared, minimum and maximum); minimum 1 page.
  const memoryLimits = sharedMemory ? [0x03, ...unsigned(1), ...unsigned(MAX_PAGES)] : [0x00, ...unsigned(1)];
  const bytes = [
    ...[0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00],
    ...section(1, vector(arities.map(funcType))),
    ...section(2, vector([[...name('env'), ...name('memory'), 0x02, ...memoryLimits]])),
    ...section(3, vector(functions.map((f) => unsigned(arities.indexOf(f.params))))),
    ...section(7, vector(functions.map((f, i) => [...name(f.name), 0x00, ...unsigned(i)]))),
    ...section(10, vector(functions.map((f) => functionBody(f.locals, f.code)))),
  ];
  return new Uint8Array(bytes);
}

/**
 * One instance per `WebAssembly.Memory` of a module assembled from `functions` and imported against that memory
 * (declared shared when the memory is, as the threaded build's), wrapped by `wrap`; undefined where it cannot be
 * instantiated (no SIMD, a content security policy). Instances are made on first use and cached per memory.
 */
export function perMemoryModule<Exports, T>(
  functions: () => readonly AssembledFunction[],
  wrap: (exports: Exports, memory: WebAssembly.Memory) => T,
): (memory: WebAssembly.Memory) => T | undefined {
  const instances = new WeakMap<WebAssembly.Memory, T | null>();
  return (memory) => {
    let instance = instances.get(memory);
    if (instance === undefined) {
      try {
        const shared = typeof SharedArrayBuffer !== 'undefined' && memory.buffer instanceof SharedArrayBuffer;
        const module = new WebAssembly.Module(assembleModule(functions(), { sharedMemory: shared }));
        instance = wrap(new WebAssembly.Instance(module, { env: { memory } }).exports as Exports, memory);
      } catch {
        instance = null;
      }
      instances.set(memory, instance);
    }
    return instance ?? undefined;
  };
}
