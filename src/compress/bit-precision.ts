/**
 * Bit precision from the posterior (Louizos, Ullrich & Welling 2017, "Bayesian Compression for Deep Learning", §5):
 * a weight whose marginal posterior variance is large needs few significand bits. A floating-point number with t
 * significand bits has unit round-off 2^−t (round to nearest, Heath 1996 §1.3); the weight gets the largest t ≤ 23 for
 * which 2·Var[w] < 2^−t still holds (more bits would encode noise), and a layer uses the ceiling of the mean over its
 * kept weights. The exponent needs enough bits to span the kept weights' binary exponents.
 */

/** The largest number of significand bits t ∈ [0, 23] with 2·variance < 2^−t. */
export function significandBitsForVariance(variance: number): number {
  let t = 0;
  while (t < 23 && 2 * variance < 2 ** -(t + 1)) t++;
  return t;
}

/** Precision chosen for one tensor's kept weights. */
export interface LayerPrecision {
  /** Significand (mantissa) bits t: ceiling of the mean per-weight t. */
  readonly significandBits: number;
  /** Exponent bits E: enough to span the binary exponents from `minExponent` to `maxExponent`. */
  readonly exponentBits: number;
  /** Smallest binary exponent encoded (weights below 2^minExponent are rounded on that exponent's grid). */
  readonly minExponent: number;
  /** Largest binary exponent encoded. */
  readonly maxExponent: number;
  /** 1 sign bit + E + t. */
  readonly bitsPerWeight: number;
}

/**
 * Chooses the precision of a tensor from its kept weights' means and marginal variances (entries with mask 0 are
 * ignored; pass no mask to use all).
 */
export function layerPrecision(
  mean: Float32Array,
  variance: Float32Array,
  mask?: Uint8Array,
): LayerPrecision {
  let bitSum = 0;
  let count = 0;
  let maxAbs = 0;
  let minAbs = Infinity;
  for (let i = 0; i < mean.length; i++) {
    if (mask && !mask[i]) continue;
    const a = Math.abs(mean[i]);
    if (a === 0) continue;
    bitSum += significandBitsForVariance(variance[i]);
    count++;
    if (a > maxAbs) maxAbs = a;
    if (a < minAbs) minAbs = a;
  }
  if (count === 0)
    return { significandBits: 0, exponentBits: 0, minExponent: 0, maxExponent: 0, bitsPerWeight: 0 };
  const significandBits = Math.ceil(bitSum / count);
  const maxExponent = Math.floor(Math.log2(maxAbs));
  const minExponent = Math.floor(Math.log2(minAbs));
  const span = maxExponent - minExponent + 1;
  const exponentBits = span <= 1 ? 0 : Math.ceil(Math.log2(span));
  return {
    significandBits,
    exponentBits,
    minExponent,
    maxExponent,
    bitsPerWeight: 1 + exponentBits + significandBits,
  };
}

/**
 * Rounds `w` to the nearest number representable with `precision`: ±(1 + m/2^t)·2^e with e in
 * [minExponent, maxExponent], and the evenly spaced grid of step 2^(minExponent−t) below 2^minExponent.
 */
export function roundToPrecision(w: number, precision: LayerPrecision): number {
  if (w === 0 || precision.bitsPerWeight === 0) return 0;
  const { significandBits: t, minExponent, maxExponent } = precision;
  const a = Math.abs(w);
  const e = Math.min(Math.max(Math.floor(Math.log2(a)), minExponent), maxExponent);
  const step = 2 ** (e - t);
  const largest = 2 ** maxExponent * (2 - 2 ** -t);
  const q = Math.min(Math.round(a / step) * step, largest);
  return Math.sign(w) * q;
}

/** {@link roundToPrecision} over a tensor, leaving masked-out entries at zero. */
export function roundTensorToPrecision(
  mean: Float32Array,
  precision: LayerPrecision,
  mask?: Uint8Array,
): Float32Array {
  const out = new Float32Array(mean.length);
  for (let i = 0; i < mean.length; i++) out[i] = mask && !mask[i] ? 0 : roundToPrecision(mean[i], precision);
  return out;
}
