import * as tf from '@tensorflow/tfjs';
import { readFile, readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { writeFileAtomic, writeJsonAtomic } from '../util/atomic-write.js';
import { BayescompError } from '../util/errors.js';
import type { OptimizerState } from './optimizers.js';
import type { EpochLog } from './types.js';

/** Version of the checkpoint layout; bumped when a reader of the old layout would misread the new one. */
export const CHECKPOINT_FORMAT_VERSION = 1;

/** The metadata file a run directory's checkpoint is found by. */
export const CHECKPOINT_FILE = 'checkpoint.json';

/** A variable's value as plain data. */
export interface NamedWeightValues {
  readonly name: string;
  readonly shape: readonly number[];
  readonly dtype: 'float32' | 'int32';
  readonly values: Float32Array | Int32Array;
}

/** Sums over the steps of an epoch that a mid-epoch checkpoint interrupted, so the epoch's means come out the same. */
export interface PartialEpoch {
  readonly steps: number;
  readonly lossSum: number;
  readonly termSums: Readonly<Record<string, number>>;
  readonly learningRate: number;
  readonly seconds: number;
}

/** Everything needed to continue a run exactly where it stopped. */
export interface TrainingCheckpoint {
  /** Epochs completed. */
  readonly epoch: number;
  /** Steps completed within epoch `epoch` (0 at an epoch boundary). */
  readonly step: number;
  /** Steps completed since the start of the run. */
  readonly globalStep: number;
  readonly seed: number;
  /** State of the run's generator (the one objectives draw noise from). */
  readonly random: readonly [number, number, number, number];
  readonly objective: { readonly name: string; readonly state?: Record<string, unknown> };
  readonly optimizer: OptimizerState;
  /** Every model weight (trainable or not), in `model.weights` order. */
  readonly modelWeights: readonly NamedWeightValues[];
  /** The objective's extra variables, in `extraVariables()` order. */
  readonly extraVariables: readonly NamedWeightValues[];
  readonly history: readonly EpochLog[];
  readonly partialEpoch?: PartialEpoch;
  /** Settings a resumed run must share with the saved one (the batch order depends on them). */
  readonly run?: { readonly batchSize: number; readonly datasetSize: number };
  /** Factor on the scheduled learning rate left by NaN rollbacks (absent: 1). */
  readonly learningRateScale?: number;
}

interface ManifestEntry {
  readonly group: 'model' | 'extra' | 'optimizer';
  readonly name: string;
  readonly shape: number[];
  readonly dtype: 'float32' | 'int32';
  readonly offset: number;
}

interface CheckpointJson {
  readonly format: 'bayescomp-checkpoint';
  readonly version: number;
  readonly weightsFile: string;
  readonly weightsBytes: number;
  readonly manifest: ManifestEntry[];
  readonly epoch: number;
  readonly step: number;
  readonly globalStep: number;
  readonly seed: number;
  readonly random: [number, number, number, number];
  readonly objective: { name: string; state?: Record<string, unknown> };
  readonly optimizer: { className: string; iterations: number; adamBetaPowers?: [number, number] };
  readonly history: EpochLog[];
  readonly partialEpoch?: PartialEpoch;
  readonly run?: { batchSize: number; datasetSize: number };
  readonly learningRateScale?: number;
  readonly savedAt: string;
}

/**
 * Writes a checkpoint into `runDir` so that a crash at any moment leaves a usable one: the tensors go to a new,
 * uniquely named `checkpoint-*.bin`, then `checkpoint.json` (which names that file) replaces the old one atomically,
 * and only then are older `.bin` files removed. Values are stored as little-endian 32-bit words.
 */
export async function writeCheckpoint(runDir: string, checkpoint: TrainingCheckpoint): Promise<void> {
  const groups: Array<[ManifestEntry['group'], readonly NamedWeightValues[]]> = [
    ['model', checkpoint.modelWeights],
    ['extra', checkpoint.extraVariables],
    [
      'optimizer',
      checkpoint.optimizer.slots.map((s) => ({
        name: s.name,
        shape: s.shape,
        dtype: 'float32' as const,
        values: s.values,
      })),
    ],
  ];
  const manifest: ManifestEntry[] = [];
  let bytes = 0;
  for (const [group, list] of groups) {
    for (const v of list) {
      manifest.push({ group, name: v.name, shape: [...v.shape], dtype: v.dtype, offset: bytes });
      bytes += v.values.length * 4;
    }
  }
  const buffer = new Uint8Array(bytes);
  let i = 0;
  for (const [, list] of groups) {
    for (const v of list) {
      buffer.set(
        new Uint8Array(v.values.buffer, v.values.byteOffset, v.values.byteLength),
        manifest[i].offset,
      );
      i++;
    }
  }
  const weightsFile = `checkpoint-${checkpoint.globalStep}-${randomBytes(4).toString('hex')}.bin`;
  await writeFileAtomic(join(runDir, weightsFile), buffer);
  const json: CheckpointJson = {
    format: 'bayescomp-checkpoint',
    version: CHECKPOINT_FORMAT_VERSION,
    weightsFile,
    weightsBytes: bytes,
    manifest,
    epoch: checkpoint.epoch,
    step: checkpoint.step,
    globalStep: checkpoint.globalStep,
    seed: checkpoint.seed,
    random: [...checkpoint.random] as [number, number, number, number],
    objective: checkpoint.objective,
    optimizer: {
      className: checkpoint.optimizer.className,
      iterations: checkpoint.optimizer.iterations,
      adamBetaPowers: checkpoint.optimizer.adamBetaPowers
        ? [checkpoint.optimizer.adamBetaPowers[0], checkpoint.optimizer.adamBetaPowers[1]]
        : undefined,
    },
    history: [...checkpoint.history],
    partialEpoch: checkpoint.partialEpoch,
    run: checkpoint.run,
    ...(checkpoint.learningRateScale !== undefined && checkpoint.learningRateScale !== 1
      ? { learningRateScale: checkpoint.learningRateScale }
      : {}),
    savedAt: new Date().toISOString(),
  };
  await writeJsonAtomic(join(runDir, CHECKPOINT_FILE), json);
  const stale = (await readdir(runDir)).filter((f) => /^checkpoint-.*\.bin$/.test(f) && f !== weightsFile);
  await Promise.all(stale.map((f) => rm(join(runDir, f), { force: true })));
}

/**
 * Reads the checkpoint in `runDir`, or returns undefined when there is none. A damaged checkpoint (unparsable JSON,
 * other format or version, missing or short weights file) throws a `bad-format` error naming the file.
 */
export async function readCheckpoint(runDir: string): Promise<TrainingCheckpoint | undefined> {
  const jsonPath = join(runDir, CHECKPOINT_FILE);
  let text: string;
  try {
    text = await readFile(jsonPath, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
  let json: CheckpointJson;
  try {
    json = JSON.parse(text) as CheckpointJson;
  } catch {
    throw new BayescompError('bad-format', 'checkpoint is not valid JSON', { file: jsonPath });
  }
  if (json?.format !== 'bayescomp-checkpoint') {
    throw new BayescompError('bad-format', 'not a bayescomp checkpoint', { file: jsonPath });
  }
  if (json.version !== CHECKPOINT_FORMAT_VERSION) {
    throw new BayescompError(
      'bad-format',
      `checkpoint format version ${json.version} is not supported (this build reads version ${CHECKPOINT_FORMAT_VERSION})`,
      { file: jsonPath },
    );
  }
  if (typeof json.weightsFile !== 'string' || !/^checkpoint-[\w-]+\.bin$/.test(json.weightsFile)) {
    throw new BayescompError('bad-format', 'checkpoint names no valid weights file', { file: jsonPath });
  }
  const binPath = join(runDir, json.weightsFile);
  let bin: Buffer;
  try {
    bin = await readFile(binPath);
  } catch {
    throw new BayescompError('bad-format', `the checkpoint's weights file ${json.weightsFile} is missing`, {
      file: jsonPath,
    });
  }
  if (bin.length !== json.weightsBytes) {
    throw new BayescompError(
      'bad-format',
      `holds ${bin.length} bytes, the checkpoint declares ${json.weightsBytes}`,
      {
        file: binPath,
      },
    );
  }
  checkCheckpointFields(json, jsonPath);
  const groups: Record<ManifestEntry['group'], NamedWeightValues[]> = { model: [], extra: [], optimizer: [] };
  for (const entry of json.manifest) {
    const count = entry.shape.reduce((a, b) => a * b, 1);
    if (!(entry.offset >= 0) || entry.offset % 4 !== 0 || entry.offset + count * 4 > bin.length) {
      throw new BayescompError(
        'bad-format',
        `entry '${entry.name}' [${entry.shape}] lies outside the weights file`,
        {
          file: binPath,
        },
      );
    }
    // Copy into a fresh, aligned buffer: a Buffer's byteOffset need not be a multiple of 4.
    const copy = bin.buffer.slice(bin.byteOffset + entry.offset, bin.byteOffset + entry.offset + count * 4);
    const values = entry.dtype === 'int32' ? new Int32Array(copy) : new Float32Array(copy);
    groups[entry.group].push({ name: entry.name, shape: entry.shape, dtype: entry.dtype, values });
  }
  return {
    epoch: json.epoch,
    step: json.step,
    globalStep: json.globalStep,
    seed: json.seed,
    random: json.random,
    objective: json.objective,
    optimizer: {
      className: json.optimizer.className,
      iterations: json.optimizer.iterations,
      adamBetaPowers: json.optimizer.adamBetaPowers,
      slots: groups.optimizer.map((s) => ({
        name: s.name,
        shape: s.shape,
        values: s.values as Float32Array,
      })),
    },
    modelWeights: groups.model,
    extraVariables: groups.extra,
    history: json.history ?? [],
    partialEpoch: json.partialEpoch,
    run: json.run,
    ...(json.learningRateScale !== undefined ? { learningRateScale: json.learningRateScale } : {}),
  };
}

/**
 * Checks the fields of a parsed `checkpoint.json` that reading and restoring rely on, so that a damaged or edited file
 * is a `bad-format` error naming the field rather than a TypeError later.
 */
function checkCheckpointFields(json: CheckpointJson, file: string): void {
  const fail = (what: string): never => {
    throw new BayescompError('bad-format', `damaged checkpoint: ${what}`, { file });
  };
  const count = (v: unknown) => Number.isSafeInteger(v) && (v as number) >= 0;
  if (!count(json.weightsBytes)) fail('weightsBytes is not a byte count');
  for (const key of ['epoch', 'step', 'globalStep'] as const)
    if (!count(json[key])) fail(`${key} is not a count`);
  if (!Number.isFinite(json.seed)) fail('seed is not a number');
  if (
    !Array.isArray(json.random) ||
    json.random.length !== 4 ||
    !json.random.every((v) => Number.isInteger(v))
  )
    fail('the generator state is not 4 integers');
  if (typeof json.objective?.name !== 'string') fail('the objective has no name');
  const o = json.optimizer;
  if (typeof o?.className !== 'string' || !count(o.iterations)) fail('the optimizer state is incomplete');
  if (!Array.isArray(json.manifest)) fail('manifest is not an array');
  json.manifest.forEach((e, i) => {
    const where = `manifest[${i}]`;
    if (typeof e !== 'object' || e === null) fail(`${where} is not an object`);
    if (!['model', 'extra', 'optimizer'].includes(e.group)) fail(`${where} has an unknown group`);
    if (typeof e.name !== 'string') fail(`${where} has no name`);
    if (e.dtype !== 'float32' && e.dtype !== 'int32') fail(`${where} has dtype ${String(e.dtype)}`);
    if (!Array.isArray(e.shape) || !e.shape.every(count)) fail(`${where} has a malformed shape`);
    if (!count(e.offset)) fail(`${where} has a malformed offset`);
  });
  if (json.history !== undefined && !Array.isArray(json.history)) fail('history is not an array');
}

/** Reads variables' values (awaiting the device) as plain data for a checkpoint. */
export async function readVariableValues(
  variables: ReadonlyArray<{ readonly name: string; readonly tensor: tf.Tensor }>,
): Promise<NamedWeightValues[]> {
  const out: NamedWeightValues[] = [];
  for (const { name, tensor } of variables) {
    const dtype = tensor.dtype === 'int32' ? 'int32' : 'float32';
    const data = await tensor.data();
    const values = dtype === 'int32' ? new Int32Array(data) : new Float32Array(data);
    out.push({ name, shape: tensor.shape, dtype, values });
  }
  return out;
}

/** The model's weights (all of them, trainable or not) as named values, by variable name in `model.weights` order. */
export async function readModelWeights(model: tf.LayersModel): Promise<NamedWeightValues[]> {
  return readVariableValues(model.weights.map((w) => ({ name: w.originalName, tensor: w.read() })));
}

/**
 * Writes saved values into the model's weights. Weights are matched by name when every saved name is present in the
 * model, else by position (a model rebuilt in the same process gets fresh layer-name suffixes); shapes must agree.
 */
export function restoreModelWeights(
  model: tf.LayersModel,
  saved: readonly NamedWeightValues[],
  file?: string,
): void {
  const targets = model.weights.map((w) => ({
    name: w.originalName,
    write: (t: tf.Tensor) => w.write(t),
    shape: w.shape,
  }));
  assignValues(targets, saved, 'model weight', file);
}

/** Writes saved values into plain variables (e.g. an objective's extra variables), by position; shapes must agree. */
export function restoreVariables(
  variables: readonly tf.Variable[],
  saved: readonly NamedWeightValues[],
  file?: string,
): void {
  const targets = variables.map((v) => ({
    name: v.name,
    write: (t: tf.Tensor) => v.assign(t),
    shape: v.shape,
  }));
  assignValues(targets, saved, 'variable', file, false);
}

function assignValues(
  targets: ReadonlyArray<{ name: string; write: (t: tf.Tensor) => void; shape: readonly (number | null)[] }>,
  saved: readonly NamedWeightValues[],
  what: string,
  file: string | undefined,
  byName = true,
): void {
  if (saved.length !== targets.length) {
    throw new BayescompError(
      'bad-format',
      `the checkpoint holds ${saved.length} ${what}s but the run has ${targets.length}`,
      { file },
    );
  }
  const index = new Map(saved.map((s) => [s.name, s]));
  const matchByName = byName && index.size === saved.length && targets.every((t) => index.has(t.name));
  targets.forEach((target, i) => {
    const value = matchByName ? index.get(target.name)! : saved[i];
    if (value.shape.length !== target.shape.length || value.shape.some((d, k) => d !== target.shape[k])) {
      throw new BayescompError(
        'bad-format',
        `${what} '${target.name}' has shape [${target.shape}] but the checkpoint's '${value.name}' is [${value.shape}]`,
        { file },
      );
    }
    tf.tidy(() => target.write(tf.tensor(value.values, [...value.shape], value.dtype)));
  });
}
