import { BayescompError } from '../util/errors.js';
import { decodeGaps, encodeGaps, packBits, unpackBits } from './bit-stream.js';
import { codeBits, type CodebookQuantization } from './quantize.js';

/** How one tensor is stored in the compact format. */
export interface CompactTensorSpec {
  readonly name: string;
  readonly shape: readonly number[];
  /** `dense`: every value as float32; `sparse`: kept positions + float32 values; `codebook`: kept positions + codes. */
  readonly encoding: 'dense' | 'sparse' | 'codebook';
  /** Number of kept (non-zero) entries, for sparse encodings. */
  readonly kept?: number;
  /** How kept positions are stored: a bitmask (n/8 bytes) or LEB128 gaps — whichever is smaller. */
  readonly index?: 'bitmask' | 'gaps';
  /** Byte length of the index block. */
  readonly indexBytes?: number;
  /** Codebook entries (float32) and bits per code, for `codebook`. */
  readonly codebookSize?: number;
  readonly codeBits?: number;
  /** Offset and length of this tensor's bytes in the payload. */
  readonly byteOffset: number;
  readonly byteLength: number;
}

/** What to encode for one tensor. */
export interface TensorToEncode {
  readonly name: string;
  readonly shape: readonly number[];
  /** The full tensor (pruned entries may hold anything; they decode as 0). */
  readonly values: Float32Array;
  /** Keep-mask; absent means dense storage. */
  readonly mask?: Uint8Array;
  /** Codes of the kept values, in position order; absent means float32 kept values. */
  readonly quantization?: CodebookQuantization;
}

/** Encodes one tensor; returns its spec (offsets relative to `byteOffset`) and bytes. */
export function encodeTensor(
  t: TensorToEncode,
  byteOffset: number,
): { spec: CompactTensorSpec; bytes: Uint8Array } {
  const n = t.values.length;
  if (n !== t.shape.reduce((a, b) => a * b, 1)) {
    throw new BayescompError(
      'bad-shape',
      `tensor ${t.name}: ${n} values do not fit shape [${t.shape.join(', ')}]`,
    );
  }
  if (!t.mask) {
    const bytes = new Uint8Array(Float32Array.from(t.values).buffer);
    return {
      spec: { name: t.name, shape: t.shape, encoding: 'dense', byteOffset, byteLength: bytes.length },
      bytes,
    };
  }
  const kept = t.mask.reduce((s, m) => s + (m ? 1 : 0), 0);
  const gaps = encodeGaps(t.mask);
  const useGaps = gaps.length < Math.ceil(n / 8);
  const indexBlock = useGaps ? gaps : packBits(t.mask, 1);
  let body: Uint8Array;
  let extra: Partial<CompactTensorSpec> = {};
  if (t.quantization) {
    if (t.quantization.codes.length !== kept) {
      throw new BayescompError(
        'bad-shape',
        `tensor ${t.name}: ${t.quantization.codes.length} codes for ${kept} kept weights`,
      );
    }
    const bits = codeBits(t.quantization.codebook.length);
    const book = new Uint8Array(Float32Array.from(t.quantization.codebook).buffer);
    body = concatBytes([book, packBits(t.quantization.codes, bits)]);
    extra = { codebookSize: t.quantization.codebook.length, codeBits: bits };
  } else {
    const values = new Float32Array(kept);
    let k = 0;
    for (let i = 0; i < n; i++) if (t.mask[i]) values[k++] = t.values[i];
    body = new Uint8Array(values.buffer);
  }
  const bytes = concatBytes([indexBlock, body]);
  const spec: CompactTensorSpec = {
    name: t.name,
    shape: t.shape,
    encoding: t.quantization ? 'codebook' : 'sparse',
    kept,
    index: useGaps ? 'gaps' : 'bitmask',
    indexBytes: indexBlock.length,
    ...extra,
    byteOffset,
    byteLength: bytes.length,
  };
  return { spec, bytes };
}

/** Decodes one tensor from the payload; pruned entries come back as exact zeros. */
export function decodeTensor(spec: CompactTensorSpec, payload: Uint8Array): Float32Array {
  const n = spec.shape.reduce((a, b) => a * b, 1);
  if (spec.byteOffset < 0 || spec.byteOffset + spec.byteLength > payload.length) {
    throw new BayescompError('bad-format', `tensor ${spec.name}: its bytes lie outside the payload`);
  }
  const bytes = payload.subarray(spec.byteOffset, spec.byteOffset + spec.byteLength);
  if (spec.encoding === 'dense') {
    if (bytes.length !== 4 * n)
      throw new BayescompError('bad-format', `tensor ${spec.name}: expected ${4 * n} bytes`);
    return new Float32Array(bytes.slice().buffer);
  }
  const kept = spec.kept ?? 0;
  const indexBytes = spec.indexBytes ?? 0;
  const indexBlock = bytes.subarray(0, indexBytes);
  let mask: Uint8Array;
  try {
    mask =
      spec.index === 'gaps' ? decodeGaps(indexBlock, n, kept) : Uint8Array.from(unpackBits(indexBlock, n, 1));
  } catch (err) {
    throw new BayescompError('bad-format', `tensor ${spec.name}: ${(err as Error).message}`);
  }
  const body = bytes.slice(indexBytes);
  let keptValues: Float32Array;
  if (spec.encoding === 'codebook') {
    const size = spec.codebookSize ?? 0;
    const book = new Float32Array(body.slice(0, 4 * size).buffer);
    const codes = unpackBits(body.subarray(4 * size), kept, spec.codeBits ?? 0);
    keptValues = new Float32Array(kept);
    for (let k = 0; k < kept; k++) {
      if (codes[k] >= size)
        throw new BayescompError('bad-format', `tensor ${spec.name}: code ${codes[k]} outside codebook`);
      keptValues[k] = book[codes[k]];
    }
  } else {
    if (body.length !== 4 * kept)
      throw new BayescompError('bad-format', `tensor ${spec.name}: expected ${4 * kept} value bytes`);
    keptValues = new Float32Array(body.buffer);
  }
  const out = new Float32Array(n);
  let k = 0;
  for (let i = 0; i < n; i++) if (mask[i]) out[i] = keptValues[k++];
  if (k !== kept)
    throw new BayescompError(
      'bad-format',
      `tensor ${spec.name}: index holds ${k} positions, expected ${kept}`,
    );
  return out;
}

/** Concatenates byte arrays. */
export function concatBytes(parts: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((s, p) => s + p.length, 0));
  let offset = 0;
  for (const p of parts) {
    out.set(p, offset);
    offset += p.length;
  }
  return out;
}
