import { BayescompError } from '../util/errors.js';

/** Values encoded as indices into a small codebook. */
export interface CodebookQuantization {
  /** The representable values. */
  readonly codebook: Float32Array;
  /** One codebook index per encoded value. */
  readonly codes: Uint32Array;
}

/** The index of the codebook entry nearest to `v` (the first on ties). */
export function nearestCode(v: number, codebook: Float32Array): number {
  let best = 0;
  let bestDistance = Infinity;
  for (let k = 0; k < codebook.length; k++) {
    const d = Math.abs(v - codebook[k]);
    if (d < bestDistance) {
      bestDistance = d;
      best = k;
    }
  }
  return best;
}

/**
 * Snaps each value to its nearest codebook entry. This is VNQ's post-training quantisation (Achterhold et al. 2018,
 * eq. 15): under a Gaussian posterior the most likely codebook value is the nearest to the mean.
 */
export function snapToCodebook(values: Float32Array, codebook: Float32Array): CodebookQuantization {
  if (codebook.length === 0) throw new BayescompError('bad-config', 'an empty codebook cannot encode values');
  const codes = new Uint32Array(values.length);
  for (let i = 0; i < values.length; i++) codes[i] = nearestCode(values[i], codebook);
  return { codebook: Float32Array.from(codebook), codes };
}

/** Uniform k-bit quantisation: 2^bits evenly spaced levels from the minimum to the maximum value. */
export function uniformQuantize(values: Float32Array, bits: number): CodebookQuantization {
  requireBits(bits);
  const levels = 2 ** bits;
  let lo = Infinity;
  let hi = -Infinity;
  for (const v of values) {
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  if (values.length === 0) return { codebook: new Float32Array(0), codes: new Uint32Array(0) };
  const step = hi > lo ? (hi - lo) / (levels - 1) : 0;
  const codebook = new Float32Array(hi > lo ? levels : 1);
  for (let k = 0; k < codebook.length; k++) codebook[k] = lo + k * step;
  const codes = new Uint32Array(values.length);
  if (step > 0) for (let i = 0; i < values.length; i++) codes[i] = Math.round((values[i] - lo) / step);
  return { codebook, codes };
}

/**
 * k-means quantisation with 2^bits clusters in one dimension (Lloyd's algorithm), initialised with levels evenly
 * spaced over the value range — the initialisation Han et al. (2016, "Deep Compression") found best, since it keeps
 * centroids for the rare large weights. Deterministic: no random initialisation.
 */
export function kmeansQuantize(values: Float32Array, bits: number, maxIterations = 50): CodebookQuantization {
  requireBits(bits);
  if (values.length === 0) return { codebook: new Float32Array(0), codes: new Uint32Array(0) };
  const sorted = Float64Array.from(values).sort();
  const k = Math.min(2 ** bits, sorted.length);
  const lo = sorted[0];
  const hi = sorted[sorted.length - 1];
  let centroids = Float64Array.from({ length: k }, (_, j) =>
    k === 1 ? (lo + hi) / 2 : lo + ((hi - lo) * j) / (k - 1),
  );
  for (let iteration = 0; iteration < maxIterations; iteration++) {
    // In 1-D the clusters are contiguous runs of the sorted values, split at the midpoints between centroids.
    const sums = new Float64Array(k);
    const counts = new Float64Array(k);
    let c = 0;
    for (const v of sorted) {
      while (c < k - 1 && v > (centroids[c] + centroids[c + 1]) / 2) c++;
      sums[c] += v;
      counts[c]++;
    }
    const next = centroids.map((old, j) => (counts[j] > 0 ? sums[j] / counts[j] : old));
    next.sort();
    const moved = next.some((v, j) => Math.abs(v - centroids[j]) > 1e-12 * (Math.abs(v) + 1));
    centroids = next;
    if (!moved) break;
  }
  return snapToCodebook(values, Float32Array.from(centroids));
}

/** The values a quantisation decodes to. */
export function dequantize(q: CodebookQuantization): Float32Array {
  const out = new Float32Array(q.codes.length);
  for (let i = 0; i < out.length; i++) out[i] = q.codebook[q.codes[i]];
  return out;
}

/** Bits needed per code for a codebook of `size` entries (0 for a single entry). */
export function codeBits(size: number): number {
  return size <= 1 ? 0 : Math.ceil(Math.log2(size));
}

function requireBits(bits: number): void {
  if (!Number.isInteger(bits) || bits < 1 || bits > 16) {
    throw new BayescompError('bad-config', `quantisation bits must be an integer from 1 to 16, got ${bits}`);
  }
}
