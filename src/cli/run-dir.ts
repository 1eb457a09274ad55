import * as tf from '@tensorflow/tfjs';
import { readdir, readFile, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { MODEL_JSON_FILE } from '../models/file-io.js';
import { readCheckpoint } from '../train/checkpoint.js';
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
  /** `interrupted`: stopped on request with a checkpoint in place (continue with `--resume`). */
  readonly status: 'running' | 'finished' | 'failed' | 'interrupted';
  readonly seconds?: number;
  /**
   * Wall-clock seconds spent in the training loop (for an ensemble, summed over its members; across resumptions),
   * without data loading, model building and the final test-set evaluation that `seconds` also counts.
   */
  readonly trainSeconds?: number;
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

/** Marks a run interrupted on request (a checkpoint is in place for `--resume`), with its duration so far. */
export function interruptRunRecord(record: RunRecord): RunRecord {
  const finishedAt = new Date();
  return {
    ...record,
    finishedAt: finishedAt.toISOString(),
    status: 'interrupted',
    seconds: (finishedAt.getTime() - Date.parse(record.startedAt)) / 1000,
  };
}

/** Marks a run finished (or failed, or interrupted) with its duration. */
export function finishRunRecord(
  record: RunRecord,
  error?: unknown,
  status: RunRecord['status'] = error ? 'failed' : 'finished',
): RunRecord {
  const finishedAt = new Date();
  return {
    ...record,
    finishedAt: finishedAt.toISOString(),
    status,
    seconds: (finishedAt.getTime() - Date.parse(record.startedAt)) / 1000,
    ...(error ? { error: error instanceof Error ? error.message : String(error) } : {}),
  };
}

/** A temporary file of `writeFileAtomic` (`.<name>.<pid>.<8 hex>.tmp`), left behind when a process was killed. */
const ATOMIC_TEMP_FILE = /^\..+\.\d+\.[0-9a-f]{8}\.tmp$/;

/** What a run directory holds, to tell a finished run from an interrupted or damaged one. */
export interface RunDirectoryState {
  readonly dir: string;
  /** `run.json` as parsed, when it parses. */
  readonly record?: RunRecord;
  /** Why `run.json` could not be read (absent, not JSON). */
  readonly recordProblem?: string;
  /** Whether `model/model.json` exists. */
  readonly hasModel: boolean;
  /** Where the checkpoint stands (`epoch`, `step`), or why it cannot be read; absent when there is none. */
  readonly checkpoint?: { readonly epoch: number; readonly step: number } | { readonly problem: string };
  /** Temporary files of interrupted atomic writes. */
  readonly leftovers: readonly string[];
}

/** Inspects a run directory without changing it. */
export async function inspectRunDirectory(dir: string): Promise<RunDirectoryState> {
  let record: RunRecord | undefined;
  let recordProblem: string | undefined;
  try {
    record = await readRunRecord(dir);
  } catch (err) {
    recordProblem =
      err instanceof BayescompError && err.code === 'not-found'
        ? `no ${RUN_FILES.run}`
        : `${RUN_FILES.run} is not valid JSON`;
  }
  const hasModel = await isFile(join(dir, RUN_FILES.model, MODEL_JSON_FILE));
  let checkpoint: RunDirectoryState['checkpoint'];
  try {
    const saved = await readCheckpoint(dir);
    if (saved) checkpoint = { epoch: saved.epoch, step: saved.step };
  } catch (err) {
    checkpoint = { problem: err instanceof Error ? err.message : String(err) };
  }
  const entries = await readdir(dir).catch(() => [] as string[]);
  const leftovers = entries.filter((name) => ATOMIC_TEMP_FILE.test(name));
  return { dir, record, recordProblem, hasModel, checkpoint, leftovers };
}

/** One phrase saying what an unfinished run directory lacks and holds, for error messages. */
export function describeUnfinishedRun(state: RunDirectoryState): string {
  const parts: string[] = [];
  if (state.record) parts.push(`its ${RUN_FILES.run} says '${state.record.status}'`);
  else parts.push(state.recordProblem ?? `no ${RUN_FILES.run}`);
  if (!state.hasModel) parts.push(`it has no ${RUN_FILES.model}/${MODEL_JSON_FILE}`);
  const c = state.checkpoint;
  if (!c) parts.push('no checkpoint');
  else if ('problem' in c) parts.push(`a damaged checkpoint (${c.problem})`);
  else
    parts.push(
      `a checkpoint from ${c.step > 0 ? `epoch ${c.epoch + 1}, step ${c.step}` : `the end of epoch ${c.epoch}`}`,
    );
  if (state.leftovers.length)
    parts.push(`${state.leftovers.length} temporary file(s) of an interrupted write`);
  return parts.join(', ');
}

/**
 * The `model/` directory of a run, or a clear error when the run never got as far as saving it (killed or
 * interrupted during training): what the directory holds, and how to continue (`train --resume`) or start over.
 */
export async function requireRunModel(dir: string): Promise<string> {
  const modelDir = join(dir, RUN_FILES.model);
  if (await isFile(join(modelDir, MODEL_JSON_FILE))) return modelDir;
  const state = await inspectRunDirectory(dir);
  const c = state.checkpoint;
  const next =
    c && !('problem' in c)
      ? `continue it with \`bayescomp train --resume --out ${dir}\` and the same options`
      : 'train it again into a new directory';
  throw new BayescompError(
    'not-found',
    `${dir} is an unfinished run directory (${describeUnfinishedRun(state)}); ${next}`,
  );
}

/** Removes the temporary files of interrupted atomic writes from `dir`; returns their names. */
export async function removeLeftoverTempFiles(dir: string): Promise<string[]> {
  const entries = await readdir(dir).catch(() => [] as string[]);
  const leftovers = entries.filter((name) => ATOMIC_TEMP_FILE.test(name));
  await Promise.all(leftovers.map((name) => rm(join(dir, name), { force: true })));
  return leftovers;
}

async function isFile(path: string): Promise<boolean> {
  return stat(path).then(
    (s) => s.isFile(),
    () => false,
  );
}
