import type * as tf from '@tensorflow/tfjs';
import { BayescompError } from '../util/errors.js';
import { findJsonErrorPosition } from './json-error-position.js';

/** A weight group of a validated manifest, with the number of bytes its shards must hold together. */
export interface ManifestGroup {
  /** Shard paths as written in the manifest, relative to the directory of `model.json`. */
  readonly paths: readonly string[];
  readonly weights: readonly tf.io.WeightsManifestEntry[];
  /** Σ over the group's weights of (number of elements × bytes per stored element). */
  readonly byteLength: number;
}

/** A `model.json` that parsed and describes a TF.js Layers model with a well-formed weights manifest. */
export interface LayersModelJson {
  readonly json: tf.io.ModelJSON;
  readonly groups: readonly ManifestGroup[];
}

const STORED_BYTES: Readonly<Record<string, number>> = {
  float32: 4,
  int32: 4,
  bool: 1,
  uint8: 1,
  uint16: 2,
  float16: 2,
};

/**
 * Parses the text of a `model.json` and checks, before anything is allocated, that it is a TF.js Layers model
 * (written by `LayersModel.save` or by `tensorflowjs_converter` from Keras) with a weights manifest TF.js can decode.
 * Every problem throws `BayescompError('bad-format')` naming `file`; a JSON syntax error names its line and column.
 */
export function parseLayersModelJson(text: string, file: string): LayersModelJson {
  const value = parseJson(text, file);
  if (!isRecord(value)) throw badFormat(file, 'not a TF.js model.json: the top level is not a JSON object');
  const topology = value.modelTopology;
  if (value.format === 'graph-model' || (isRecord(topology) && Array.isArray(topology.node))) {
    throw badFormat(
      file,
      'this is a graph model (converted from a SavedModel); bayescomp needs a Layers model (LayersModel.save, or ' +
        'tensorflowjs_converter --input_format=keras / --output_format=tfjs_layers_model)',
    );
  }
  if (value.format !== undefined && value.format !== 'layers-model') {
    throw badFormat(file, `unknown model format '${String(value.format)}' (expected 'layers-model')`);
  }
  if (!isRecord(topology)) throw badFormat(file, 'modelTopology is missing or not an object');
  const config = isRecord(topology.model_config) ? topology.model_config : topology;
  if (typeof config.class_name !== 'string' && typeof config.className !== 'string') {
    throw badFormat(file, 'modelTopology does not describe a Layers model (no class_name)');
  }
  const groups = value.weightsManifest === undefined ? [] : validateManifest(value.weightsManifest, file);
  return { json: value as unknown as tf.io.ModelJSON, groups };
}

/**
 * Bytes one manifest entry occupies in its shard: elements × bytes per stored element, where the stored element is
 * the quantisation dtype when there is one (uint8: 1, uint16 and float16: 2) and the weight dtype otherwise.
 */
export function weightByteLength(spec: tf.io.WeightsManifestEntry): number {
  const stored = spec.quantization?.dtype ?? spec.dtype;
  const bytes = STORED_BYTES[stored];
  if (bytes === undefined) throw new Error(`no fixed byte size for dtype '${stored}'`);
  return spec.shape.reduce((n, d) => n * d, 1) * bytes;
}

function parseJson(text: string, file: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch (err) {
    const where = findJsonErrorPosition(text);
    const position = where
      ? `line ${where.line}, column ${where.column} (offset ${where.offset})`
      : 'unknown position';
    const reason = err instanceof Error ? err.message.split('\n')[0] : String(err);
    throw badFormat(file, `invalid JSON at ${position}: ${reason}`);
  }
}

function validateManifest(manifest: unknown, file: string): ManifestGroup[] {
  if (!Array.isArray(manifest)) throw badFormat(file, 'weightsManifest is not an array');
  const seen = new Set<string>();
  return manifest.map((group: unknown, g) => {
    const where = `weightsManifest[${g}]`;
    if (!isRecord(group)) throw badFormat(file, `${where} is not an object`);
    const { paths, weights } = group;
    // The converter writes no shard at all for a group without bytes, so an empty list is legal here; the byte
    // check against the shards catches a list that is empty by mistake.
    if (!Array.isArray(paths) || !paths.every((p) => typeof p === 'string' && p !== '')) {
      throw badFormat(file, `${where}.paths must be an array of file names`);
    }
    if (!Array.isArray(weights)) throw badFormat(file, `${where}.weights is not an array`);
    let byteLength = 0;
    for (const [w, spec] of weights.entries()) {
      checkWeightSpec(spec, `${where}.weights[${w}]`, file);
      if (seen.has(spec.name))
        throw badFormat(file, `weight '${spec.name}' appears twice in weightsManifest`);
      seen.add(spec.name);
      byteLength += weightByteLength(spec);
    }
    return { paths: paths as string[], weights: weights as tf.io.WeightsManifestEntry[], byteLength };
  });
}

function checkWeightSpec(
  spec: unknown,
  where: string,
  file: string,
): asserts spec is tf.io.WeightsManifestEntry {
  if (!isRecord(spec)) throw badFormat(file, `${where} is not an object`);
  if (typeof spec.name !== 'string' || spec.name === '') throw badFormat(file, `${where} has no name`);
  const label = `${where} ('${spec.name}')`;
  const shape = spec.shape;
  if (!Array.isArray(shape) || !shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
    throw badFormat(file, `${label}: shape must be an array of non-negative integers`);
  }
  if (spec.dtype !== 'float32' && spec.dtype !== 'int32' && spec.dtype !== 'bool') {
    throw badFormat(
      file,
      `${label}: unsupported dtype '${String(spec.dtype)}' (expected float32, int32 or bool)`,
    );
  }
  const q = spec.quantization;
  if (q === undefined) return;
  if (!isRecord(q)) throw badFormat(file, `${label}: quantization is not an object`);
  if (q.dtype === 'float16') {
    if (spec.dtype !== 'float32') throw badFormat(file, `${label}: float16 quantization needs dtype float32`);
  } else if (q.dtype === 'uint8' || q.dtype === 'uint16') {
    if (spec.dtype === 'bool') throw badFormat(file, `${label}: a bool weight cannot be quantized`);
    if (!Number.isFinite(q.min) || !Number.isFinite(q.scale)) {
      throw badFormat(file, `${label}: ${q.dtype} quantization needs finite 'min' and 'scale'`);
    }
  } else {
    throw badFormat(
      file,
      `${label}: unknown quantization dtype '${String(q.dtype)}' (expected uint8, uint16 or float16)`,
    );
  }
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function badFormat(file: string, message: string): BayescompError {
  return new BayescompError('bad-format', message, { file });
}
