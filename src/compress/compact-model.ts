import * as tf from '@tensorflow/tfjs';
import { BayescompError } from '../util/errors.js';
import { type CompactTensorSpec, concatBytes, decodeTensor, encodeTensor } from './compact-codec.js';
import type { CodebookQuantization } from './quantize.js';
import { type SparseInferenceOptions, SparseInferenceModel } from './sparse-inference.js';

/** How each weight tensor of a model is to be stored: by weight name, a keep-mask and optional codes. */
export type CompactEncodingPlan = ReadonlyMap<
  string,
  { readonly mask?: Uint8Array; readonly quantization?: CodebookQuantization }
>;

const MAGIC = [0x42, 0x43, 0x4d, 0x50]; // "BCMP"
const VERSION = 1;

interface CompactHeader {
  readonly format: 'bayescomp-compact';
  readonly version: number;
  readonly modelTopology: unknown;
  readonly tensors: CompactTensorSpec[];
}

/**
 * Encodes a deterministic TF.js model as one self-describing byte string: "BCMP", a version byte, three reserved
 * bytes, the little-endian length of a JSON header (the Layers topology plus one {@link CompactTensorSpec} per
 * weight), the header, then the weights' bytes: sparse positions (bitmask or LEB128 gaps, whichever is smaller),
 * then float32 values or a float32 codebook with bit-packed codes. Tensors not in `plan` are stored densely.
 */
export function encodeCompactModel(model: tf.LayersModel, plan: CompactEncodingPlan = new Map()): Uint8Array {
  const topology = model.toJSON(null, false);
  const tensors: CompactTensorSpec[] = [];
  const parts: Uint8Array[] = [];
  let offset = 0;
  for (const w of model.weights) {
    const name = w.originalName;
    const values = w.read().dataSync() as Float32Array;
    const entry = plan.get(name);
    const { spec, bytes } = encodeTensor(
      { name, shape: w.shape as number[], values, mask: entry?.mask, quantization: entry?.quantization },
      offset,
    );
    tensors.push(spec);
    parts.push(bytes);
    offset += bytes.length;
  }
  const header: CompactHeader = {
    format: 'bayescomp-compact',
    version: VERSION,
    modelTopology: topology,
    tensors,
  };
  const headerBytes = new TextEncoder().encode(JSON.stringify(header));
  const prefix = new Uint8Array(12);
  prefix.set(MAGIC, 0);
  prefix[4] = VERSION;
  new DataView(prefix.buffer).setUint32(8, headerBytes.length, true);
  return concatBytes([prefix, headerBytes, ...parts]);
}

/** Options for {@link decodeCompactModel}. */
export interface DecodeCompactOptions extends Omit<SparseInferenceOptions, 'weights'> {
  /**
   * `tfjs` (default): return the rebuilt TF.js model. `sparse`: return a {@link SparseInferenceModel} whose Dense
   * layers run from the stored sparse weights (built from the decoded tensors, not read back from TF.js).
   */
  readonly inference?: 'tfjs' | 'sparse';
}

/**
 * Rebuilds the TF.js model stored by {@link encodeCompactModel}; pruned weights come back as exact zeros and
 * quantised ones as their codebook values. `source` names the file in error messages. With
 * `{ inference: 'sparse' }` the result is a {@link SparseInferenceModel} for fast prediction of pruned networks.
 */
export async function decodeCompactModel(
  bytes: Uint8Array,
  source?: string,
  options?: DecodeCompactOptions & { readonly inference?: 'tfjs' },
): Promise<tf.LayersModel>;
export async function decodeCompactModel(
  bytes: Uint8Array,
  source: string | undefined,
  options: DecodeCompactOptions & { readonly inference: 'sparse' },
): Promise<SparseInferenceModel>;
export async function decodeCompactModel(
  bytes: Uint8Array,
  source = 'compact model',
  options: DecodeCompactOptions = {},
): Promise<tf.LayersModel | SparseInferenceModel> {
  const { model, weights } = await decodeCompact(bytes, source);
  if (options.inference !== 'sparse') return model;
  return SparseInferenceModel.fromLayersModel(model, { ...options, weights });
}

async function decodeCompact(
  bytes: Uint8Array,
  source: string,
): Promise<{ model: tf.LayersModel; weights: Map<string, Float32Array> }> {
  const fail = (what: string) => new BayescompError('bad-format', what, { file: source });
  // A copy of our own: a Node Buffer (as fs.readFile gives) may sit unaligned in a shared pool, and its slice() is a
  // view, so float32 views of its parts would read the wrong bytes or throw.
  bytes = Uint8Array.from(bytes);
  if (bytes.length < 12 || MAGIC.some((m, i) => bytes[i] !== m))
    throw fail('not a bayescomp compact model (bad magic)');
  if (bytes[4] !== VERSION) throw fail(`unsupported compact format version ${bytes[4]}`);
  const headerLength = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getUint32(8, true);
  if (12 + headerLength > bytes.length)
    throw fail(`header of ${headerLength} bytes runs past the end of the file`);
  let header: CompactHeader;
  try {
    header = JSON.parse(new TextDecoder().decode(bytes.subarray(12, 12 + headerLength))) as CompactHeader;
  } catch {
    throw fail('header is not valid JSON');
  }
  if (header.format !== 'bayescomp-compact' || !Array.isArray(header.tensors))
    throw fail('header lacks the compact format fields');
  const payload = bytes.subarray(12 + headerLength);
  const expected = header.tensors.reduce((s, t) => s + t.byteLength, 0);
  if (payload.length !== expected)
    throw fail(`payload holds ${payload.length} bytes, the header declares ${expected}`);
  const model = await tf.models.modelFromJSON({
    modelTopology: header.modelTopology as tf.io.ModelJSON['modelTopology'],
  });
  if (model.weights.length !== header.tensors.length) {
    throw fail(`topology has ${model.weights.length} weights, the file stores ${header.tensors.length}`);
  }
  const weights = new Map<string, Float32Array>();
  const values = header.tensors.map((spec, i) => {
    const expectedShape = model.weights[i].shape;
    if (spec.shape.length !== expectedShape.length || spec.shape.some((d, j) => d !== expectedShape[j])) {
      throw fail(
        `tensor ${spec.name} has shape [${spec.shape.join(', ')}], the topology needs [${expectedShape.join(', ')}]`,
      );
    }
    try {
      const decoded = decodeTensor(spec, payload);
      weights.set(model.weights[i].originalName, decoded);
      return tf.tensor(decoded, [...spec.shape]);
    } catch (err) {
      if (err instanceof BayescompError) throw fail(err.message);
      throw err;
    }
  });
  model.setWeights(values);
  tf.dispose(values);
  return { model, weights };
}
