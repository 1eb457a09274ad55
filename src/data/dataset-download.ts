import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { BayescompError } from '../util/errors.js';
import { writeFileAtomic } from '../util/atomic-write.js';
import type { PublishedFile } from './image-dataset-catalog.js';

/** The part of a `fetch` Response the downloader uses. */
export interface FetchResponseLike {
  readonly ok: boolean;
  readonly status: number;
  readonly statusText?: string;
  arrayBuffer(): Promise<ArrayBuffer>;
}

/** A `fetch`-compatible function; tests inject a fake one so they never touch the network. */
export type FetchLike = (url: string, init?: { signal?: AbortSignal }) => Promise<FetchResponseLike>;

/** Options for {@link downloadPublishedFiles}. */
export interface DownloadOptions {
  /** The fetch implementation. Default: the global `fetch`. */
  readonly fetch?: FetchLike;
  /** Time allowed per file, in milliseconds. Default: 10 minutes. */
  readonly timeoutMs?: number;
  /** Receives one line per file fetched, for progress output. */
  readonly onProgress?: (line: string) => void;
}

/**
 * Thrown when no mirror could be reached (or every one answered with an HTTP error): the data is simply not
 * downloadable from here, which the dataset loader reports as "not found" with the places it looked.
 */
export class DownloadUnavailableError extends BayescompError {
  constructor(message: string, cause?: unknown) {
    super('network', message, { cause });
    this.name = 'DownloadUnavailableError';
  }
}

/** Describes the first published checksum that `bytes` fail, or undefined when all match. */
function checksumMismatch(file: PublishedFile, bytes: Uint8Array): string | undefined {
  for (const algorithm of ['md5', 'sha256'] as const) {
    const expected = file[algorithm];
    if (!expected) continue;
    const actual = createHash(algorithm).update(bytes).digest('hex');
    if (actual !== expected.toLowerCase()) {
      return `expected ${algorithm.toUpperCase()} ${expected}, got ${actual} (${bytes.length} bytes)`;
    }
  }
  return undefined;
}

/**
 * Downloads `files` into `targetDir`, trying `mirrors` in order for each file. Every file is verified against its
 * published checksums before anything is written; only when all files are verified are they written, each one
 * atomically (temporary file + rename), so a failure or a crash never leaves a partial or unverified file.
 *
 * Throws {@link DownloadUnavailableError} when no mirror answered, and a `network` {@link BayescompError} naming the
 * file when a mirror served bytes whose checksum does not match.
 */
export async function downloadPublishedFiles(
  mirrors: readonly string[],
  files: readonly PublishedFile[],
  targetDir: string,
  options: DownloadOptions = {},
): Promise<void> {
  const doFetch = options.fetch ?? (globalThis.fetch as FetchLike | undefined);
  if (!doFetch) throw new DownloadUnavailableError('this JavaScript runtime has no fetch()');
  if (mirrors.length === 0) throw new DownloadUnavailableError('no download source is known');
  const verified: Array<[string, Uint8Array]> = [];
  for (const file of files) {
    verified.push([file.name, await fetchVerified(doFetch, mirrors, file, targetDir, options)]);
  }
  for (const [name, bytes] of verified) await writeFileAtomic(join(targetDir, name), bytes);
}

async function fetchVerified(
  doFetch: FetchLike,
  mirrors: readonly string[],
  file: PublishedFile,
  targetDir: string,
  options: DownloadOptions,
): Promise<Uint8Array> {
  const unreachable: string[] = [];
  let badChecksum: string | undefined;
  for (const mirror of mirrors) {
    const url = mirror + file.name;
    let bytes: Uint8Array;
    try {
      options.onProgress?.(`downloading ${url}`);
      const response = await doFetch(url, { signal: AbortSignal.timeout(options.timeoutMs ?? 600_000) });
      if (!response.ok) {
        unreachable.push(`${url}: HTTP ${response.status}${response.statusText ? ' ' + response.statusText : ''}`);
        continue;
      }
      bytes = new Uint8Array(await response.arrayBuffer());
    } catch (err) {
      unreachable.push(`${url}: ${describeFetchError(err)}`);
      continue;
    }
    const mismatch = checksumMismatch(file, bytes);
    if (!mismatch) return bytes;
    badChecksum ??= `checksum mismatch in the download from ${url}: ${mismatch}; nothing was written`;
  }
  if (badChecksum) throw new BayescompError('network', badChecksum, { file: join(targetDir, file.name) });
  throw new DownloadUnavailableError(`could not download ${file.name} (${unreachable.join('; ')})`);
}

/** Node's fetch hides the useful reason (ENOTFOUND, ECONNREFUSED, timeout) in `cause`. */
function describeFetchError(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  const cause = err.cause as { code?: string; message?: string } | undefined;
  if (err.name === 'TimeoutError') return 'timed out';
  if (cause?.code) return `${err.message} (${cause.code})`;
  return err.message;
}
