import type * as tf from '@tensorflow/tfjs';
import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { WeightPosterior } from '../compress/weight-posterior.js';
import { variationalWeightPosteriors } from '../compress/from-variational.js';
import { histogramOf } from '../report/histogram.js';
import type {
  JsonValue,
  LayerHistogram,
  MethodSummary,
  ReportCompressionTable,
  RunSummary,
  WeightImageData,
} from '../report/run-summary.js';
import { downsampleMatrix, kernelImageMatrix } from '../report/weight-image.js';
import type { CompressionPoint } from '../report/compression-charts.js';
import { bayesianLayers } from '../variational/index.js';
import { BayescompError } from '../util/errors.js';
import { describeBackend } from '../runtime/backend.js';
import type { CompressResult } from './commands/compress.js';
import { type RunRecord, RUN_FILES } from './run-dir.js';

/** Per-method evaluations with score histograms, written by the demo (and any command that has them). */
export const EVALUATION_FILE = 'evaluation.json';

async function readJson<T>(path: string): Promise<T | undefined> {
  try {
    return JSON.parse(await readFile(path, 'utf8')) as T;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new BayescompError('bad-format', `not valid JSON (${(err as Error).message})`, { file: path });
  }
}

/** The directory and its immediate subdirectories that hold a `run.json`. */
async function runDirectories(dir: string): Promise<string[]> {
  const out: string[] = [];
  if (await exists(join(dir, RUN_FILES.run))) out.push(dir);
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    if (entry.isDirectory() && (await exists(join(dir, entry.name, RUN_FILES.run))))
      out.push(join(dir, entry.name));
  }
  return out;
}

async function exists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  );
}

/**
 * Assembles a report's {@link RunSummary} from a run directory and the run directories directly inside it (as the
 * demo lays them out: `map/`, `laplace/`, `sparse-vd/`, `compressed/`): configuration, backend and versions from
 * `run.json`, methods from `evaluation.json` or `metrics.json`, training curves from `history.json`, the compression
 * table and sweep from `compression.json`, and log α histograms and weight images from a variational model.
 */
export async function summaryFromRunDirectory(
  dir: string,
  loadModel?: (runDir: string) => Promise<tf.LayersModel | undefined>,
): Promise<RunSummary> {
  const dirs = await runDirectories(dir);
  if (dirs.length === 0)
    throw new BayescompError(
      'not-found',
      `${dir} holds no bayescomp run (no run.json in it or its subdirectories)`,
    );
  const records = await Promise.all(
    dirs.map(async (d) => [d, (await readJson<RunRecord>(join(d, RUN_FILES.run)))!] as const),
  );
  const [, first] = records[0];
  const methods: MethodSummary[] = [];
  const timings: Record<string, number> = {};
  let history: RunSummary['history'];
  let compression: ReportCompressionTable | undefined;
  let sweep: CompressionPoint[] | undefined;
  let posterior: RunSummary['posterior'];
  let weightImages: WeightImageData[] | undefined;
  const top = await readJson<MethodSummary[]>(join(dir, EVALUATION_FILE));
  if (top) methods.push(...top);
  for (const [d, record] of records) {
    const label = d === dir ? record.command : `${record.command} (${d.split('/').pop()})`;
    if (record.seconds !== undefined) timings[label] = record.seconds;
    if (record.trainSeconds !== undefined) timings[`${label}: training loop`] = record.trainSeconds;
    if (!top) methods.push(...(await methodsOf(d, record)));
    // An ensemble's training curves are its first member's.
    const h =
      (await readJson<{ history?: Record<string, unknown>[] }>(join(d, RUN_FILES.history))) ??
      (record.options.method === 'ensemble'
        ? await readJson<{ history?: Record<string, unknown>[] }>(join(d, 'members', '0', RUN_FILES.history))
        : undefined);
    if (h?.history && (!history || record.options.method !== 'map')) history = h.history.map(flattenRecord);
    const c = await readJson<CompressResult>(join(d, 'compression.json'));
    if (c) {
      compression = compressionTable(c);
      if (c.sweep)
        sweep = c.sweep.map((p) => ({
          compression: p.compression,
          accuracy: p.accuracy,
          series: c.criterion,
        }));
    }
    if (loadModel && record.command === 'train' && record.options.method !== 'map') {
      const model = await loadModel(d);
      if (model && bayesianLayers(model).length) {
        const posteriors = variationalWeightPosteriors(model);
        posterior = { logAlpha: logAlphaHistograms(posteriors) };
        weightImages = posteriors.slice(0, 2).map(weightImage);
      }
    }
  }
  return {
    schemaVersion: 1,
    title: `bayescomp — ${dir}`,
    runDir: dir,
    createdAt: new Date().toISOString(),
    command: records.map(([, r]) => r.command).join(', '),
    seed: first.seed,
    config: Object.fromEntries(
      records.flatMap(([d, r]) =>
        Object.entries(r.options).map(([k, v]) => [
          records.length > 1 ? `${d.split('/').pop()}.${k}` : k,
          toJson(v),
        ]),
      ),
    ),
    backend: {
      name: first.backend,
      description: first.backendDetails ? describeBackend(first.backendDetails) : undefined,
      tfjsVersion: first.versions.tfjs,
      simd: first.backendDetails?.simd,
      threads: first.backendDetails?.threads,
    },
    versions: { ...first.versions },
    timings,
    methods,
    ...(compression ? { compression } : {}),
    ...(history ? { history } : {}),
    ...(posterior?.logAlpha?.length ? { posterior } : {}),
    ...(sweep ? { accuracyVsCompression: sweep } : {}),
    ...(weightImages ? { weightImages } : {}),
  };
}

async function methodsOf(dir: string, record: RunRecord): Promise<MethodSummary[]> {
  const own = await readJson<MethodSummary[]>(join(dir, EVALUATION_FILE));
  if (own) return own;
  const metrics = await readJson<Record<string, unknown>>(join(dir, RUN_FILES.metrics));
  if (!metrics) return [];
  if (record.command === 'laplace') {
    return [metrics.map, metrics.laplace].filter(Boolean).map((m) => ({
      method: String((m as { method: string }).method),
      metrics: m as MethodSummary['metrics'],
    }));
  }
  const test = metrics.test as MethodSummary['metrics'] | undefined;
  return test ? [{ method: String(record.options.method ?? record.command), metrics: test }] : [];
}

function compressionTable(c: CompressResult): ReportCompressionTable {
  const units = new Map((c.units ?? []).map((u) => [u.name, u]));
  return {
    layers: c.rows.map((r) => ({
      name: r.name,
      weights: r.weights,
      kept: r.kept,
      sparsity: r.sparsity,
      ...(units.get(r.layer)
        ? { units: units.get(r.layer)!.before, keptUnits: units.get(r.layer)!.after }
        : r.liveUnits
          ? { units: r.liveUnits[1], keptUnits: r.liveUnits[0] }
          : {}),
      ...(r.bitsPerWeight !== undefined ? { bits: r.bitsPerWeight } : {}),
    })),
    bytes: c.bytes,
    accuracy: Object.fromEntries(
      Object.entries({
        'before pruning': c.metrics.before,
        'after pruning': c.metrics.pruned,
        'after quantisation': c.metrics.quantized,
      })
        .filter(([, m]) => m !== undefined)
        .map(([k, m]) => [k, m!.accuracy]),
    ),
  };
}

function logAlphaHistograms(posteriors: readonly WeightPosterior[]): LayerHistogram[] {
  return posteriors
    .filter((p) => p.logAlpha)
    .map((p) => ({ layer: p.layer, histogram: histogramOf(p.logAlpha!, { bins: 40, min: -10, max: 10 }) }));
}

function weightImage(p: WeightPosterior): WeightImageData {
  const matrix = downsampleMatrix(kernelImageMatrix(p.shape, p.mean), 96, 96);
  return {
    layer: p.layer,
    mode: 'magnitude',
    rows: matrix.rows,
    cols: matrix.cols,
    values: Array.from(matrix.values, (v) => (Number.isFinite(v) ? v : null)),
  };
}

function flattenRecord(record: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(record)) {
    if (v && typeof v === 'object' && !Array.isArray(v))
      for (const [k2, v2] of Object.entries(v)) out[`${k}.${k2}`] = v2;
    else out[k] = v;
  }
  return out;
}

function toJson(v: unknown): JsonValue {
  if (v === undefined) return null;
  return JSON.parse(JSON.stringify(v)) as JsonValue;
}
