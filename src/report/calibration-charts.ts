/** The reliability diagram (Guo et al. 2017, Fig. 1; DeGroot & Fienberg 1983). */
import { finiteOrUndefined } from './chart-data.js';
import { type ChartOptions, type ChartOutput, renderVegaLite } from './render.js';

/** One confidence bin, as `reliabilityBins` in `src/eval` returns it (or as read back from JSON, NaN → null). */
export interface ReliabilityBinData {
  readonly lower: number;
  readonly upper: number;
  readonly count: number;
  readonly confidence: number | null;
  readonly accuracy: number | null;
}

/** Options for {@link reliabilityDiagram}. */
export interface ReliabilityDiagramOptions extends ChartOptions {
  /** The ECE to print in the title, as a fraction. */
  readonly ece?: number;
}

/**
 * Reliability diagram: for each non-empty confidence bin, a bar of its accuracy over the bin's range, a point at
 * its mean confidence (on the diagonal when calibrated), the diagonal y = x, and below, a bar chart of how many
 * examples each bin holds. Marks are named `accuracy`, `confidence`, `diagonal`, `counts`.
 */
export async function reliabilityDiagram(
  bins: readonly ReliabilityBinData[],
  options: ReliabilityDiagramOptions = {},
): Promise<ChartOutput> {
  const rows = bins
    .filter((b) => b.count > 0 && finiteOrUndefined(b.accuracy) !== undefined)
    .map((b) => ({
      lower: b.lower,
      upper: b.upper,
      middle: (b.lower + b.upper) / 2,
      count: b.count,
      accuracy: b.accuracy as number,
      confidence: finiteOrUndefined(b.confidence) ?? (b.lower + b.upper) / 2,
    }));
  const width = options.width ?? 300;
  const unit = { type: 'quantitative', scale: { domain: [0, 1] } } as const;
  const title =
    options.title ??
    `Reliability diagram${options.ece !== undefined ? ` (ECE ${(100 * options.ece).toFixed(2)}%)` : ''}`;
  const spec = {
    title,
    vconcat: [
      {
        width,
        height: options.height ?? width,
        layer: [
          {
            name: 'accuracy',
            data: { values: rows },
            mark: { type: 'bar', color: '#4c78a8', opacity: 0.85, stroke: 'white', strokeWidth: 0.5 },
            encoding: {
              x: { field: 'lower', ...unit, title: 'confidence' },
              x2: { field: 'upper' },
              y: { field: 'accuracy', ...unit, title: 'accuracy' },
              // Ranged x with a quantitative y is otherwise drawn as a thin horizontal band.
              y2: { datum: 0 },
            },
          },
          {
            name: 'diagonal',
            data: { values: [{ p: 0 }, { p: 1 }] },
            mark: { type: 'line', color: '#888', strokeDash: [4, 4] },
            encoding: { x: { field: 'p', ...unit }, y: { field: 'p', ...unit } },
          },
          {
            name: 'confidence',
            data: { values: rows },
            mark: { type: 'point', filled: true, color: '#e45756', size: 30 },
            encoding: { x: { field: 'confidence', ...unit }, y: { field: 'confidence', ...unit } },
          },
        ],
      },
      {
        name: 'counts',
        width,
        height: Math.round(width / 4),
        data: { values: rows },
        mark: { type: 'bar', color: '#72b7b2' },
        encoding: {
          x: { field: 'lower', ...unit, title: 'confidence' },
          x2: { field: 'upper' },
          y: { field: 'count', type: 'quantitative', title: 'examples' },
          y2: { datum: 0 },
        },
      },
    ],
  };
  return renderVegaLite(spec, options);
}
