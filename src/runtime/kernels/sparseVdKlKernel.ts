/**
 * The Sparse VD KL's per-weight terms and both gradients in one SIMD pass over the wasm backend's heap (the forward and
 * backward chain of `sparseVdKl` is ~30 kernels, each a pass over the 235k first-layer weights of LeNet-300-100).
 * Per weight, with q = θ² + 1e-8, raw = log σ² − log q, ℓ = clip(raw, −c, c):
 *
 *   u = 1 / (1 + exp(k3·ℓ + k2)),   e = exp(−ℓ),   s = 1 / (1 + e),
 *   term = k1·u + ½·log(1 + e)                       (KL = Σ term, as −½ log sigmoid(ℓ) = ½ log(1 + e^{−ℓ})),
 *   ∂/∂log σ² = [k1·k3·(u² − u) + ½(s − 1)]·[|raw| ≤ c],   ∂/∂θ = ∂/∂log σ² · (−2θ) / q,
 *
 * with exp and log as in `simdMath.ts`. The pass also checks its inputs (|θ| ≤ 1e18, |log σ²| ≤ 1e30, both finite);
 * if any is outside, it reports so and the caller uses the kernel chain, which propagates NaN and infinities.
 */
import type { HeapHelper } from './heapHelper.js';
import { expCode, logCode } from './simdMath.js';
import {
  type AssembledFunction,
  I32,
  V128,
  address,
  allLanesTrue,
  f32x4,
  get,
  i32x4,
  loadAt,
  perMemoryModule,
  set,
  splatFrom,
  vec,
  vectorLoop,
} from './wasmAssembler.js';

/** Element indices on the heap of one call's inputs and outputs, and their length. */
export interface SparseVdKlOperands {
  readonly theta: number;
  readonly logSigma2: number;
  readonly term: number;
  readonly dTheta: number;
  readonly dLogSigma2: number;
  readonly length: number;
}

/** The Sparse VD KL constants k1, k2, k3 and the clip c. */
export interface SparseVdKlConstants {
  readonly k1: number;
  readonly k2: number;
  readonly k3: number;
  readonly clip: number;
}

/** The pass on one heap. */
export interface SparseVdKlPass {
  /**
   * Writes term, ∂θ and ∂log σ² for every weight; `scratch` is the element index of 12 free float32 slots. With a
   * `helper` thread (`heapHelper.ts`) a long pass is split in two halves, one per thread. Returns false
   * (outputs unspecified) when an input is out of range. Lengths that are not a multiple of 4 are not supported:
   * returns false for them.
   */
  run(
    heap: Float32Array,
    o: SparseVdKlOperands,
    constants: SparseVdKlConstants,
    scratch: number,
    helper?: HeapHelper,
  ): boolean;
}

/** Passes at least this long are split with a helper thread, when one is given. */
const SHARED_PASS_MIN = 16384;

const THETA_LIMIT = 1e18;
const LOG_SIGMA2_LIMIT = 1e30;
const THETA_SQUARED_OFFSET = 1e-8;

const { mul, add, sub, div, and, le, abs } = vec;

// Parameters (byte addresses): theta, logSigma2, term, dTheta, dLogSigma2, scalars (k1, k2, k3, clip), flag, bytes.
const [THETA, LS, TERM, D_THETA, D_LS, SCALARS, FLAG, BYTES] = [0, 1, 2, 3, 4, 5, 6, 7];
const K = 8;
// Vector locals.
const [T, L, Q, RAW, LA, U, E, OK, K1, K2, K3, CLIP, T1, T2, T3, T4, T5] = [
  9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25,
];
const VECTOR_LOCALS = 17;

/** The pass as a module function (exported as `sparseVdKl`). */
export function klLoop(): AssembledFunction {
  const at = (base: number) => address(base, K);
  const one = f32x4(1);
  const body = [
    ...loadAt(THETA, K),
    ...set(T),
    ...loadAt(LS, K),
    ...set(L),
    // ok &= |θ| ≤ 1e18 & |log σ²| ≤ 1e30 (false for NaN)
    ...get(OK),
    ...get(T),
    ...abs,
    ...f32x4(THETA_LIMIT),
    ...le,
    ...and,
    ...get(L),
    ...abs,
    ...f32x4(LOG_SIGMA2_LIMIT),
    ...le,
    ...and,
    ...set(OK),
    // q = θ² + 1e-8;  raw = log σ² − log q;  ℓ = clip(raw)
    ...get(T),
    ...get(T),
    ...mul,
    ...f32x4(THETA_SQUARED_OFFSET),
    ...add,
    ...set(Q),
    ...get(L),
    ...logCode(Q, [T1, T2, T3, T4, T5]),
    ...sub,
    ...set(RAW),
    ...get(RAW),
    ...get(CLIP),
    ...vec.min,
    ...f32x4(0),
    ...get(CLIP),
    ...sub,
    ...vec.max,
    ...set(LA),
    // u = 1 / (1 + exp(k3·ℓ + k2))
    ...get(LA),
    ...get(K3),
    ...mul,
    ...get(K2),
    ...add,
    ...set(T1),
    ...one,
    ...one,
    ...expCode(T1, [T2, T3, T4]),
    ...add,
    ...div,
    ...set(U),
    // e = exp(−ℓ)
    ...f32x4(0),
    ...get(LA),
    ...sub,
    ...set(T1),
    ...expCode(T1, [T2, T3, T4]),
    ...set(E),
    // term = k1·u + ½·log(1 + e)
    ...at(TERM),
    ...get(U),
    ...get(K1),
    ...mul,
    ...one,
    ...get(E),
    ...add,
    ...set(T1),
    ...logCode(T1, [T2, T3, T4, T5, LA]),
    ...f32x4(0.5),
    ...mul,
    ...add,
    ...vec.store,
    // ∂/∂log σ² = [(u² − u)·k1k3 + (s − 1)·½] where |raw| ≤ c, s = 1 / (1 + e)
    ...get(U),
    ...get(U),
    ...mul,
    ...get(U),
    ...sub,
    ...get(K1),
    ...get(K3),
    ...mul,
    ...mul,
    ...one,
    ...one,
    ...get(E),
    ...add,
    ...div,
    ...one,
    ...sub,
    ...f32x4(0.5),
    ...mul,
    ...add,
    ...get(RAW),
    ...abs,
    ...get(CLIP),
    ...le,
    ...and,
    ...set(T1),
    ...at(D_LS),
    ...get(T1),
    ...vec.store,
    // ∂/∂θ = (∂/∂log σ² · (θ · −2)) / q
    ...at(D_THETA),
    ...get(T1),
    ...get(T),
    ...f32x4(-2),
    ...mul,
    ...mul,
    ...get(Q),
    ...div,
    ...vec.store,
  ];
  const code = [
    ...[K1, K2, K3, CLIP].flatMap((local, index) => splatFrom(SCALARS, index, local)),
    ...i32x4(-1),
    ...set(OK),
    ...vectorLoop(K, BYTES, body),
    ...get(FLAG),
    ...get(OK),
    ...vec.store,
  ];
  return {
    name: 'sparseVdKl',
    params: 8,
    locals: [I32, ...Array.from({ length: VECTOR_LOCALS }, () => V128)],
    code,
  };
}

type KlExport = (
  theta: number,
  logSigma2: number,
  term: number,
  dTheta: number,
  dLogSigma2: number,
  scalars: number,
  flag: number,
  bytes: number,
) => void;

const passOn = perMemoryModule<{ sparseVdKl: KlExport }, SparseVdKlPass>(
  () => [klLoop()],
  ({ sparseVdKl: kl }) => ({
    run(heap, o, c, scratch, helper) {
      if (o.length % 4 !== 0) return false;
      heap.set([c.k1, c.k2, c.k3, c.clip], scratch);
      // Each half reports its range check in its own flag: the lower at scratch + 4, the upper at scratch + 8.
      const args = (from: number, to: number): Parameters<KlExport> => [
        (o.theta + from) << 2,
        (o.logSigma2 + from) << 2,
        (o.term + from) << 2,
        (o.dTheta + from) << 2,
        (o.dLogSigma2 + from) << 2,
        scratch << 2,
        (from === 0 ? scratch + 4 : scratch + 8) << 2,
        (to - from) << 2,
      ];
      if (!helper || o.length < SHARED_PASS_MIN) {
        kl(...args(0, o.length));
        return allLanesTrue(heap, scratch + 4);
      }
      helper.splitRange('sparseVdKl', kl, args, o.length);
      return allLanesTrue(heap, scratch + 4) && allLanesTrue(heap, scratch + 8);
    },
  }),
);

/** The pass on `memory` (one instance per memory), or undefined where SIMD modules cannot run. */
export function sparseVdKlPass(memory: WebAssembly.Memory | undefined): SparseVdKlPass | undefined {
  return memory && passOn(memory);
}
