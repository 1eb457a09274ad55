/**
 * The uncertainty comparison table of issue 6 (`bench/uncertainty-table.ts`): several trained runs — MAP, deep
 * ensemble, MC dropout, variational, Laplace — evaluated on one test set with one out-of-distribution set by the
 * same code as `bayescomp eval` ({@link evaluateModel}), side by side with their training and prediction times.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { backendInfo, describeBackend } from '../runtime/backend.js';
import { BayescompError } from '../util/errors.js';
import { runRecordIfAny } from './ensemble-run.js';
import type { DataOptions } from './resolve-inputs.js';
import {
  evaluateModel,
  type EvaluationData,
  loadEvaluationData,
  type PredictiveKind,
} from './run-predictive.js';
import { RUN_FILES, type RunRecord } from './run-dir.js';

/** One `label=path` entry: a run directory (any method) or a `bayescomp laplace` directory. */
export interface UncertaintyTableEntry {
  readonly label: string;
  readonly path: string;
}

/** Parses `label=path` (the label may not contain `=`; the path may). */
export function parseUncertaintyTableEntry(text: string): UncertaintyTableEntry {
  const eq = text.indexOf('=');
  if (eq <= 0 || eq === text.length - 1)
    throw new BayescompError('bad-config', `expected label=path, got '${text}'`);
  return { label: text.slice(0, eq), path: text.slice(eq + 1) };
}

/** One row of the table; fractions, nats and seconds as `eval --json` gives them. */
export interface UncertaintyTableRow {
  readonly label: string;
  readonly path: string;
  /** The predictive's name, e.g. `deep ensemble (M=5)`, `MC dropout (S=30)`. */
  readonly method: string;
  readonly kind: PredictiveKind;
  readonly accuracy: number;
  readonly nll: number;
  readonly ece: number;
  readonly brier: number;
  readonly auroc_maxprob?: number;
  readonly auroc_entropy?: number;
  /** Present for Monte-Carlo predictives (ensemble, MC dropout, variational). */
  readonly auroc_mi?: number;
  /**
   * Wall-clock training seconds from the runs' records (`trainSeconds` of `run.json`, else the run's whole duration),
   * including those of the run it started from (`--model RUN_DIR`, e.g. variational training initialised at a MAP
   * run, or a Laplace fit of it), followed recursively.
   */
  readonly train_seconds?: number;
  /** The part of `train_seconds` spent on the run(s) this one started from. */
  readonly pretrain_seconds?: number;
  /** For a Laplace directory: the fit alone (curvature and prior precision). */
  readonly fit_seconds?: number;
  /** Seconds to predict the test set. */
  readonly predict_seconds: number;
  readonly samples?: number;
}

/** The whole table. */
export interface UncertaintyTable {
  /** The backend the evaluation ran on (training times come from each run's own backend, in its `run.json`). */
  readonly backend: string;
  readonly data: string;
  readonly ood?: string;
  readonly n: number;
  readonly nOod?: number;
  readonly samples: number;
  readonly bins: number;
  readonly rows: UncertaintyTableRow[];
}

/** Options of {@link uncertaintyTable}. */
export interface UncertaintyTableOptions extends DataOptions {
  /** Test data: a dataset name or IDX directory (its test split). */
  readonly data: string;
  /** Out-of-distribution data (its test split). */
  readonly ood?: string;
  /** Monte-Carlo samples of stochastic predictives. Default 30. */
  readonly samples?: number;
  /** ECE bins. Default 15. */
  readonly bins?: number;
  readonly seed?: number;
  readonly batchSize?: number;
  /** Called after each row (progress). */
  readonly onRow?: (row: UncertaintyTableRow) => void;
}

/** Evaluates every entry on the same test and OOD data (loaded once) and collects the rows. */
export async function uncertaintyTable(
  entries: readonly UncertaintyTableEntry[],
  options: UncertaintyTableOptions,
): Promise<UncertaintyTable> {
  if (entries.length === 0) throw new BayescompError('bad-config', 'no label=path entries to evaluate');
  const samples = options.samples ?? 30;
  const bins = options.bins ?? 15;
  const data = await loadEvaluationData(options.data, options.ood, options);
  const rows: UncertaintyTableRow[] = [];
  for (const entry of entries) {
    const row = await tableRow(entry, data, {
      samples,
      bins,
      seed: options.seed ?? 0,
      batchSize: options.batchSize,
    });
    rows.push(row);
    options.onRow?.(row);
  }
  const backend = backendInfo();
  return {
    backend: backend ? describeBackend(backend) : 'unknown',
    data: options.data,
    ...(options.ood ? { ood: options.ood, nOod: data.ood?.n } : {}),
    n: data.test.n,
    samples,
    bins,
    rows,
  };
}

async function tableRow(
  entry: UncertaintyTableEntry,
  data: EvaluationData,
  options: { samples: number; bins: number; seed: number; batchSize?: number },
): Promise<UncertaintyTableRow> {
  const { metrics, kind, record } = await evaluateModel(entry.path, data, options);
  const times = await trainingTimes(entry.path, kind, record);
  return {
    label: entry.label,
    path: entry.path,
    method: metrics.method,
    kind,
    accuracy: metrics.accuracy,
    nll: metrics.nll,
    ece: metrics.ece,
    brier: metrics.brier,
    ...(metrics.ood
      ? {
          auroc_maxprob: metrics.ood.auroc_maxprob,
          auroc_entropy: metrics.ood.auroc_entropy,
          ...(metrics.ood.auroc_mi !== undefined ? { auroc_mi: metrics.ood.auroc_mi } : {}),
        }
      : {}),
    ...times,
    predict_seconds: metrics.test_predict_seconds,
    ...(metrics.numSamples ? { samples: metrics.numSamples } : {}),
  };
}

/** Training seconds recorded by `train` (and, for Laplace, the fit and the MAP run it was fitted to). */
async function trainingTimes(
  path: string,
  kind: PredictiveKind,
  record: RunRecord | undefined,
): Promise<{ train_seconds?: number; pretrain_seconds?: number; fit_seconds?: number }> {
  if (!record) return {};
  let own: number | undefined;
  let fit: number | undefined;
  if (kind === 'laplace') {
    const metrics = await readFile(join(path, RUN_FILES.metrics), 'utf8')
      .then((t) => JSON.parse(t) as { fitSeconds?: number })
      .catch(() => undefined);
    own = fit = metrics?.fitSeconds ?? record.seconds;
  } else own = record.trainSeconds ?? record.seconds;
  if (own === undefined) return {};
  const before = await startingRunSeconds(record, 8);
  return {
    train_seconds: own + (before ?? 0),
    ...(before !== undefined ? { pretrain_seconds: before } : {}),
    ...(fit !== undefined ? { fit_seconds: fit } : {}),
  };
}

/** Total training seconds of the run `record` started from (its `--model` when that is a run directory), if any. */
async function startingRunSeconds(record: RunRecord, depth: number): Promise<number | undefined> {
  const origin = record.options.modelOrigin ?? record.options.model;
  if (depth <= 0 || typeof origin !== 'string') return undefined;
  const from = await runRecordIfAny(origin).catch(() => undefined);
  const own = from ? (from.trainSeconds ?? from.seconds) : undefined;
  if (!from || own === undefined) return undefined;
  return own + ((await startingRunSeconds(from, depth - 1)) ?? 0);
}

const percent = (v: number | undefined) => (v === undefined ? '—' : (100 * v).toFixed(2));
const fixed = (v: number | undefined, digits: number) => (v === undefined ? '—' : v.toFixed(digits));

/** The table as GitHub markdown, with a caption line naming the data, OOD set, samples and backend. */
export function uncertaintyTableMarkdown(table: UncertaintyTable): string {
  const header = [
    'method',
    'predictive',
    'accuracy %',
    'NLL',
    `ECE % (${table.bins} bins)`,
    'Brier',
    'AUROC max-prob',
    'AUROC entropy',
    'AUROC MI',
    'train s',
    'predict s',
  ];
  const lines = [
    `Test set ${table.data} (n = ${table.n})` +
      (table.ood ? `, OOD ${table.ood} (n = ${table.nOod})` : '') +
      `; Monte-Carlo samples S = ${table.samples}; backend ${table.backend}.`,
    '',
    `| ${header.join(' | ')} |`,
    `|${header.map((_, i) => (i < 2 ? ' --- ' : ' ---: ')).join('|')}|`,
  ];
  for (const r of table.rows) {
    const train =
      r.fit_seconds !== undefined
        ? `${fixed(r.train_seconds, 1)} (fit ${fixed(r.fit_seconds, 1)})`
        : r.pretrain_seconds !== undefined
          ? `${fixed(r.train_seconds, 1)} (pretraining ${fixed(r.pretrain_seconds, 1)})`
          : fixed(r.train_seconds, 1);
    lines.push(
      `| ${[
        r.label,
        r.method,
        percent(r.accuracy),
        fixed(r.nll, 4),
        percent(r.ece),
        fixed(r.brier, 4),
        fixed(r.auroc_maxprob, 4),
        fixed(r.auroc_entropy, 4),
        fixed(r.auroc_mi, 4),
        train,
        fixed(r.predict_seconds, 2),
      ].join(' | ')} |`,
    );
  }
  return lines.join('\n') + '\n';
}
