import { readFile } from 'node:fs/promises';
import { parse } from 'csv-parse/sync';
import { BayescompError } from '../util/errors.js';
import type { Dataset } from './dataset.js';
import { type Standardization, applyStandardization, fitStandardization } from './standardize.js';

/** A column given by header name, or by 0-based index (negative counts from the end: -1 is the last column). */
export type CsvColumn = string | number;

/** Options for {@link loadCsvDataset} and {@link csvDatasetFromText}. */
export interface CsvDatasetOptions {
  /** Target column(s). Default: the last column. Several columns make a multi-output regression. */
  readonly target?: CsvColumn | readonly CsvColumn[];
  /** Feature columns. Default: every column that is not a target. */
  readonly features?: readonly CsvColumn[];
  /**
   * `classification` maps target values to class indices; `regression` reads them as numbers. `auto` (the default)
   * chooses classification when the single target column holds a non-number or only integers, else regression.
   */
  readonly task?: 'classification' | 'regression' | 'auto';
  /** Class names in index order; default: the distinct target values, numerically sorted when all are numbers. */
  readonly classNames?: readonly string[];
  /** Z-score the features with statistics fitted on the training file (returned in the result). Default: false. */
  readonly standardize?: boolean;
  /** Z-score regression targets with statistics fitted on the training file. Default: false. */
  readonly standardizeTargets?: boolean;
  /** Field delimiter. Default: `,`. */
  readonly delimiter?: string;
}

/** A tabular dataset read from CSV. */
export interface CsvDataset {
  readonly train: Dataset;
  readonly test?: Dataset;
  readonly task: 'classification' | 'regression';
  readonly featureNames: readonly string[];
  readonly targetNames: readonly string[];
  /** For classification: the label each class index stands for. */
  readonly classNames?: readonly string[];
  /** Feature statistics fitted on the training data, when `standardize` was set. */
  readonly featureStandardization?: Standardization;
  /** Target statistics fitted on the training data, when `standardizeTargets` was set. */
  readonly targetStandardization?: Standardization;
}

/** A parsed CSV file: header, data rows, and each row's line number in the file (for messages). */
interface CsvTable {
  readonly file: string;
  readonly header: readonly string[];
  readonly rows: readonly (readonly string[])[];
  readonly lines: readonly number[];
}

/**
 * Reads a CSV file with a header row (and optionally a test file with the same header) as a classification or
 * regression dataset. See {@link csvDatasetFromText}.
 */
export async function loadCsvDataset(
  trainFile: string,
  options: CsvDatasetOptions & { readonly testFile?: string } = {},
): Promise<CsvDataset> {
  const read = async (file: string) => {
    try {
      return await readFile(file, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
        throw new BayescompError('not-found', 'no such file', { file, cause: err });
      }
      throw err;
    }
  };
  const train = { text: await read(trainFile), file: trainFile };
  const test = options.testFile ? { text: await read(options.testFile), file: options.testFile } : undefined;
  return csvDatasetFromText(train, test, options);
}

/**
 * Builds a dataset from CSV text (a header row, then one example per row). Feature cells must be decimal numbers;
 * class labels may be any strings. Problems — an empty file, a row with the wrong number of fields, a non-numeric
 * feature cell, a test header that differs from the training header — throw a `bad-format` error naming the file,
 * the line and the column. Standardisation statistics are fitted on the training rows only and applied to both.
 */
export function csvDatasetFromText(
  train: { readonly text: string; readonly file: string },
  test: { readonly text: string; readonly file: string } | undefined,
  options: CsvDatasetOptions = {},
): CsvDataset {
  const delimiter = options.delimiter ?? ',';
  const trainTable = parseTable(train.text, train.file, delimiter);
  const testTable = test ? parseTable(test.text, test.file, delimiter) : undefined;
  if (testTable && testTable.header.join('\u0000') !== trainTable.header.join('\u0000')) {
    throw new BayescompError(
      'bad-format',
      `header (${testTable.header.join(', ')}) differs from the training file's (${trainTable.header.join(', ')})`,
      { file: testTable.file },
    );
  }
  const header = trainTable.header;
  const targetCols = resolveColumns(header, options.target ?? -1, 'target');
  const featureCols = options.features
    ? resolveColumns(header, options.features, 'feature')
    : header.map((_, j) => j).filter((j) => !targetCols.includes(j));
  const overlap = featureCols.find((j) => targetCols.includes(j));
  if (overlap !== undefined) {
    throw new BayescompError('bad-config', `column '${header[overlap]}' is both a feature and a target`);
  }
  if (featureCols.length === 0) throw new BayescompError('bad-config', `no feature columns left in ${train.file}`);

  const tables = testTable ? [trainTable, testTable] : [trainTable];
  const task = chooseTask(options.task ?? 'auto', tables, targetCols);
  const featureNames = featureCols.map((j) => header[j]);
  const targetNames = targetCols.map((j) => header[j]);
  const xs = tables.map((t) => numericColumns(t, featureCols));

  let featureStandardization: Standardization | undefined;
  if (options.standardize) {
    featureStandardization = fitStandardization(xs[0], featureCols.length);
    for (let k = 0; k < xs.length; k++) xs[k] = applyStandardization(xs[k], featureStandardization);
  }
  const common = { featureShape: [featureCols.length] };

  if (task === 'classification') {
    const classNames = options.classNames ?? distinctLabels(tables, targetCols[0]);
    const index = new Map(classNames.map((name, i) => [name, i]));
    const datasets = tables.map((t, k) => ({
      ...common,
      x: xs[k],
      y: classIndices(t, targetCols[0], index, classNames),
      n: t.rows.length,
      numClasses: classNames.length,
      classNames,
      source: t.file,
    }));
    return { train: datasets[0], test: datasets[1], task, featureNames, targetNames, classNames, featureStandardization };
  }

  const ys = tables.map((t) => numericColumns(t, targetCols));
  let targetStandardization: Standardization | undefined;
  if (options.standardizeTargets) {
    targetStandardization = fitStandardization(ys[0], targetCols.length);
    for (let k = 0; k < ys.length; k++) ys[k] = applyStandardization(ys[k], targetStandardization);
  }
  const datasets = tables.map((t, k) => ({
    ...common,
    x: xs[k],
    y: ys[k],
    n: t.rows.length,
    targetSize: targetCols.length,
    source: t.file,
  }));
  return {
    train: datasets[0],
    test: datasets[1],
    task,
    featureNames,
    targetNames,
    featureStandardization,
    targetStandardization,
  };
}

function parseTable(text: string, file: string, delimiter: string): CsvTable {
  let records: { record: string[]; info: { lines: number } }[];
  try {
    records = parse(text, {
      delimiter,
      bom: true,
      trim: true,
      skip_empty_lines: true,
      relax_column_count: true,
      info: true,
    }) as unknown as typeof records;
  } catch (err) {
    const reason = (err instanceof Error ? err.message : String(err)).replace(/\s+/g, ' ');
    throw new BayescompError('bad-format', `not valid CSV: ${reason}`, { file, cause: err });
  }
  if (records.length === 0) throw new BayescompError('bad-format', 'empty file: no header row', { file });
  const header = records[0].record;
  if (records.length === 1) throw new BayescompError('bad-format', 'no data rows after the header', { file });
  const seen = new Set<string>();
  header.forEach((name, j) => {
    if (name === '') throw new BayescompError('bad-format', `header column ${j + 1} has no name`, { file });
    if (seen.has(name)) throw new BayescompError('bad-format', `header names column '${name}' twice`, { file });
    seen.add(name);
  });
  const rows: string[][] = [];
  const lines: number[] = [];
  for (const { record, info } of records.slice(1)) {
    if (record.length !== header.length) {
      throw new BayescompError(
        'bad-format',
        `line ${info.lines}: ${record.length} fields, but the header has ${header.length}`,
        { file },
      );
    }
    rows.push(record);
    lines.push(info.lines);
  }
  return { file, header, rows, lines };
}

function resolveColumns(
  header: readonly string[],
  spec: CsvColumn | readonly CsvColumn[],
  role: string,
): number[] {
  const list: readonly CsvColumn[] = Array.isArray(spec) ? spec : [spec as CsvColumn];
  if (list.length === 0) throw new BayescompError('bad-config', `no ${role} column given`);
  return list.map((c) => {
    if (typeof c === 'number') {
      const j = c < 0 ? header.length + c : c;
      if (!Number.isInteger(c) || j < 0 || j >= header.length) {
        throw new BayescompError('bad-config', `${role} column index ${c} is outside the ${header.length} columns`);
      }
      return j;
    }
    const j = header.indexOf(c);
    if (j < 0) {
      throw new BayescompError('bad-config', `no ${role} column '${c}' (columns: ${header.join(', ')})`);
    }
    return j;
  });
}

const DECIMAL = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;

function numberOrUndefined(cell: string): number | undefined {
  return DECIMAL.test(cell) ? Number(cell) : undefined;
}

function chooseTask(
  task: NonNullable<CsvDatasetOptions['task']>,
  tables: readonly CsvTable[],
  targetCols: readonly number[],
): 'classification' | 'regression' {
  if (task === 'classification' && targetCols.length > 1) {
    throw new BayescompError('bad-config', 'classification needs exactly one target column');
  }
  if (task !== 'auto') return task;
  if (targetCols.length > 1) return 'regression';
  let allIntegers = true;
  for (const t of tables) {
    for (const row of t.rows) {
      const v = numberOrUndefined(row[targetCols[0]]);
      if (v === undefined) return 'classification';
      if (!Number.isInteger(v)) allIntegers = false;
    }
  }
  return allIntegers ? 'classification' : 'regression';
}

/** The numeric values of `cols`, row-major; a cell that is not a decimal number is a `bad-format` error. */
function numericColumns(t: CsvTable, cols: readonly number[]): Float32Array {
  const out = new Float32Array(t.rows.length * cols.length);
  t.rows.forEach((row, i) => {
    cols.forEach((j, k) => {
      const v = numberOrUndefined(row[j]);
      if (v === undefined) {
        throw new BayescompError(
          'bad-format',
          `line ${t.lines[i]}, column '${t.header[j]}' (${j + 1}): ${row[j] === '' ? 'empty cell' : `'${row[j]}' is not a number`}`,
          { file: t.file },
        );
      }
      out[i * cols.length + k] = v;
      if (!Number.isFinite(out[i * cols.length + k])) {
        // '1e999' is a decimal number but Infinity; 1e39 overflows float32, which the dataset is held in.
        throw new BayescompError(
          'bad-format',
          `line ${t.lines[i]}, column '${t.header[j]}' (${j + 1}): '${row[j]}' is not finite in float32 (|x| > 3.4e38)`,
          { file: t.file },
        );
      }
    });
  });
  return out;
}

/** Distinct labels over all tables: numerically sorted when all are numbers, else in string order. */
function distinctLabels(tables: readonly CsvTable[], col: number): string[] {
  const labels = new Set<string>();
  for (const t of tables) for (const row of t.rows) labels.add(canonicalLabel(row[col]));
  const list = [...labels];
  if (list.every((l) => numberOrUndefined(l) !== undefined)) return list.sort((a, b) => Number(a) - Number(b));
  return list.sort();
}

/** Integer labels written as `1.0` and `1` are the same class. */
function canonicalLabel(cell: string): string {
  const v = numberOrUndefined(cell);
  return v !== undefined && Number.isInteger(v) ? String(v) : cell;
}

function classIndices(
  t: CsvTable,
  col: number,
  index: ReadonlyMap<string, number>,
  classNames: readonly string[],
): Int32Array {
  return Int32Array.from(t.rows, (row, i) => {
    const label = canonicalLabel(row[col]);
    const k = index.get(label) ?? index.get(row[col]);
    if (k === undefined) {
      throw new BayescompError(
        'bad-format',
        `line ${t.lines[i]}, column '${t.header[col]}': label '${row[col]}' is not one of the classes ` +
          `(${classNames.join(', ')})`,
        { file: t.file },
      );
    }
    return k;
  });
}
