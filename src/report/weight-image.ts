/**
 * A weight matrix as an image: |μ| or the kept mask of a layer, cell by cell (like the LeNet-5 filter pictures of
 * Molchanov et al. 2017, Fig. 3), downsampled by block averages so large layers stay a few thousand cells.
 */
import { BayescompError } from '../util/errors.js';
import { type ChartOptions, type ChartOutput, renderVegaLite } from './render.js';

/** A row-major matrix of plain numbers. */
export interface WeightMatrix {
  readonly rows: number;
  readonly cols: number;
  /** rows × cols values, row-major. */
  readonly values: ArrayLike<number>;
}

/**
 * Shrinks a matrix to at most `maxRows × maxCols` by averaging blocks of ⌈rows/maxRows⌉ × ⌈cols/maxCols⌉ cells
 * (edge blocks average what they hold). A matrix already small enough is returned as is.
 */
export function downsampleMatrix(matrix: WeightMatrix, maxRows: number, maxCols: number): WeightMatrix {
  const { rows, cols, values } = matrix;
  if (values.length !== rows * cols) {
    throw new BayescompError(
      'bad-shape',
      `weight matrix has ${values.length} values, expected ${rows}×${cols}`,
    );
  }
  const fr = Math.max(1, Math.ceil(rows / maxRows));
  const fc = Math.max(1, Math.ceil(cols / maxCols));
  if (fr === 1 && fc === 1) return matrix;
  const outRows = Math.ceil(rows / fr);
  const outCols = Math.ceil(cols / fc);
  const sums = new Float64Array(outRows * outCols);
  const counts = new Float64Array(outRows * outCols);
  for (let r = 0; r < rows; r++) {
    const or = Math.floor(r / fr);
    for (let c = 0; c < cols; c++) {
      const j = or * outCols + Math.floor(c / fc);
      sums[j] += values[r * cols + c];
      counts[j]++;
    }
  }
  return { rows: outRows, cols: outCols, values: Array.from(sums, (s, j) => s / counts[j]) };
}

/** Options for {@link weightMaskImage}. */
export interface WeightImageOptions extends ChartOptions {
  /**
   * `magnitude` (default): colour by |w| (block-mean |w| when downsampled). `mask`: colour by whether the weight is
   * kept (w ≠ 0), i.e. the fraction kept in a block when downsampled.
   */
  readonly mode?: 'magnitude' | 'mask';
  /** Largest number of cells per side after downsampling. Default 48. */
  readonly maxCells?: number;
  /** Axis titles. Default `output unit` (rows) and `input unit` (columns). */
  readonly rowTitle?: string;
  readonly colTitle?: string;
  /** Pixel size of one cell. Default: fit 320 px. */
  readonly cellSize?: number;
}

/**
 * A heat map of a weight matrix (mark `cells`, one rect per cell after downsampling): |w| on a sequential scale, or
 * the kept mask in black and white.
 */
export async function weightMaskImage(
  matrix: WeightMatrix,
  options: WeightImageOptions = {},
): Promise<ChartOutput> {
  const mode = options.mode ?? 'magnitude';
  const maxCells = options.maxCells ?? 48;
  const transformed: WeightMatrix = {
    rows: matrix.rows,
    cols: matrix.cols,
    values: Array.from(matrix.values, (v) => (mode === 'mask' ? (v !== 0 ? 1 : 0) : Math.abs(v))),
  };
  const small = downsampleMatrix(transformed, maxCells, maxCells);
  const rows: { r: number; c: number; v: number }[] = [];
  for (let r = 0; r < small.rows; r++)
    for (let c = 0; c < small.cols; c++) rows.push({ r, c, v: small.values[r * small.cols + c] });
  const cell = options.cellSize ?? Math.max(2, Math.floor(320 / Math.max(small.rows, small.cols)));
  const downsampled = small !== transformed;
  const color =
    mode === 'mask'
      ? {
          field: 'v',
          type: 'quantitative',
          title: downsampled ? 'fraction kept' : 'kept',
          scale: { domain: [0, 1], range: ['white', 'black'] },
        }
      : {
          field: 'v',
          type: 'quantitative',
          title: downsampled ? 'mean |w|' : '|w|',
          scale: { scheme: 'viridis' },
        };
  const spec = {
    title: options.title ?? (mode === 'mask' ? 'Kept weights' : 'Weight magnitude'),
    width: options.width ?? cell * small.cols,
    height: options.height ?? cell * small.rows,
    data: { values: rows },
    mark: { type: 'rect', aria: false },
    name: 'cells',
    encoding: {
      x: {
        field: 'c',
        type: 'ordinal',
        title: options.colTitle ?? 'input unit',
        axis: { labels: false, ticks: false, domain: false },
      },
      y: {
        field: 'r',
        type: 'ordinal',
        title: options.rowTitle ?? 'output unit',
        axis: { labels: false, ticks: false, domain: false },
      },
      color,
    },
    config: { view: { stroke: '#999' }, scale: { bandPaddingInner: 0 } },
  };
  return renderVegaLite(spec, options);
}
