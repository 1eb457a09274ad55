import { BayescompError } from '../util/errors.js';

/**
 * The IDX format (LeCun et al., the MNIST database files): a 4-byte magic number `0x00 0x00 <type> <ndims>`, then
 * `ndims` big-endian uint32 dimension sizes, then the values, row-major and big-endian. This module is pure (no Node
 * APIs) so it also runs in a browser; decompressing `.gz` files is the caller's job (see `idx-file.ts` in Node).
 */

/** Element types an IDX file can declare. */
export type IdxDataType = 'uint8' | 'int8' | 'int16' | 'int32' | 'float32' | 'float64';

/** The typed array that holds each {@link IdxDataType}. */
export type IdxValues = Uint8Array | Int8Array | Int16Array | Int32Array | Float32Array | Float64Array;

/** A parsed IDX file: its element type, dimensions and values (native byte order, row-major). */
export interface IdxArray {
  readonly type: IdxDataType;
  readonly dims: readonly number[];
  readonly values: IdxValues;
}

/** How one element type is laid out: its code in the magic number, its width, and its big-endian accessors. */
interface TypeInfo {
  readonly code: number;
  readonly type: IdxDataType;
  readonly itemSize: number;
  readonly array: { new (length: number): IdxValues; new (buffer: ArrayBuffer): IdxValues };
  readonly get: (view: DataView, at: number) => number;
  readonly set: (view: DataView, at: number, value: number) => void;
}

const TYPES: readonly TypeInfo[] = [
  {
    code: 0x08,
    type: 'uint8',
    itemSize: 1,
    array: Uint8Array,
    get: (v, at) => v.getUint8(at),
    set: (v, at, x) => v.setUint8(at, x),
  },
  {
    code: 0x09,
    type: 'int8',
    itemSize: 1,
    array: Int8Array,
    get: (v, at) => v.getInt8(at),
    set: (v, at, x) => v.setInt8(at, x),
  },
  {
    code: 0x0b,
    type: 'int16',
    itemSize: 2,
    array: Int16Array,
    get: (v, at) => v.getInt16(at, false),
    set: (v, at, x) => v.setInt16(at, x, false),
  },
  {
    code: 0x0c,
    type: 'int32',
    itemSize: 4,
    array: Int32Array,
    get: (v, at) => v.getInt32(at, false),
    set: (v, at, x) => v.setInt32(at, x, false),
  },
  {
    code: 0x0d,
    type: 'float32',
    itemSize: 4,
    array: Float32Array,
    get: (v, at) => v.getFloat32(at, false),
    set: (v, at, x) => v.setFloat32(at, x, false),
  },
  {
    code: 0x0e,
    type: 'float64',
    itemSize: 8,
    array: Float64Array,
    get: (v, at) => v.getFloat64(at, false),
    set: (v, at, x) => v.setFloat64(at, x, false),
  },
];

/** Whether `bytes` start with the gzip magic number `0x1f 0x8b` (RFC 1952, section 2.3.1). */
export function isGzip(bytes: Uint8Array): boolean {
  return bytes.length >= 2 && bytes[0] === 0x1f && bytes[1] === 0x8b;
}

/**
 * Parses an uncompressed IDX file. Every way the bytes can disagree with the format — bad magic, unknown type code,
 * zero dimensions, a dimension of size zero, too few or too many data bytes — throws a `bad-format`
 * {@link BayescompError} naming `file` and the exact problem.
 */
export function parseIdx(bytes: Uint8Array, file = '<IDX bytes>'): IdxArray {
  const fail = (message: string): never => {
    throw new BayescompError('bad-format', `not a valid IDX file: ${message}`, { file });
  };
  if (isGzip(bytes)) fail('the bytes are gzip-compressed; decompress them before parsing');
  if (bytes.length < 4) fail(`file is ${bytes.length} bytes long, shorter than the 4-byte IDX magic number`);
  if (bytes[0] !== 0 || bytes[1] !== 0) {
    fail(`magic number must start with two zero bytes, found 0x${hex(bytes[0])} 0x${hex(bytes[1])}`);
  }
  const info = TYPES.find((t) => t.code === bytes[2]);
  if (!info) {
    fail(
      `unknown data type code 0x${hex(bytes[2])} (expected 0x08 ubyte, 0x09 sbyte, 0x0B int16, 0x0C int32, ` +
        `0x0D float32 or 0x0E float64)`,
    );
  }
  const { type, itemSize } = info as TypeInfo;
  const ndims = bytes[3];
  if (ndims === 0) fail('number of dimensions is 0');
  const headerSize = 4 + 4 * ndims;
  if (bytes.length < headerSize) {
    fail(`truncated header: ${ndims} dimensions need ${headerSize} header bytes, file has ${bytes.length}`);
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const dims: number[] = [];
  for (let d = 0; d < ndims; d++) {
    // Sizes are unsigned in the format, but a size ≥ 2^31 is a signed -1-style corruption in practice.
    const size = view.getInt32(4 + 4 * d, false);
    if (size <= 0) fail(`dimension ${d} has size ${size}; every dimension must be positive`);
    dims.push(size);
  }
  const count = dims.reduce((a, b) => a * b, 1);
  const expected = count * itemSize;
  const found = bytes.length - headerSize;
  if (found < expected) {
    fail(
      `truncated: expected ${expected} bytes of data for ${type} [${dims.join(', ')}], found ${found}`,
    );
  }
  if (found > expected) fail(`${found - expected} trailing bytes after the ${expected} bytes of data`);
  return { type, dims, values: readValues(view, headerSize, count, info as TypeInfo) };
}

function readValues(view: DataView, offset: number, count: number, info: TypeInfo): IdxValues {
  if (info.itemSize === 1) {
    // Bytes have no byte order: copy them in one go (the bulk of every MNIST-style file).
    const start = view.byteOffset + offset;
    return new info.array(view.buffer.slice(start, start + count) as ArrayBuffer);
  }
  const out = new info.array(count);
  for (let i = 0; i < count; i++) out[i] = info.get(view, offset + i * info.itemSize);
  return out;
}

/** The IDX element type that matches a typed array's type. */
function typeOfValues(values: IdxValues): TypeInfo {
  return TYPES.find((t) => values instanceof t.array) as TypeInfo;
}

/**
 * Serialises values as an uncompressed IDX file (the inverse of {@link parseIdx}); the element type follows the
 * typed array's type.
 */
export function encodeIdx(values: IdxValues, dims: readonly number[]): Uint8Array {
  if (dims.length < 1 || dims.length > 255) throw new RangeError(`IDX needs 1..255 dimensions, got ${dims.length}`);
  const count = dims.reduce((a, b) => a * b, 1);
  if (count !== values.length) {
    throw new RangeError(`IDX dims [${dims.join(', ')}] hold ${count} values, got ${values.length}`);
  }
  const info = typeOfValues(values);
  const headerSize = 4 + 4 * dims.length;
  const out = new Uint8Array(headerSize + count * info.itemSize);
  const view = new DataView(out.buffer);
  out[2] = info.code;
  out[3] = dims.length;
  dims.forEach((size, d) => view.setUint32(4 + 4 * d, size, false));
  for (let i = 0; i < count; i++) info.set(view, headerSize + i * info.itemSize, values[i]);
  return out;
}

function hex(byte: number): string {
  return byte.toString(16).padStart(2, '0').toUpperCase();
}
