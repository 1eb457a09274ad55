/** Charts of what compression kept and what it cost. */
import { type ChartOptions, type ChartOutput, renderVegaLite } from './render.js';

/** One layer's sparsity. */
export interface LayerSparsity {
  readonly name: string;
  /** Fraction of weights removed, in [0, 1]. */
  readonly sparsity: number;
}

/**
 * Horizontal bars of each layer's sparsity (mark `bars`), labelled with the percentage (mark `labels`), layers in
 * network order.
 */
export async function sparsityBars(
  layers: readonly LayerSparsity[],
  options: ChartOptions = {},
): Promise<ChartOutput> {
  const rows = layers.map((l, i) => ({
    layer: l.name,
    order: i,
    sparsity: l.sparsity,
    label: `${(100 * l.sparsity).toFixed(1)}%`,
  }));
  const y = { field: 'layer', type: 'nominal', title: null, sort: layers.map((l) => l.name) };
  const spec = {
    title: options.title ?? 'Sparsity per layer',
    width: options.width ?? 320,
    height: options.height ?? Math.max(60, 24 * layers.length),
    data: { values: rows },
    layer: [
      {
        name: 'bars',
        mark: { type: 'bar', color: '#4c78a8' },
        encoding: {
          y,
          x: {
            field: 'sparsity',
            type: 'quantitative',
            scale: { domain: [0, 1] },
            axis: { format: '%' },
            title: 'weights removed',
          },
        },
      },
      {
        name: 'labels',
        mark: { type: 'text', align: 'left', dx: 3, fontSize: 10 },
        encoding: { y, x: { field: 'sparsity', type: 'quantitative' }, text: { field: 'label' } },
      },
    ],
  };
  return renderVegaLite(spec, options);
}

/** One point of an accuracy-vs-compression sweep. */
export interface CompressionPoint {
  /** Compression ratio |W| / |W ≠ 0| (or bytes before / after). */
  readonly compression: number;
  /** Test accuracy at that compression, in [0, 1]. */
  readonly accuracy: number;
  /** The sweep this point belongs to (e.g. `log α threshold`, `magnitude`). Default `sweep`. */
  readonly series?: string;
}

/** Options for {@link accuracyCompressionCurve}. */
export interface AccuracyCompressionOptions extends ChartOptions {
  /** Logarithmic compression axis. Default true. */
  readonly logX?: boolean;
}

/** Accuracy against compression ratio, one line (mark `curve`) with points (mark `points`) per series. */
export async function accuracyCompressionCurve(
  points: readonly CompressionPoint[],
  options: AccuracyCompressionOptions = {},
): Promise<ChartOutput> {
  const rows = [...points]
    .map((p) => ({ compression: p.compression, accuracy: p.accuracy, series: p.series ?? 'sweep' }))
    .sort((a, b) => a.compression - b.compression);
  const encoding = {
    x: {
      field: 'compression',
      type: 'quantitative',
      title: 'compression ratio (×)',
      scale: options.logX === false ? { zero: false } : { type: 'log' },
    },
    y: {
      field: 'accuracy',
      type: 'quantitative',
      title: 'accuracy',
      scale: { zero: false },
      axis: { format: '%' },
    },
    color: { field: 'series', type: 'nominal', title: null },
  };
  const spec = {
    title: options.title ?? 'Accuracy vs compression',
    width: options.width ?? 360,
    height: options.height ?? 220,
    data: { values: rows },
    layer: [
      { name: 'curve', mark: { type: 'line' }, encoding },
      { name: 'points', mark: { type: 'point', filled: true, size: 30 }, encoding },
    ],
  };
  return renderVegaLite(spec, options);
}
