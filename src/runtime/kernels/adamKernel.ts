/**
 * One Adam update of a whole tensor in one pass over the wasm backend's heap, with 128-bit SIMD:
 *
 *   m' = m·β₁ + g·(1 − β₁),   v' = v·β₂ + (g·g)·(1 − β₂),   w' = w + (m' / (√v' + ε̂))·s,
 *
 * each operation rounded to float32 in this order — the order of `FusedAdamOptimizer`'s TF.js kernels, so the
 * results are bit-identical to them. Why: those are 12 kernels per variable, each a pass over memory plus the
 * engine's bookkeeping (108 kernels and ≈ 3.5 ms of kernel time in a Sparse VD LeNet-300-100 step); this is one
 * pass.
 * Where the module cannot be instantiated (no SIMD) the same arithmetic runs in JavaScript, also bit-identical
 * (float32 +, ×, ÷ and √ computed in float64 and rounded once are correctly rounded).
 */
import type { HeapHelper } from './heapHelper.js';
import {
  type AssembledFunction,
  I32,
  V128,
  address,
  get,
  loadAt,
  perMemoryModule,
  set,
  splatFrom,
  vec,
  vectorLoop,
} from './wasmAssembler.js';

/** The scalars of one update, in the order the kernel reads them. */
export interface AdamScalars {
  readonly beta1: number;
  readonly oneMinusBeta1: number;
  readonly beta2: number;
  readonly oneMinusBeta2: number;
  /** ε̂, added to √v'. */
  readonly epsilon: number;
  /** s, the signed step size multiplying the ratio. */
  readonly step: number;
}

/** Element indices (float32 units) on the heap of one update's operands and results, and their length. */
export interface AdamOperands {
  readonly w: number;
  readonly m: number;
  readonly v: number;
  readonly g: number;
  readonly outW: number;
  readonly outM: number;
  readonly outV: number;
  readonly length: number;
}

/** The update on one heap. */
export interface AdamKernel {
  /**
   * Writes m', v' and w' for `length` elements. `scalars` is the element index of 6 float32 values laid out as
   * {@link AdamScalars} (written there with {@link writeAdamScalars}). With a `helper` thread (`heapHelper.ts`) a
   * long update is split in two halves, one per thread.
   */
  update(heap: Float32Array, operands: AdamOperands, scalars: number, helper?: HeapHelper): void;
}

/** Updates at least this long are split with a helper thread, when one is given. */
const SHARED_UPDATE_MIN = 65536;

/** Writes the scalars at element index `at` of `heap`, rounded to float32 (as TF.js scalar tensors are). */
export function writeAdamScalars(heap: Float32Array, at: number, s: AdamScalars): void {
  heap.set([s.beta1, s.oneMinusBeta1, s.beta2, s.oneMinusBeta2, s.epsilon, s.step], at);
}

const f = Math.fround;

/** Elements `[from, length)` in JavaScript (the fallback and the SIMD loop's tail). */
function updateScalar(heap: Float32Array, o: AdamOperands, scalars: number, from: number): void {
  const [b1, c1, b2, c2, eps, step] = heap.subarray(scalars, scalars + 6);
  for (let i = from; i < o.length; i++) {
    const g = heap[o.g + i];
    const m = f(f(heap[o.m + i] * b1) + f(g * c1));
    const v = f(f(heap[o.v + i] * b2) + f(f(g * g) * c2));
    heap[o.outM + i] = m;
    heap[o.outV + i] = v;
    heap[o.outW + i] = f(heap[o.w + i] + f(f(m / f(f(Math.sqrt(v)) + eps)) * step));
  }
}

/** The JavaScript form of the kernel. */
export const javascriptAdam: AdamKernel = {
  update: (heap, operands, scalars) => updateScalar(heap, operands, scalars, 0),
};

// Parameters (byte addresses): w, m, v, g, outW, outM, outV, scalars, vectorBytes; then locals.
const [W, M, V, G, OUT_W, OUT_M, OUT_V, SCALARS, BYTES] = [0, 1, 2, 3, 4, 5, 6, 7, 8];
const K = 9;
const [B1, C1, B2, C2, EPS, STEP, NEW_M, NEW_V] = [10, 11, 12, 13, 14, 15, 16, 17];

/** The update as a module function (exported as `adam`). */
export function adamLoop(): AssembledFunction {
  const load = (base: number) => loadAt(base, K);
  const { mul, add } = vec;
  const body = [
    // m' = m·β₁ + g·(1 − β₁)
    ...load(M),
    ...get(B1),
    ...mul,
    ...load(G),
    ...get(C1),
    ...mul,
    ...add,
    ...set(NEW_M),
    ...address(OUT_M, K),
    ...get(NEW_M),
    ...vec.store,
    // v' = v·β₂ + (g·g)·(1 − β₂)
    ...load(V),
    ...get(B2),
    ...mul,
    ...load(G),
    ...load(G),
    ...mul,
    ...get(C2),
    ...mul,
    ...add,
    ...set(NEW_V),
    ...address(OUT_V, K),
    ...get(NEW_V),
    ...vec.store,
    // w' = w + (m' / (√v' + ε̂))·s
    ...address(OUT_W, K),
    ...load(W),
    ...get(NEW_M),
    ...get(NEW_V),
    ...vec.sqrt,
    ...get(EPS),
    ...add,
    ...vec.div,
    ...get(STEP),
    ...mul,
    ...add,
    ...vec.store,
  ];
  const code = [
    ...[B1, C1, B2, C2, EPS, STEP].flatMap((local, index) => splatFrom(SCALARS, index, local)),
    ...vectorLoop(K, BYTES, body),
  ];
  return { name: 'adam', params: 9, locals: [I32, V128, V128, V128, V128, V128, V128, V128, V128], code };
}

type AdamExport = (
  w: number,
  m: number,
  v: number,
  g: number,
  outW: number,
  outM: number,
  outV: number,
  scalars: number,
  vectorBytes: number,
) => void;

const simdAdamOn = perMemoryModule<{ adam: AdamExport }, AdamKernel>(
  () => [adamLoop()],
  ({ adam }) => ({
    update(heap, o, scalars, helper) {
      const vectorLength = o.length & ~3;
      const args = (from: number, to: number): Parameters<AdamExport> => [
        (o.w + from) << 2,
        (o.m + from) << 2,
        (o.v + from) << 2,
        (o.g + from) << 2,
        (o.outW + from) << 2,
        (o.outM + from) << 2,
        (o.outV + from) << 2,
        scalars << 2,
        (to - from) << 2,
      ];
      if (helper && vectorLength >= SHARED_UPDATE_MIN) helper.splitRange('adam', adam, args, vectorLength);
      else adam(...args(0, vectorLength));
      updateScalar(heap, o, scalars, vectorLength);
    },
  }),
);

/** The SIMD kernel on `memory` (one instance per memory), or the JavaScript one where SIMD is unavailable. */
export function adamKernel(memory: WebAssembly.Memory | undefined): AdamKernel {
  return (memory && simdAdamOn(memory)) ?? javascriptAdam;
}
