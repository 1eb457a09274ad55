/** Small helpers that turn report data into Vega-Lite rows. */
import type { Histogram } from './histogram.js';

/** One labelled histogram of a multi-series histogram chart. */
export interface HistogramSeries {
  /** Legend label, e.g. `in-distribution (Fashion-MNIST)` or a layer name. */
  readonly label: string;
  readonly histogram: Histogram;
}

/** A row per non-empty bin: start, end, count and the fraction of the series' total. */
export function histogramRows(
  series: readonly HistogramSeries[],
): { series: string; start: number; end: number; count: number; fraction: number }[] {
  const rows: { series: string; start: number; end: number; count: number; fraction: number }[] = [];
  for (const { label, histogram } of series) {
    const total = histogram.counts.reduce((a, b) => a + b, 0);
    histogram.counts.forEach((count, b) => {
      if (count > 0) {
        rows.push({
          series: label,
          start: histogram.edges[b],
          end: histogram.edges[b + 1],
          count,
          fraction: count / total,
        });
      }
    });
  }
  return rows;
}

/** A number or null (JSON's stand-in for NaN) as a finite number, or undefined. */
export function finiteOrUndefined(value: number | null | undefined): number | undefined {
  return typeof value === 'number' && Number.isFinite(value) ? value : undefined;
}

/**
 * Flattens a record's nested objects into dotted keys (`{terms: {kl: 1}}` → `terms.kl`), keeping finite numbers
 * only: the shape of per-epoch training logs.
 */
export function flattenNumbers(
  record: Readonly<Record<string, unknown>>,
  prefix = '',
): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [key, value] of Object.entries(record)) {
    const name = prefix ? `${prefix}.${key}` : key;
    if (typeof value === 'number' && Number.isFinite(value)) out[name] = value;
    else if (value !== null && typeof value === 'object' && !Array.isArray(value)) {
      Object.assign(out, flattenNumbers(value as Record<string, unknown>, name));
    }
  }
  return out;
}
