/**
 * `Exp` and `Log` of float32 tensors on the wasm backend as 128-bit SIMD loops over its heap. Why: the backend's own
 * kernels are scalar libm loops (≈ 9 ns per element); a Sparse VD LeNet-300-100 step takes exp(log σ²) and
 * log(θ² + 1e-8) of its 235k first-layer weights, 4.5 ms of its ≈ 26. These run at ≈ 2.5–3.3 ns per element
 * (measured: 0.59 and 0.77 ms for those two tensors).
 *
 * The functions are Cephes' `expf` and `logf` (S. Moshier), evaluated in float32 with the operations below in this
 * order — the JavaScript forms ({@link expf32}, {@link logf32}) round every operation the same way, so the SIMD loop
 * and its JavaScript tail agree bit for bit:
 * - exp x = 2ⁿ·(1 + r + r²·P(r)), n = ⌊x·log₂e + ½⌋, r = x − n·(ln 2 split in two), P of degree 5;
 * - log x = (m − 1) + (m − 1)³·Q(m − 1) − ½(m − 1)² + e·ln 2 (split in two), x = 2ᵉ·m, m ∈ [√½, √2), Q of degree 8.
 * Measured error ≤ 2 float32 ulps (the backend's: ≤ 1). Each loop also checks its inputs in the same pass (exp:
 * |x| ≤ 87; log: positive, normal, finite); if any input falls outside (NaN included), the result is discarded and the
 * backend's own kernel runs, so overflow, underflow, zeros, subnormals and NaN behave exactly as before. Tensors
 * under {@link SIMD_MATH_MIN_SIZE} elements and other dtypes go to the backend's kernel too.
 */
import type * as tf from '@tensorflow/tfjs';
import {
  type AssembledFunction,
  I32,
  V128,
  address,
  allLanesTrue,
  f32x4,
  get,
  i32,
  i32x4,
  loadAt,
  perMemoryModule,
  set,
  simd,
  simdOp,
  vec,
  vectorLoop,
} from './wasmAssembler.js';
import { WasmHeap } from './wasmHeap.js';

/** Below this many elements the backend's own kernels are used. */
export const SIMD_MATH_MIN_SIZE = 4096;

const f = Math.fround;

/** |x| bound of the exp loop: 2ⁿ stays a normal number and the result neither overflows nor underflows. */
const EXP_LIMIT = 87;
const LOG2E = f(Math.LOG2E);
const LN2_HIGH = f(0.693359375);
const LN2_LOW = f(-2.1219444e-4);
const EXP_P = [
  1.98756915e-4, 1.3981999507e-3, 8.3334519073e-3, 4.1665795894e-2, 1.6666665459e-1, 5.0000001201e-1,
].map(f);
const LOG_Q = [
  7.0376836292e-2, -1.151461031e-1, 1.167699874e-1, -1.2420140846e-1, 1.4249322787e-1, -1.6668057665e-1,
  2.0000714765e-1, -2.4999993993e-1, 3.3333331174e-1,
].map(f);
const SQRT_HALF = f(Math.SQRT1_2);
const MIN_NORMAL = f(1.1754943508222875e-38);
const MAX_FINITE = f(3.4028234663852886e38);

const scratch = new DataView(new ArrayBuffer(4));

/** Whether the exp loop computes x itself (else the backend's kernel must). */
function expInRange(x: number): boolean {
  return Math.abs(x) <= EXP_LIMIT;
}

/** Cephes expf of one float32 with |x| ≤ 87, rounded as the SIMD loop rounds. */
export function expf32(x: number): number {
  const n = Math.floor(f(f(x * LOG2E) + 0.5));
  let r = f(x - f(n * LN2_HIGH));
  r = f(r - f(n * LN2_LOW));
  const z = f(r * r);
  let y = EXP_P[0];
  for (let k = 1; k < EXP_P.length; k++) y = f(f(y * r) + EXP_P[k]);
  y = f(f(f(y * z) + r) + 1);
  scratch.setInt32(0, (n + 127) << 23, true);
  return f(y * scratch.getFloat32(0, true));
}

function logInRange(x: number): boolean {
  return x >= MIN_NORMAL && x <= MAX_FINITE;
}

/** Cephes logf of one positive normal float32, rounded as the SIMD loop rounds. */
export function logf32(x: number): number {
  scratch.setFloat32(0, x, true);
  const bits = scratch.getUint32(0, true);
  let e = (bits >>> 23) - 126;
  scratch.setUint32(0, (bits & 0x807fffff) | 0x3f000000, true);
  const m = scratch.getFloat32(0, true);
  let xm = f(m - 1);
  if (m < SQRT_HALF) {
    e -= 1;
    xm = f(xm + m);
  }
  const z = f(xm * xm);
  let y = LOG_Q[0];
  for (let k = 1; k < LOG_Q.length; k++) y = f(f(y * xm) + LOG_Q[k]);
  y = f(f(y * xm) * z);
  y = f(y + f(e * LN2_LOW));
  y = f(y - f(z * 0.5));
  return f(f(xm + y) + f(e * LN2_HIGH));
}

/** The unary functions these loops compute. */
export type SimdMathFunction = 'exp' | 'log';

const scalarForms: Record<
  SimdMathFunction,
  { value: (x: number) => number; inRange: (x: number) => boolean }
> = {
  exp: { value: expf32, inRange: expInRange },
  log: { value: logf32, inRange: logInRange },
};

/** The loops on one heap. */
export interface SimdMathLoops {
  /** Whether these are the SIMD loops (else the JavaScript forms). */
  readonly simd: boolean;
  /**
   * out[i] = fn(x[i]) for i < length (element indices on `heap`); `flag` is the index of 4 free float32 slots the SIMD
   * loop uses. Returns false, with `out` unspecified, when an input is outside the function's range.
   */
  run(
    fn: SimdMathFunction,
    heap: Float32Array,
    x: number,
    out: number,
    flag: number,
    length: number,
  ): boolean;
}

function scalarRun(
  fn: SimdMathFunction,
  heap: Float32Array,
  x: number,
  out: number,
  from: number,
  length: number,
) {
  const { value, inRange } = scalarForms[fn];
  for (let i = from; i < length; i++) {
    const v = heap[x + i];
    if (!inRange(v)) return false;
    heap[out + i] = value(v);
  }
  return true;
}

const javascriptLoops: SimdMathLoops = {
  simd: false,
  run: (fn, heap, x, out, _flag, length) => scalarRun(fn, heap, x, out, 0, length),
};

const { mul, add, sub } = vec;

// Parameters (byte addresses): x, out, flag, vectorBytes; locals: k, then vectors.
const [X_AT, OUT_AT, FLAG_AT, BYTES] = [0, 1, 2, 3];
const K = 4;
const [X, OK, A, B, C, D, E] = [5, 6, 7, 8, 9, 10, 11];

/** `for (k = 0; k < bytes; k += 16) { x = load(x + k); ok &= valid(x); store(out + k, value(x)) }; store(flag, ok)`. */
function loop(name: SimdMathFunction, valid: number[], value: number[]): AssembledFunction {
  const body = [
    ...loadAt(X_AT, K),
    ...set(X),
    ...get(OK),
    ...valid,
    ...vec.and,
    ...set(OK),
    ...address(OUT_AT, K),
    ...value,
    ...vec.store,
  ];
  const code = [
    ...i32x4(-1),
    ...set(OK),
    ...vectorLoop(K, BYTES, body),
    ...get(FLAG_AT),
    ...get(OK),
    ...vec.store,
  ];
  return { name, params: 4, locals: [I32, V128, V128, V128, V128, V128, V128, V128], code };
}

/** Horner's rule in `variable` over `coefficients` (highest degree first), leaving the value on the stack. */
function horner(variable: number, coefficients: readonly number[]): number[] {
  return [
    ...f32x4(coefficients[0]),
    ...coefficients.slice(1).flatMap((c) => [...get(variable), ...mul, ...f32x4(c), ...add]),
  ];
}

/**
 * Code leaving exp(x) on the stack (Cephes expf, as {@link expf32}) for the vector in local `x`, with three vector
 * locals as temporaries. Correct for |x| ≤ 87 only: callers check the range.
 */
export function expCode(x: number, [n, r, z]: readonly [number, number, number]): number[] {
  return [
    ...get(x),
    ...f32x4(LOG2E),
    ...mul,
    ...f32x4(0.5),
    ...add,
    ...vec.floor,
    ...set(n),
    ...get(x),
    ...get(n),
    ...f32x4(LN2_HIGH),
    ...mul,
    ...sub,
    ...get(n),
    ...f32x4(LN2_LOW),
    ...mul,
    ...sub,
    ...set(r),
    ...get(r),
    ...get(r),
    ...mul,
    ...set(z),
    ...horner(r, EXP_P),
    ...get(z),
    ...mul,
    ...get(r),
    ...add,
    ...f32x4(1),
    ...add,
    ...get(n),
    ...simdOp(simd.i32x4TruncSatF32x4S),
    ...i32x4(127),
    ...simdOp(simd.i32x4Add),
    ...i32(23),
    ...simdOp(simd.i32x4Shl),
    ...mul,
  ];
}

/**
 * Code leaving log(x) on the stack (Cephes logf, as {@link logf32}) for the vector in local `x`, with five vector
 * locals as temporaries. Correct for positive normal finite x only: callers check the range.
 */
export function logCode(
  x: number,
  [e, m, mask, xm, z]: readonly [number, number, number, number, number],
): number[] {
  return [
    // e = (bits >> 23) − 126;  m = (bits & 0x807fffff) | 0x3f000000  (m ∈ [½, 1))
    ...get(x),
    ...i32(23),
    ...simdOp(simd.i32x4ShrU),
    ...i32x4(126),
    ...simdOp(simd.i32x4Sub),
    ...set(e),
    ...get(x),
    ...i32x4(0x807fffff),
    ...vec.and,
    ...i32x4(0x3f000000),
    ...vec.or,
    ...set(m),
    ...get(m),
    ...f32x4(SQRT_HALF),
    ...vec.lt,
    ...set(mask),
    // e −= 1 where m < √½ (the mask lanes are −1), as a float
    ...get(e),
    ...get(mask),
    ...simdOp(simd.i32x4Add),
    ...simdOp(simd.f32x4ConvertI32x4S),
    ...set(e),
    // x = (m − 1) + (m where m < √½, else +0)
    ...get(m),
    ...f32x4(1),
    ...sub,
    ...get(mask),
    ...get(m),
    ...vec.and,
    ...add,
    ...set(xm),
    ...get(xm),
    ...get(xm),
    ...mul,
    ...set(z),
    ...horner(xm, LOG_Q),
    ...get(xm),
    ...mul,
    ...get(z),
    ...mul,
    ...get(e),
    ...f32x4(LN2_LOW),
    ...mul,
    ...add,
    ...get(z),
    ...f32x4(0.5),
    ...mul,
    ...sub,
    // (x + y) + e·LN2_HIGH, with y in m
    ...set(m),
    ...get(xm),
    ...get(m),
    ...add,
    ...get(e),
    ...f32x4(LN2_HIGH),
    ...mul,
    ...add,
  ];
}

function expLoop(): AssembledFunction {
  const valid = [...get(X), ...vec.abs, ...f32x4(EXP_LIMIT), ...vec.le];
  return loop('exp', valid, expCode(X, [A, B, C]));
}

function logLoop(): AssembledFunction {
  const valid = [
    ...get(X),
    ...f32x4(MIN_NORMAL),
    ...vec.ge,
    ...get(X),
    ...f32x4(MAX_FINITE),
    ...vec.le,
    ...vec.and,
  ];
  return loop('log', valid, logCode(X, [A, B, C, D, E]));
}

type LoopExport = (x: number, out: number, flag: number, bytes: number) => void;

const simdLoopsOn = perMemoryModule<Record<SimdMathFunction, LoopExport>, SimdMathLoops>(
  () => [expLoop(), logLoop()],
  (exports) => ({
    simd: true,
    run(fn, heap, x, out, flag, length) {
      const vectorLength = length & ~3;
      exports[fn](x << 2, out << 2, flag << 2, vectorLength << 2);
      return allLanesTrue(heap, flag) && scalarRun(fn, heap, x, out, vectorLength, length);
    },
  }),
);

/** The SIMD loops on `memory` (one instance per memory), or the JavaScript forms where SIMD is unavailable. */
export function simdMathLoops(memory: WebAssembly.Memory | undefined): SimdMathLoops {
  return (memory && simdLoopsOn(memory)) ?? javascriptLoops;
}

/** The backend's `Exp` or `Log` kernel (`fn`) wrapped: large float32 tensors take the SIMD loop. */
export function simdMathConfig(fn: SimdMathFunction, original: tf.KernelConfig): tf.KernelConfig {
  return {
    ...original,
    kernelFunc: (args) => {
      const x = args.inputs.x as tf.TensorInfo;
      const backend = args.backend as tf.KernelBackend;
      const heap = WasmHeap.of(backend);
      const size = x.shape.reduce((a, b) => a * b, 1);
      if (x.dtype !== 'float32' || size < SIMD_MATH_MIN_SIZE || heap === undefined)
        return original.kernelFunc(args);
      const out = heap.output([...x.shape]);
      const flag = heap.output([4]);
      let done = false;
      try {
        done = simdMathLoops(heap.memory()).run(
          fn,
          heap.f32,
          heap.offset(x),
          heap.offset(out),
          heap.offset(flag),
          size,
        );
      } finally {
        backend.disposeData(flag.dataId);
        if (!done) backend.disposeData(out.dataId);
      }
      return done ? out : original.kernelFunc(args);
    },
  };
}
