/** Training curves: every logged quantity per epoch, one small panel each (their scales differ by orders). */
import { flattenNumbers } from './chart-data.js';
import { type ChartOptions, type ChartOutput, renderVegaLite } from './render.js';

/** One epoch's record: any keys; nested objects (e.g. `terms: {data, kl}`) are flattened to `terms.kl`. */
export type HistoryRecord = Readonly<Record<string, unknown>>;

/** Options for {@link trainingCurves}. */
export interface TrainingCurvesOptions extends ChartOptions {
  /** The key holding the epoch number. Default `epoch` (the record's index when absent). */
  readonly epochKey?: string;
  /** Quantities to plot (flattened keys), in this order. Default: every numeric key except bookkeeping ones. */
  readonly keys?: readonly string[];
  /** Panels per row. Default 3. */
  readonly columns?: number;
  /** Add this to the epoch for display (e.g. 1 for zero-based logs). Default 1 when `epochKey` values start at 0. */
  readonly epochOffset?: number;
}

/** Keys of the trainer's epoch log that are bookkeeping, not curves. */
const SKIPPED_KEYS = new Set(['steps', 'seconds', 'epochSeconds', 'time']);

/** The quantities {@link trainingCurves} plots by default, in first-seen order. */
export function historyKeys(history: readonly HistoryRecord[], epochKey = 'epoch'): string[] {
  const keys: string[] = [];
  const seen = new Set<string>();
  for (const record of history) {
    for (const key of Object.keys(flattenNumbers(record))) {
      if (key === epochKey || SKIPPED_KEYS.has(key) || seen.has(key)) continue;
      seen.add(key);
      keys.push(key);
    }
  }
  return keys;
}

/**
 * One panel per quantity (data term, KL, β, accuracy, sparsity, …) against the epoch, each with its own y scale:
 * a line (mark `curve`) with a point per epoch (mark `points`). Epochs missing a quantity are skipped.
 */
export async function trainingCurves(
  history: readonly HistoryRecord[],
  options: TrainingCurvesOptions = {},
): Promise<ChartOutput> {
  const epochKey = options.epochKey ?? 'epoch';
  const keys = options.keys ?? historyKeys(history, epochKey);
  const flat = history.map((r) => flattenNumbers(r));
  const firstEpoch = flat.length > 0 ? flat[0][epochKey] : undefined;
  const offset = options.epochOffset ?? (firstEpoch === 0 ? 1 : 0);
  const rows: { epoch: number; quantity: string; value: number }[] = [];
  flat.forEach((record, index) => {
    const epoch = (record[epochKey] ?? index) + offset;
    for (const key of keys)
      if (record[key] !== undefined) rows.push({ epoch, quantity: key, value: record[key] });
  });
  const encoding = {
    x: { field: 'epoch', type: 'quantitative', title: 'epoch', axis: { tickMinStep: 1 } },
    y: { field: 'value', type: 'quantitative', title: null, scale: { zero: false } },
  };
  const spec = {
    ...(options.title ? { title: options.title } : { title: 'Training' }),
    data: { values: rows },
    facet: { field: 'quantity', type: 'nominal', title: null, sort: [...keys] },
    columns: options.columns ?? 3,
    spec: {
      width: options.width ?? 200,
      height: options.height ?? 120,
      layer: [
        { name: 'curve', mark: { type: 'line', color: '#4c78a8' }, encoding },
        { name: 'points', mark: { type: 'point', filled: true, size: 16, color: '#4c78a8' }, encoding },
      ],
    },
    resolve: { scale: { y: 'independent' } },
  };
  return renderVegaLite(spec, options);
}
