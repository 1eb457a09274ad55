/**
 * Histograms as plain data (bin edges and counts), so reports store a few dozen numbers per plot instead of every
 * score or weight.
 */
import { BayescompError } from '../util/errors.js';

/** Counts over consecutive bins: bin b spans [edges[b], edges[b+1]) (the last bin also holds its upper edge). */
export interface Histogram {
  /** Bin edges, ascending; one more than `counts`. */
  readonly edges: number[];
  readonly counts: number[];
}

/** Options for {@link histogramOf}. */
export interface HistogramOptions {
  /** Number of equal-width bins. Default 30. */
  readonly bins?: number;
  /** Lower edge. Default: the smallest value. */
  readonly min?: number;
  /** Upper edge. Default: the largest value. */
  readonly max?: number;
}

/**
 * Equal-width histogram of the finite values. Values outside [min, max] are counted in the first or last bin, so
 * a clipped range (e.g. log α ∈ [−10, 10]) loses no weights; NaN and infinite values are skipped.
 */
export function histogramOf(values: ArrayLike<number>, options: HistogramOptions = {}): Histogram {
  const bins = options.bins ?? 30;
  if (!(bins >= 1) || !Number.isInteger(bins)) {
    throw new BayescompError(
      'bad-config',
      `number of histogram bins must be a positive integer, got ${bins}`,
    );
  }
  let lo = options.min ?? Infinity;
  let hi = options.max ?? -Infinity;
  if (options.min === undefined || options.max === undefined) {
    for (let i = 0; i < values.length; i++) {
      const v = values[i];
      if (!Number.isFinite(v)) continue;
      if (options.min === undefined && v < lo) lo = v;
      if (options.max === undefined && v > hi) hi = v;
    }
  }
  if (!Number.isFinite(lo) || !Number.isFinite(hi)) {
    lo = 0;
    hi = 1;
  }
  if (hi <= lo) hi = lo + 1;
  const width = (hi - lo) / bins;
  const counts = new Array<number>(bins).fill(0);
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (!Number.isFinite(v)) continue;
    const b = Math.floor((v - lo) / width);
    counts[b < 0 ? 0 : b >= bins ? bins - 1 : b]++;
  }
  const edges = Array.from({ length: bins + 1 }, (_, b) => (b === bins ? hi : lo + b * width));
  return { edges, counts };
}
