import * as tf from '@tensorflow/tfjs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { backendInfo, type BackendInfo } from '../runtime/backend.js';
import { writeJsonAtomic } from '../util/atomic-write.js';
import { BayescompError } from '../util/errors.js';
import { packageVersion } from './version.js';

/**
 * The layout of a run directory, which holds everything needed to reproduce and inspect a run:
 * - `run.json`: the command, its fully resolved options (seed included), versions, backend, timings, status;
 * - `history.json` and `checkpoints/`: written by the training loop (resume reads them);
 * - `model/`: the trained model as a TF.js Layers model (`model.json` + weights);
 * - `metrics.json`: test-set metrics; `compression.json`, `laplace/`, `report.html` from later commands.
 */
export const RUN_FILES = {
  run: 'run.json',
  history: 'history.json',
  checkpoints: 'checkpoints',
  model: 'model',
  metrics: 'metrics.json',
} as const;

/** The content of `run.json`. */
export interface RunRecord {
  readonly command: string;
  readonly options: Readonly<Record<string, unknown>>;
  readonly seed: number;
  readonly versions: { readonly bayescomp: string; readonly tfjs: string; readonly node: string };
  readonly backend: string;
  readonly backendDetails?: BackendInfo;
  readonly startedAt: string;
  readonly finishedAt?: string;
  readonly status: 'running' | 'finished' | 'failed';
  readonly seconds?: number;
  readonly error?: string;
}

/** A new `run.json` record for a command starting now. */
export function newRunRecord(command: string, options: Record<string, unknown>, seed: number): RunRecord {
  const backend = backendInfo();
  return {
    command,
    options,
    seed,
    versions: { bayescomp: packageVersion(), tfjs: tf.version.tfjs, node: process.versions.node },
    backend: backend?.name ?? tf.getBackend(),
    backendDetails: backend,
    startedAt: new Date().toISOString(),
    status: 'running',
  };
}

/** Writes `run.json` atomically. */
export async function writeRunRecord(runDir: string, record: RunRecord): Promise<void> {
  await writeJsonAtomic(join(runDir, RUN_FILES.run), record);
}

/** Reads `run.json`, with a clear error when the directory is not a run directory. */
export async function readRunRecord(runDir: string): Promise<RunRecord> {
  const path = join(runDir, RUN_FILES.run);
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch {
    throw new BayescompError('not-found', `${runDir} is not a bayescomp run directory (no ${RUN_FILES.run})`);
  }
  try {
    return JSON.parse(text) as RunRecord;
  } catch {
    throw new BayescompError('bad-format', 'not valid JSON', { file: path });
  }
}

/** Marks a run finished (or failed) with its duration. */
export function finishRunRecord(record: RunRecord, error?: unknown): RunRecord {
  const finishedAt = new Date();
  return {
    ...record,
    finishedAt: finishedAt.toISOString(),
    status: error ? 'failed' : 'finished',
    seconds: (finishedAt.getTime() - Date.parse(record.startedAt)) / 1000,
    ...(error ? { error: error instanceof Error ? error.message : String(error) } : {}),
  };
}
