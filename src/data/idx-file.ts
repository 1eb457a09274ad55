import { readFile } from 'node:fs/promises';
import { gunzipSync, gzipSync } from 'node:zlib';
import { BayescompError } from '../util/errors.js';
import { writeFileAtomic } from '../util/atomic-write.js';
import { type IdxArray, type IdxValues, encodeIdx, isGzip, parseIdx } from './idx.js';

/**
 * Decompresses `bytes` when they start with the gzip magic number, else returns them unchanged. A corrupt or
 * truncated gzip stream throws a `bad-format` error naming `file`.
 */
export function gunzipIfNeeded(bytes: Uint8Array, file: string): Uint8Array {
  if (!isGzip(bytes)) return bytes;
  try {
    return gunzipSync(bytes);
  } catch (err) {
    const reason = err instanceof Error ? err.message : String(err);
    throw new BayescompError('bad-format', `corrupt gzip data (${reason})`, { file, cause: err });
  }
}

/** Parses IDX bytes as read from a file, gzipped or raw (Node only: uses `node:zlib`). */
export function parseIdxBytes(bytes: Uint8Array, file: string): IdxArray {
  return parseIdx(gunzipIfNeeded(bytes, file), file);
}

/** Reads and parses an IDX file, gzipped or raw; a missing file is a `not-found` error. */
export async function readIdxFile(path: string): Promise<IdxArray> {
  let bytes: Uint8Array;
  try {
    bytes = await readFile(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
      throw new BayescompError('not-found', 'no such file', { file: path, cause: err });
    }
    throw err;
  }
  return parseIdxBytes(bytes, path);
}

/**
 * Writes values as an IDX file atomically, gzipped when `gzip` is true (the default). Gzip output is made with a
 * fixed level and a zero timestamp, so the same values give the same bytes.
 */
export async function writeIdxFile(
  path: string,
  values: IdxValues,
  dims: readonly number[],
  options: { gzip?: boolean } = {},
): Promise<void> {
  const raw = encodeIdx(values, dims);
  await writeFileAtomic(path, options.gzip === false ? raw : gzipSync(raw, { level: 9 }));
}
