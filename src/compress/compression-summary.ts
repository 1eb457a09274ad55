import type { LayerPrecision } from './bit-precision.js';
import type { MaskSet } from './masks.js';
import { weightCount, type WeightPosterior } from './weight-posterior.js';

/** One tensor's line of the compression report. */
export interface TensorCompressionRow {
  readonly layer: string;
  readonly name: string;
  readonly shape: readonly number[];
  readonly weights: number;
  readonly kept: number;
  /** Fraction pruned. */
  readonly sparsity: number;
  /** Output units/filters with at least one kept incoming weight, of all (for kernels). */
  readonly liveUnits?: readonly [live: number, total: number];
  /** Bits per kept weight after precision reduction, when quantised. */
  readonly bitsPerWeight?: number;
  /** Size of the dense sub-matrix left after removing all-zero rows and columns (Louizos 2017's "fast inference"). */
  readonly denseSubmatrixSize: number;
}

/** Totals over all tensors. */
export interface CompressionTotals {
  readonly weights: number;
  readonly kept: number;
  /** |W| / |W ≠ 0|. */
  readonly compressionRatio: number;
  /**
   * 32·|W| / Σ (kept · bits): compression in bits of the kept weights at their reduced precision (indices not
   * counted; see the byte counts of the export formats for a figure with every byte counted).
   */
  readonly bitCompressionRatio?: number;
  /**
   * 32·|W| / Σ (dense sub-matrix size · bits): the "fast inference" figure of Louizos et al. 2017, Table 1.
   */
  readonly denseSubmatrixBitRatio?: number;
}

/**
 * Per-tensor rows and totals for a set of masks and, when quantised, the bits per kept weight of each tensor (a
 * {@link LayerPrecision}, or a codebook's code width — see {@link quantizedBits}).
 */
export function summarizeCompression(
  posteriors: readonly WeightPosterior[],
  masks: MaskSet,
  precisions?: ReadonlyMap<string, Pick<LayerPrecision, 'bitsPerWeight'>>,
): { rows: TensorCompressionRow[]; totals: CompressionTotals } {
  const rows: TensorCompressionRow[] = [];
  let weights = 0;
  let kept = 0;
  let bits = 0;
  let submatrixBits = 0;
  let quantised = false;
  for (const p of posteriors) {
    const n = weightCount(p);
    const mask = masks.get(p.name);
    const k = mask ? mask.reduce((s, m) => s + m, 0) : n;
    const precision = precisions?.get(p.name);
    const submatrix = denseSubmatrixSize(p.shape, mask);
    const units = p.shape.length >= 2 ? liveUnits(p.shape, mask) : undefined;
    rows.push({
      layer: p.layer,
      name: p.name,
      shape: p.shape,
      weights: n,
      kept: k,
      sparsity: n ? 1 - k / n : 0,
      liveUnits: units,
      bitsPerWeight: precision?.bitsPerWeight,
      denseSubmatrixSize: submatrix,
    });
    weights += n;
    kept += k;
    const b = precision?.bitsPerWeight ?? 32;
    if (precision) quantised = true;
    bits += k * b;
    submatrixBits += submatrix * b;
  }
  const totals: CompressionTotals = {
    weights,
    kept,
    compressionRatio: kept ? weights / kept : Infinity,
    ...(quantised
      ? { bitCompressionRatio: (32 * weights) / bits, denseSubmatrixBitRatio: (32 * weights) / submatrixBits }
      : {}),
  };
  return { rows, totals };
}

/** Rows = all but the last axis (inputs, or kernel taps × inputs), columns = last axis (outputs). */
function matrixView(shape: readonly number[]): [rows: number, cols: number] {
  const cols = shape[shape.length - 1];
  return [shape.reduce((a, b) => a * b, 1) / cols, cols];
}

function denseSubmatrixSize(shape: readonly number[], mask: Uint8Array | undefined): number {
  const n = shape.reduce((a, b) => a * b, 1);
  if (!mask || shape.length < 2) return mask ? mask.reduce((s, m) => s + m, 0) : n;
  // Conv kernels [kh, kw, in, out] are viewed as (kh·kw·in) × out, as in Louizos et al.'s reference code.
  const [r, c] = matrixView(shape);
  const rowLive = new Uint8Array(r);
  const colLive = new Uint8Array(c);
  for (let i = 0; i < r; i++)
    for (let j = 0; j < c; j++)
      if (mask[i * c + j]) {
        rowLive[i] = 1;
        colLive[j] = 1;
      }
  return rowLive.reduce((s, x) => s + x, 0) * colLive.reduce((s, x) => s + x, 0);
}

function liveUnits(shape: readonly number[], mask: Uint8Array | undefined): [number, number] {
  const [r, c] = matrixView(shape);
  if (!mask) return [c, c];
  let live = 0;
  for (let j = 0; j < c; j++) {
    for (let i = 0; i < r; i++)
      if (mask[i * c + j]) {
        live++;
        break;
      }
  }
  return [live, c];
}

/** A fixed-width text table of the rows and totals, for terminals and logs. */
export function formatCompressionTable(summary: {
  rows: readonly TensorCompressionRow[];
  totals: CompressionTotals;
}): string {
  const header = ['tensor', 'shape', 'weights', 'kept', 'sparsity', 'units', 'bits'];
  const lines = summary.rows.map((r) => [
    r.name,
    `[${r.shape.join('×')}]`,
    String(r.weights),
    String(r.kept),
    `${(100 * r.sparsity).toFixed(1)}%`,
    r.liveUnits ? `${r.liveUnits[0]}/${r.liveUnits[1]}` : '',
    r.bitsPerWeight !== undefined ? String(r.bitsPerWeight) : '32',
  ]);
  const t = summary.totals;
  lines.push([
    'total',
    '',
    String(t.weights),
    String(t.kept),
    `${(100 * (1 - t.kept / t.weights)).toFixed(1)}%`,
    '',
    '',
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i].length)));
  const fmt = (cells: string[]) =>
    cells.map((c, i) => (i < 2 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ');
  const out = [fmt(header), widths.map((w) => '-'.repeat(w)).join('  '), ...lines.map(fmt)];
  out.push(`compression |W|/|W≠0| = ${t.compressionRatio.toFixed(1)}×`);
  if (t.bitCompressionRatio !== undefined)
    out.push(`compression in bits (kept weights) = ${t.bitCompressionRatio.toFixed(1)}×`);
  if (t.denseSubmatrixBitRatio !== undefined) {
    out.push(
      `compression in bits (dense sub-matrices, Louizos 2017) = ${t.denseSubmatrixBitRatio.toFixed(1)}×`,
    );
  }
  return out.join('\n');
}
