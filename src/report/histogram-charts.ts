/**
 * Histogram charts: confidence and entropy in- vs out-of-distribution (the OOD picture of Hendrycks & Gimpel 2017),
 * and per-layer log α or signal-to-noise histograms of a posterior (Molchanov et al. 2017, Fig. 2).
 */
import { type HistogramSeries, histogramRows } from './chart-data.js';
import { type ChartOptions, type ChartOutput, renderVegaLite } from './render.js';

/** Options for {@link histogramChart}. */
export interface HistogramChartOptions extends ChartOptions {
  /** Title of the value axis. */
  readonly xTitle?: string;
  /** Plot each series' fraction of its total (default, so sets of different sizes compare) or raw counts. */
  readonly normalize?: 'fraction' | 'count';
  /** Draw a vertical rule at this value (e.g. the pruning threshold log α = 3), named `threshold`. */
  readonly threshold?: number;
  /** Log-scaled value axis (values must be positive). */
  readonly logX?: boolean;
}

/**
 * Overlaid histograms, one translucent colour per series, one bar (mark `bars`) per non-empty bin; with a
 * `threshold`, a vertical rule.
 */
export async function histogramChart(
  series: readonly HistogramSeries[],
  options: HistogramChartOptions = {},
): Promise<ChartOutput> {
  const rows = histogramRows(series);
  const yField = options.normalize === 'count' ? 'count' : 'fraction';
  const layers: object[] = [
    {
      name: 'bars',
      data: { values: rows },
      mark: { type: 'bar', opacity: 0.55, binSpacing: 0 },
      encoding: {
        x: {
          field: 'start',
          type: 'quantitative',
          title: options.xTitle ?? 'value',
          ...(options.logX ? { scale: { type: 'log' } } : {}),
        },
        x2: { field: 'end' },
        y: {
          field: yField,
          type: 'quantitative',
          stack: null,
          title: yField === 'count' ? 'count' : 'fraction',
        },
        // Ranged x with a quantitative y is otherwise drawn as a thin horizontal band.
        y2: { datum: 0 },
        color: { field: 'series', type: 'nominal', title: null, sort: series.map((s) => s.label) },
      },
    },
  ];
  if (options.threshold !== undefined) {
    layers.push({
      name: 'threshold',
      data: { values: [{ t: options.threshold }] },
      mark: { type: 'rule', color: 'black', strokeDash: [4, 3] },
      encoding: { x: { field: 't', type: 'quantitative' } },
    });
  }
  const spec = {
    ...(options.title ? { title: options.title } : {}),
    width: options.width ?? 360,
    height: options.height ?? 200,
    layer: layers,
  };
  return renderVegaLite(spec, options);
}

/** Confidence (max-probability) histograms, e.g. in- vs out-of-distribution. */
export function confidenceHistogram(
  series: readonly HistogramSeries[],
  options: HistogramChartOptions = {},
): Promise<ChartOutput> {
  return histogramChart(series, {
    title: 'Confidence (max probability)',
    xTitle: 'max probability',
    ...options,
  });
}

/** Predictive-entropy histograms (nats), e.g. in- vs out-of-distribution. */
export function entropyHistogram(
  series: readonly HistogramSeries[],
  options: HistogramChartOptions = {},
): Promise<ChartOutput> {
  return histogramChart(series, { title: 'Predictive entropy', xTitle: 'entropy (nats)', ...options });
}

/** Histograms of log α = log σ² − log θ² per layer, with the pruning threshold (default 3) as a rule. */
export function logAlphaHistogram(
  series: readonly HistogramSeries[],
  options: HistogramChartOptions = {},
): Promise<ChartOutput> {
  return histogramChart(series, {
    title: 'log α per layer',
    xTitle: 'log α',
    threshold: 3,
    normalize: 'fraction',
    ...options,
  });
}

/** Histograms of the signal-to-noise ratio |μ|/σ per layer (Graves 2011 pruning), optionally with its threshold. */
export function snrHistogram(
  series: readonly HistogramSeries[],
  options: HistogramChartOptions = {},
): Promise<ChartOutput> {
  return histogramChart(series, {
    title: 'Signal-to-noise ratio |μ|/σ per layer',
    xTitle: '|μ|/σ',
    ...options,
  });
}
