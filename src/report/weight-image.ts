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
 * (edge blocks average what they hold; NaN cells, the gaps of a tiled image, are left out, and an all-NaN block
 * stays NaN). A matrix already small enough is returned as is.
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
      const v = values[r * cols + c];
      if (Number.isNaN(v)) continue;
      const j = or * outCols + Math.floor(c / fc);
      sums[j] += v;
      counts[j]++;
    }
  }
  return {
    rows: outRows,
    cols: outCols,
    values: Array.from(sums, (s, j) => (counts[j] > 0 ? s / counts[j] : Number.NaN)),
  };
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
    values: Array.from(matrix.values, (v) =>
      Number.isNaN(v) ? v : mode === 'mask' ? (v !== 0 ? 1 : 0) : Math.abs(v),
    ),
  };
  const small = downsampleMatrix(transformed, maxCells, maxCells);
  const rows: { r: number; c: number; v: number }[] = [];
  for (let r = 0; r < small.rows; r++) {
    for (let c = 0; c < small.cols; c++) {
      const v = small.values[r * small.cols + c];
      // NaN cells are gaps between tiles: drawn as background.
      if (!Number.isNaN(v)) rows.push({ r, c, v });
    }
  }
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
  // Ordinal scales list every row and column, including all-gap ones, so tiles keep their layout.
  const rowDomain = Array.from({ length: small.rows }, (_, i) => i);
  const colDomain = Array.from({ length: small.cols }, (_, i) => i);
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
        scale: { domain: colDomain },
        title: options.colTitle ?? 'input unit',
        axis: { labels: false, ticks: false, domain: false },
      },
      y: {
        field: 'r',
        type: 'ordinal',
        scale: { domain: rowDomain },
        title: options.rowTitle ?? 'output unit',
        axis: { labels: false, ticks: false, domain: false },
      },
      color,
    },
    config: { view: { stroke: '#999' }, scale: { bandPaddingInner: 0 } },
  };
  return renderVegaLite(spec, options);
}

/**
 * A layer's kernel laid out as an image: a Dense kernel `[in, out]` becomes `out × in` (one row per output unit);
 * a Conv2D kernel `[kh, kw, inChannels, outChannels]` (TF.js channels-last) becomes a grid of kh × kw filter
 * tiles separated by NaN gaps — one tile row per output filter and one tile column per input channel, or, for a
 * first layer with one input channel, the filters wrapped into a near-square grid (the LeNet-5 filter picture of
 * Molchanov et al. 2017, Fig. 3).
 */
export function kernelImageMatrix(
  shape: readonly number[],
  values: ArrayLike<number>,
): WeightMatrix & { readonly values: number[] } {
  const size = shape.reduce((a, b) => a * b, 1);
  if (values.length !== size) {
    throw new BayescompError(
      'bad-shape',
      `kernel has ${values.length} values, expected [${shape.join(', ')}]`,
    );
  }
  if (shape.length === 2) {
    const [inputs, outputs] = shape;
    const out = new Array<number>(size);
    for (let i = 0; i < inputs; i++)
      for (let o = 0; o < outputs; o++) out[o * inputs + i] = values[i * outputs + o];
    return { rows: outputs, cols: inputs, values: out };
  }
  if (shape.length === 4) {
    const [kh, kw, cin, cout] = shape;
    // One tile row per output filter and one tile column per input channel; a first layer (one input channel)
    // wraps its filters into a near-square grid instead of one tall column.
    const gridCols = cin === 1 ? Math.ceil(Math.sqrt(cout)) : cin;
    const gridRows = cin === 1 ? Math.ceil(cout / gridCols) : cout;
    const rows = gridRows * (kh + 1) - 1;
    const cols = gridCols * (kw + 1) - 1;
    const out = new Array<number>(rows * cols).fill(Number.NaN);
    for (let o = 0; o < cout; o++) {
      for (let i = 0; i < cin; i++) {
        const tileRow = cin === 1 ? Math.floor(o / gridCols) : o;
        const tileCol = cin === 1 ? o % gridCols : i;
        for (let y = 0; y < kh; y++) {
          for (let x = 0; x < kw; x++) {
            const r = tileRow * (kh + 1) + y;
            const c = tileCol * (kw + 1) + x;
            out[r * cols + c] = values[((y * kw + x) * cin + i) * cout + o];
          }
        }
      }
    }
    return { rows, cols, values: out };
  }
  throw new BayescompError(
    'bad-shape',
    `cannot draw a kernel of rank ${shape.length} (expected Dense or Conv2D)`,
  );
}
