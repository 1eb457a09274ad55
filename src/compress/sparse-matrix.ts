import { BayescompError } from '../util/errors.js';

/**
 * A sparse matrix in compressed sparse row form: row r's entries are `values[rowStart[r] .. rowStart[r + 1])` at
 * columns `colIndex[...]` (increasing within a row).
 */
export interface CsrMatrix {
  readonly rows: number;
  readonly cols: number;
  /** rows + 1 offsets into `colIndex`/`values`. */
  readonly rowStart: Int32Array;
  readonly colIndex: Int32Array;
  readonly values: Float32Array;
}

/**
 * The transpose of a Dense kernel (TF.js layout `[inputs, units]`, row-major) in CSR form: one row per output unit
 * listing the inputs it reads, so that unit j's pre-activation is Σ_k values[k]·x[colIndex[k]] over its row. Exact
 * zeros (pruned weights) are left out.
 */
export function csrFromDenseKernel(kernel: Float32Array, inputs: number, units: number): CsrMatrix {
  if (kernel.length !== inputs * units) {
    throw new BayescompError('bad-shape', `kernel of ${kernel.length} values is not ${inputs}×${units}`);
  }
  const rowStart = new Int32Array(units + 1);
  for (let i = 0; i < inputs; i++) {
    const base = i * units;
    for (let j = 0; j < units; j++) if (kernel[base + j] !== 0) rowStart[j + 1]++;
  }
  for (let j = 0; j < units; j++) rowStart[j + 1] += rowStart[j];
  const nnz = rowStart[units];
  const colIndex = new Int32Array(nnz);
  const values = new Float32Array(nnz);
  const cursor = rowStart.slice(0, units);
  for (let i = 0; i < inputs; i++) {
    const base = i * units;
    for (let j = 0; j < units; j++) {
      const v = kernel[base + j];
      if (v === 0) continue;
      const k = cursor[j]++;
      colIndex[k] = i;
      values[k] = v;
    }
  }
  return { rows: units, cols: inputs, rowStart, colIndex, values };
}

/** Stored entries over all entries. */
export function csrDensity(m: CsrMatrix): number {
  return m.rows * m.cols === 0 ? 0 : m.values.length / (m.rows * m.cols);
}
