import * as tf from '@tensorflow/tfjs';
import { mkdir, readdir, readFile, realpath, rm, stat, open } from 'node:fs/promises';
import { basename, dirname, isAbsolute, join, relative, resolve, sep, win32 } from 'node:path';
import { writeFilesAtomic } from '../util/atomic-write.js';
import { BayescompError } from '../util/errors.js';
import { parseLayersModelJson, type ManifestGroup, weightByteLength } from './model-json.js';

/** File name of the topology + manifest, as TF.js and the converter write it. */
export const MODEL_JSON_FILE = 'model.json';
/** Single weights file name used by tfjs-node's `file://` handler. */
export const SINGLE_WEIGHTS_FILE = 'weights.bin';

/** Options for {@link saveModel} and {@link fileSystemHandler}. */
export interface SaveModelOptions {
  /**
   * Split the weights into shards of at most this many bytes, named `group1-shard1ofN.bin` like
   * `tensorflowjs_converter` (whose default is 4 MiB). Unset (default): one `weights.bin`, like tfjs-node.
   */
  readonly shardSizeBytes?: number;
  /** Also save the optimizer's state (TF.js `includeOptimizer`), in the same manifest with `group: 'optimizer'`. */
  readonly includeOptimizer?: boolean;
}

/** Options for {@link loadModel}. */
export interface LoadModelOptions {
  /** Require the file's weights to match the model's exactly (TF.js `strict`). Default true. */
  readonly strict?: boolean;
}

/** What {@link readModelArtifacts} found: the resolved `model.json` and the artefacts TF.js loads from. */
export interface ModelFileArtifacts {
  readonly modelJsonPath: string;
  readonly artifacts: tf.io.ModelArtifacts;
}

/**
 * A TF.js IO handler for a model on the local file system, using only `@tensorflow/tfjs` (no tfjs-node).
 * `save` takes a directory and writes the weight shards, then `model.json`, each atomically; `load` takes a
 * `model.json` path or its directory and validates everything ({@link readModelArtifacts}) before TF.js allocates.
 */
export function fileSystemHandler(path: string, options: SaveModelOptions = {}): tf.io.IOHandler {
  return {
    save: (artifacts) => writeModelArtifacts(path, artifacts, options),
    load: async () => (await readModelArtifacts(path)).artifacts,
  };
}

/**
 * Saves `model` as `dir/model.json` plus weight shards (a path ending in `model.json` names its directory); returns
 * the path of `model.json`.
 */
export async function saveModel(
  model: tf.LayersModel,
  dir: string,
  options: SaveModelOptions = {},
): Promise<string> {
  const target = saveDirectory(dir);
  await model.save(fileSystemHandler(target, options), {
    includeOptimizer: options.includeOptimizer ?? false,
  });
  return join(target, MODEL_JSON_FILE);
}

/**
 * Loads a TF.js Layers model — saved by TF.js, by {@link saveModel} or converted from Keras — from a `model.json`
 * path or the directory holding it. Custom layers must be registered with `tf.serialization.registerClass` first
 * (importing bayescomp registers its Bayesian layers). Errors are `BayescompError`s naming `model.json`.
 */
export async function loadModel(path: string, options: LoadModelOptions = {}): Promise<tf.LayersModel> {
  const { modelJsonPath, artifacts } = await readModelArtifacts(path);
  const declared = (artifacts.weightSpecs ?? []).reduce((n, w) => n + w.shape.reduce((a, b) => a * b, 1), 0);
  try {
    return await withWeightSizeGuard(declared, modelJsonPath, () =>
      tf.loadLayersModel(tf.io.fromMemory(artifacts), { strict: options.strict ?? true }),
    );
  } catch (err) {
    throw explainTfjsLoadError(err, modelJsonPath);
  }
}

/** Elements a weight may have when `model.json` declares no weights (a topology-only file): 2²⁴ (64 MiB of float32). */
const MAX_UNDECLARED_WEIGHT_ELEMENTS = 2 ** 24;

/**
 * Runs `load` while every layer weight TF.js creates is checked against the weights the manifest declares. TF.js
 * builds a model by allocating each weight (zeros, or the initializer) before it compares the weights with the
 * manifest, so a topology with absurd sizes (a Dense layer of 10⁹ units) would allocate gigabytes first. A strict
 * load needs the file's weights to match the model's exactly, so no valid weight has more elements than the
 * manifest declares in total: anything larger is refused before its allocation.
 */
async function withWeightSizeGuard<T>(declared: number, file: string, load: () => Promise<T>): Promise<T> {
  const limit = declared > 0 ? declared : MAX_UNDECLARED_WEIGHT_ELEMENTS;
  const proto = tf.layers.Layer.prototype as unknown as { addWeight: (...args: unknown[]) => unknown };
  const original = proto.addWeight;
  proto.addWeight = function guarded(this: { name: string }, ...args: unknown[]) {
    const [name, shape] = args as [string, readonly number[]];
    const elements = shape.reduce((a, b) => a * b, 1);
    if (!shape.every((d) => Number.isSafeInteger(d) && d >= 0) || elements > limit) {
      throw new BayescompError(
        'bad-format',
        `layer '${this.name}' would create weight '${name}' of shape [${shape.join(', ')}] (${elements} values), ` +
          `more than the ${limit} values ${declared > 0 ? 'the weights manifest declares' : 'allowed without a weights manifest'}; ` +
          'the topology declares absurd sizes',
        { file },
      );
    }
    return original.apply(this, args);
  };
  try {
    return await load();
  } finally {
    proto.addWeight = original;
  }
}

/**
 * Reads and validates a Layers model on disk without building it. Checks, in this order and before reading any
 * weight bytes: `model.json` is JSON (else the line and column), it is a Layers model (a graph model is named as
 * such), the manifest is well-formed, every shard path is relative and stays inside the model's directory (also
 * after resolving symbolic links), every shard exists, and each group's shards hold exactly the bytes its weights
 * declare (elements × bytes of the stored dtype, quantised dtype when present).
 */
export async function readModelArtifacts(path: string): Promise<ModelFileArtifacts> {
  const modelJsonPath = await resolveModelJsonPath(stripFileScheme(path));
  // Some Windows editors prepend a byte-order mark, which JSON.parse rejects.
  const text = (await readFile(modelJsonPath, 'utf8')).replace(/^\uFEFF/, '');
  const { json, groups } = parseLayersModelJson(text, modelJsonPath);
  const shards = await locateShards(modelJsonPath, groups);
  const weightData = await readShards(modelJsonPath, shards);
  const weightSpecs = groups.flatMap((g) => g.weights);
  checkFiniteWeights(weightSpecs, weightData, modelJsonPath);
  const artifacts = await tf.io.getModelArtifactsForJSON(json, async () => [weightSpecs, weightData]);
  return { modelJsonPath, artifacts };
}

/**
 * Makes `model.save('file://dir')` and `tf.loadLayersModel('file://dir/model.json')` use {@link fileSystemHandler}.
 * Idempotent. When tfjs-node is loaded it serves `file://` itself, and our routers step aside so that TF.js does not
 * find two handlers for one URL.
 */
export function registerFileSystemRouters(): void {
  if (routersRegistered) return;
  routersRegistered = true;
  const router = (url: string | string[]): tf.io.IOHandler => {
    // TF.js types routers as returning a handler, but a router answers null for URLs it does not serve.
    const none = null as unknown as tf.io.IOHandler;
    if (typeof url !== 'string' || !url.startsWith(FILE_SCHEME)) return none;
    if (tf.findBackendFactory('tensorflow') !== null) return none;
    return fileSystemHandler(url.slice(FILE_SCHEME.length));
  };
  tf.io.registerSaveRouter(router);
  tf.io.registerLoadRouter(router);
}

const FILE_SCHEME = 'file://';
let routersRegistered = false;
registerFileSystemRouters();

const OUR_SHARD_NAME = /^(?:weights\.bin|group\d+-shard\d+of\d+\.bin)$/;

async function writeModelArtifacts(
  path: string,
  artifacts: tf.io.ModelArtifacts,
  options: SaveModelOptions,
): Promise<tf.io.SaveResult> {
  const dir = saveDirectory(path);
  if (artifacts.modelTopology instanceof ArrayBuffer || artifacts.modelTopology === undefined) {
    throw new BayescompError('bad-config', 'only Layers models (JSON topology) can be saved', { file: dir });
  }
  const data =
    artifacts.weightData === undefined
      ? new Uint8Array(0)
      : new Uint8Array(tf.io.CompositeArrayBuffer.join(artifacts.weightData));
  const shards = splitIntoShards(data, options.shardSizeBytes);
  const modelJson: tf.io.ModelJSON = {
    modelTopology: artifacts.modelTopology,
    weightsManifest: [{ paths: shards.map(([name]) => name), weights: artifacts.weightSpecs ?? [] }],
    format: artifacts.format,
    generatedBy: artifacts.generatedBy,
    convertedBy: artifacts.convertedBy,
  };
  if (artifacts.trainingConfig != null) modelJson.trainingConfig = artifacts.trainingConfig;
  if (artifacts.signature != null) modelJson.signature = artifacts.signature;
  if (artifacts.userDefinedMetadata != null) modelJson.userDefinedMetadata = artifacts.userDefinedMetadata;

  await createDirectory(dir);
  // An old model.json next to freshly written shards would be a half model if we crashed before replacing it.
  await rm(join(dir, MODEL_JSON_FILE), { force: true });
  await writeFilesAtomic(dir, [...shards, [MODEL_JSON_FILE, JSON.stringify(modelJson)]]);
  await removeStaleShards(dir, new Set(shards.map(([name]) => name)));
  return { modelArtifactsInfo: tf.io.getModelArtifactsInfoForJSON(artifacts) };
}

/** Cuts the weight bytes into TF.js-named shards: one `weights.bin`, or `group1-shard{i}of{n}.bin` pieces. */
function splitIntoShards(data: Uint8Array, shardSizeBytes: number | undefined): [string, Uint8Array][] {
  if (shardSizeBytes === undefined) return [[SINGLE_WEIGHTS_FILE, data]];
  if (!Number.isSafeInteger(shardSizeBytes) || shardSizeBytes <= 0) {
    throw new BayescompError(
      'bad-config',
      `shardSizeBytes must be a positive integer, got ${shardSizeBytes}`,
    );
  }
  const count = Math.max(1, Math.ceil(data.byteLength / shardSizeBytes));
  return Array.from({ length: count }, (_, i) => [
    `group1-shard${i + 1}of${count}.bin`,
    data.subarray(i * shardSizeBytes, Math.min(data.byteLength, (i + 1) * shardSizeBytes)),
  ]);
}

async function createDirectory(dir: string): Promise<void> {
  try {
    await mkdir(dir, { recursive: true });
  } catch (err) {
    if (
      (err as NodeJS.ErrnoException).code === 'EEXIST' ||
      (err as NodeJS.ErrnoException).code === 'ENOTDIR'
    ) {
      throw new BayescompError(
        'bad-config',
        'cannot save a model here: the path is a file, not a directory',
        {
          file: dir,
        },
      );
    }
    throw err;
  }
}

async function removeStaleShards(dir: string, keep: ReadonlySet<string>): Promise<void> {
  for (const name of await readdir(dir)) {
    if (OUR_SHARD_NAME.test(name) && !keep.has(name)) await rm(join(dir, name), { force: true });
  }
}

function stripFileScheme(path: string): string {
  return path.startsWith(FILE_SCHEME) ? path.slice(FILE_SCHEME.length) : path;
}

/** The directory a save goes to: the path itself, or the directory of a path naming `model.json`. */
function saveDirectory(path: string): string {
  const absolute = resolve(stripFileScheme(path));
  return basename(absolute) === MODEL_JSON_FILE ? dirname(absolute) : absolute;
}

async function resolveModelJsonPath(path: string): Promise<string> {
  const absolute = resolve(path);
  const info = await stat(absolute).catch(() => undefined);
  if (info === undefined)
    throw new BayescompError('not-found', 'no such model file or directory', { file: absolute });
  if (!info.isDirectory()) return absolute;
  const inside = join(absolute, MODEL_JSON_FILE);
  const jsonInfo = await stat(inside).catch(() => undefined);
  if (jsonInfo === undefined || !jsonInfo.isFile()) {
    throw new BayescompError('not-found', `the directory holds no ${MODEL_JSON_FILE}`, { file: absolute });
  }
  return inside;
}

interface LocatedShard {
  readonly path: string;
  readonly size: number;
}

async function locateShards(
  modelJsonPath: string,
  groups: readonly ManifestGroup[],
): Promise<LocatedShard[]> {
  const dir = dirname(modelJsonPath);
  const realDir = await realpath(dir);
  const located: LocatedShard[] = [];
  for (const [g, group] of groups.entries()) {
    let groupBytes = 0;
    for (const entry of group.paths) {
      const path = await checkShardPath(dir, realDir, entry, modelJsonPath);
      const info = await stat(path).catch(() => undefined);
      if (info === undefined) {
        throw new BayescompError(
          'not-found',
          `weight shard '${entry}' listed in weightsManifest does not exist`,
          {
            file: modelJsonPath,
          },
        );
      }
      if (!info.isFile()) {
        throw new BayescompError('bad-format', `weight shard '${entry}' is not a regular file`, {
          file: modelJsonPath,
        });
      }
      groupBytes += info.size;
      located.push({ path, size: info.size });
    }
    if (groupBytes !== group.byteLength) {
      const listed = group.paths.length ? group.paths.join(', ') : 'none';
      const hint = groupBytes < group.byteLength ? ' (truncated or missing shard?)' : '';
      throw new BayescompError(
        'bad-format',
        `weightsManifest[${g}] declares ${group.byteLength} bytes for ${group.weights.length} weights ` +
          `(shape × dtype size) but its shards (${listed}) hold ${groupBytes} bytes${hint}`,
        { file: modelJsonPath },
      );
    }
  }
  return located;
}

/**
 * Resolves a manifest path against the model's directory, refusing anything that could reach outside it: absolute
 * paths (POSIX or Windows), URLs, `..` escapes, and symbolic links whose target lies elsewhere.
 */
async function checkShardPath(
  dir: string,
  realDir: string,
  entry: string,
  modelJsonPath: string,
): Promise<string> {
  const refuse = (why: string): BayescompError =>
    new BayescompError(
      'bad-format',
      `weight path '${entry}' ${why}; shards must stay inside the model's directory`,
      {
        file: modelJsonPath,
      },
    );
  if (entry.includes('\0')) throw refuse('contains a NUL byte');
  if (isAbsolute(entry) || win32.isAbsolute(entry)) throw refuse('is absolute');
  if (/^[a-zA-Z][a-zA-Z0-9+.-]*:/.test(entry)) throw refuse('is a URL or drive path');
  const path = resolve(dir, entry);
  if (!isInside(dir, path)) throw refuse('leaves the directory');
  const real = await realpath(path).catch(() => undefined);
  if (real !== undefined && !isInside(realDir, real))
    throw refuse('is a symbolic link that leaves the directory');
  return path;
}

function isInside(dir: string, path: string): boolean {
  const rel = relative(dir, path);
  return rel !== '' && rel !== '..' && !rel.startsWith(`..${sep}`) && !isAbsolute(rel);
}

async function readShards(modelJsonPath: string, shards: readonly LocatedShard[]): Promise<ArrayBuffer> {
  const total = shards.reduce((n, s) => n + s.size, 0);
  const bytes = new Uint8Array(total);
  let offset = 0;
  for (const shard of shards) {
    const handle = await open(shard.path, 'r');
    try {
      let done = 0;
      while (done < shard.size) {
        const { bytesRead } = await handle.read(bytes, offset + done, shard.size - done, done);
        if (bytesRead === 0) {
          throw new BayescompError('bad-format', `weight shard ${shard.path} shrank while it was read`, {
            file: modelJsonPath,
          });
        }
        done += bytesRead;
      }
    } finally {
      await handle.close();
    }
    offset += shard.size;
  }
  return bytes.buffer;
}

/**
 * Refuses weights holding NaN or ±Inf: float32 values whose exponent bits are all ones, and float16-quantised values
 * likewise (uint8/uint16 quantisation with the finite `min` and `scale` the manifest check requires is always finite).
 * Entries lie back to back in manifest order (bytes per entry: {@link weightByteLength}).
 */
function checkFiniteWeights(
  specs: readonly tf.io.WeightsManifestEntry[],
  data: ArrayBuffer,
  file: string,
): void {
  const view = new DataView(data);
  let offset = 0;
  for (const spec of specs) {
    const bytes = weightByteLength(spec);
    const stored = spec.quantization?.dtype ?? spec.dtype;
    let bad = -1;
    if (stored === 'float32') {
      for (let i = 0; i < bytes / 4 && bad < 0; i++) {
        if ((view.getUint32(offset + 4 * i, true) & 0x7f800000) === 0x7f800000) bad = i;
      }
    } else if (stored === 'float16') {
      for (let i = 0; i < bytes / 2 && bad < 0; i++) {
        if ((view.getUint16(offset + 2 * i, true) & 0x7c00) === 0x7c00) bad = i;
      }
    }
    if (bad >= 0) {
      const value =
        stored === 'float32'
          ? view.getFloat32(offset + 4 * bad, true)
          : view.getUint16(offset + 2 * bad, true) & 0x3ff
            ? NaN
            : Infinity;
      throw new BayescompError(
        'bad-format',
        `weight '${spec.name}' holds a non-finite value (${value}) at element ${bad}; the weights are corrupt`,
        { file },
      );
    }
    offset += bytes;
  }
}

/** Turns a TF.js deserialisation error into a one-line `BayescompError` naming the file. */
function explainTfjsLoadError(err: unknown, file: string): Error {
  if (err instanceof BayescompError) return err;
  const message = err instanceof Error ? err.message : String(err);
  const unknownClass = /^Unknown [a-z ]*: ?(\S+)/i.exec(message);
  if (unknownClass) {
    return new BayescompError(
      'bad-format',
      `the model uses the unregistered class '${unknownClass[1].replace(/\.$/, '')}'; register custom layers with ` +
        'tf.serialization.registerClass before loading',
      { file, cause: err },
    );
  }
  const firstLine = message.split('\n')[0].trim();
  return new BayescompError('bad-format', `TF.js could not build the model: ${firstLine}`, {
    file,
    cause: err,
  });
}
