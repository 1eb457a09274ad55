import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BayescompError } from '../util/errors.js';
import { encodeIdx, isGzip, parseIdx } from './idx.js';
import { parseIdxBytes, readIdxFile, writeIdxFile } from './idx-file.js';

/** Builds IDX bytes by hand, independent of encodeIdx: header then the given data bytes. */
function idxBytes(typeCode: number, dims: number[], data: number[], magic01: [number, number] = [0, 0]): Uint8Array {
  const out = new Uint8Array(4 + 4 * dims.length + data.length);
  out[0] = magic01[0];
  out[1] = magic01[1];
  out[2] = typeCode;
  out[3] = dims.length;
  const view = new DataView(out.buffer);
  dims.forEach((d, i) => view.setInt32(4 + 4 * i, d, false));
  out.set(data, 4 + 4 * dims.length);
  return out;
}

function errorOf(fn: () => unknown): BayescompError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(BayescompError);
    return err as BayescompError;
  }
  throw new Error('expected an error');
}

describe('parseIdx', () => {
  it('reads ubyte images with their dimensions', () => {
    const a = parseIdx(idxBytes(0x08, [2, 2, 3], [0, 1, 2, 3, 4, 5, 250, 251, 252, 253, 254, 255]));
    expect(a.type).toBe('uint8');
    expect(a.dims).toEqual([2, 2, 3]);
    expect(Array.from(a.values)).toEqual([0, 1, 2, 3, 4, 5, 250, 251, 252, 253, 254, 255]);
  });

  it('decodes every type big-endian', () => {
    expect(Array.from(parseIdx(idxBytes(0x09, [2], [0xff, 0x7f])).values)).toEqual([-1, 127]);
    expect(Array.from(parseIdx(idxBytes(0x0b, [2], [0x01, 0x02, 0xff, 0xfe])).values)).toEqual([258, -2]);
    expect(Array.from(parseIdx(idxBytes(0x0c, [1], [0x00, 0x01, 0x00, 0x00])).values)).toEqual([65536]);
    // 1.5 as float32 is 0x3FC00000; -2 as float64 is 0xC000000000000000.
    expect(Array.from(parseIdx(idxBytes(0x0d, [1], [0x3f, 0xc0, 0, 0])).values)).toEqual([1.5]);
    expect(Array.from(parseIdx(idxBytes(0x0e, [1], [0xc0, 0, 0, 0, 0, 0, 0, 0])).values)).toEqual([-2]);
  });

  it('round-trips every type through encodeIdx', () => {
    const cases = [
      Uint8Array.of(0, 7, 255, 3, 4, 5),
      Int8Array.of(-128, 0, 127, 1, 2, 3),
      Int16Array.of(-32768, 300, 32767, 1, 2, 3),
      Int32Array.of(-2147483648, 70000, 2147483647, 1, 2, 3),
      Float32Array.of(-1.25, 0, 3.5, 1e-3, 2, 1e30),
      Float64Array.of(Math.PI, -Math.E, 0, 1e-300, 2, 3),
    ];
    for (const values of cases) {
      const back = parseIdx(encodeIdx(values, [2, 3]));
      expect(back.dims).toEqual([2, 3]);
      expect(back.values.constructor).toBe(values.constructor);
      expect(Array.from(back.values)).toEqual(Array.from(values));
    }
  });

  it('rejects a wrong magic number', () => {
    const err = errorOf(() => parseIdx(idxBytes(0x08, [1], [0], [0x12, 0x00]), 'a.idx'));
    expect(err.code).toBe('bad-format');
    expect(err.file).toBe('a.idx');
    expect(err.message).toBe(
      'a.idx: not a valid IDX file: magic number must start with two zero bytes, found 0x12 0x00',
    );
  });

  it('rejects an unknown type code', () => {
    const err = errorOf(() => parseIdx(idxBytes(0x0a, [1], [0]), 'b.idx'));
    expect(err.message).toMatch(/^b\.idx: .*unknown data type code 0x0A/);
  });

  it('rejects zero dimensions, zero-size and negative dimensions', () => {
    expect(errorOf(() => parseIdx(idxBytes(0x08, [], []), 'c')).message).toMatch(/number of dimensions is 0/);
    expect(errorOf(() => parseIdx(idxBytes(0x08, [3, 0], []), 'c')).message).toMatch(
      /dimension 1 has size 0; every dimension must be positive/,
    );
    expect(errorOf(() => parseIdx(idxBytes(0x08, [-1], []), 'c')).message).toMatch(/dimension 0 has size -1/);
  });

  it('rejects a file shorter than the magic number or the header', () => {
    expect(errorOf(() => parseIdx(Uint8Array.of(0, 0), 'd')).message).toMatch(/2 bytes long, shorter than/);
    const header = idxBytes(0x08, [5, 5, 5], []).subarray(0, 10);
    expect(errorOf(() => parseIdx(header, 'd')).message).toMatch(
      /truncated header: 3 dimensions need 16 header bytes, file has 10/,
    );
  });

  it('says how many data bytes are missing from a truncated file', () => {
    const full = idxBytes(0x0b, [2, 3], new Array(12).fill(1));
    const err = errorOf(() => parseIdx(full.subarray(0, full.length - 5), 'e.idx'));
    expect(err.message).toBe(
      'e.idx: not a valid IDX file: truncated: expected 12 bytes of data for int16 [2, 3], found 7',
    );
  });

  it('counts trailing bytes', () => {
    const err = errorOf(() => parseIdx(idxBytes(0x08, [2], [1, 2, 3, 4, 5]), 'f.idx'));
    expect(err.message).toMatch(/3 trailing bytes after the 2 bytes of data$/);
  });

  it('asks for decompression when given gzip bytes', () => {
    const gz = gzipSync(idxBytes(0x08, [1], [9]));
    expect(isGzip(gz)).toBe(true);
    expect(errorOf(() => parseIdx(gz, 'g')).message).toMatch(/gzip-compressed/);
    expect(Array.from(parseIdxBytes(gz, 'g').values)).toEqual([9]);
  });

  it('names a corrupt gzip stream and a truncated one', () => {
    const gz = gzipSync(idxBytes(0x08, [100], new Array(100).fill(7)));
    const corrupt = Uint8Array.from(gz);
    corrupt[12] ^= 0xff;
    corrupt[13] ^= 0xff;
    const e1 = errorOf(() => parseIdxBytes(corrupt, 'h.gz'));
    expect(e1.code).toBe('bad-format');
    expect(e1.message).toMatch(/^h\.gz: corrupt gzip data \(/);
    const e2 = errorOf(() => parseIdxBytes(gz.subarray(0, gz.length - 10), 'i.gz'));
    expect(e2.message).toMatch(/^i\.gz: corrupt gzip data \(unexpected end of file\)$/);
  });

  it('every error message is a single line', () => {
    const msgs = [
      errorOf(() => parseIdx(idxBytes(0x08, [2], [1]), 'x')).message,
      errorOf(() => parseIdxBytes(Uint8Array.of(0x1f, 0x8b, 1, 2, 3), 'x')).message,
    ];
    for (const m of msgs) expect(m).not.toMatch(/\n/);
  });
});

describe('IDX files', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'bayescomp-idx-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('writes gzipped and raw files that read back identically, reproducibly', async () => {
    const values = Uint8Array.from({ length: 60 }, (_, i) => (i * 37) % 256);
    await writeIdxFile(join(dir, 'a.gz'), values, [3, 4, 5]);
    await writeIdxFile(join(dir, 'a.raw'), values, [3, 4, 5], { gzip: false });
    await writeIdxFile(join(dir, 'b.gz'), values, [3, 4, 5]);
    const gz = await readFile(join(dir, 'a.gz'));
    expect(isGzip(gz)).toBe(true);
    expect(gz.equals(await readFile(join(dir, 'b.gz')))).toBe(true);
    for (const f of ['a.gz', 'a.raw']) {
      const a = await readIdxFile(join(dir, f));
      expect(a.dims).toEqual([3, 4, 5]);
      expect(Array.from(a.values)).toEqual(Array.from(values));
    }
  });

  it('reports a missing file as not-found and a bad one with its path', async () => {
    await expect(readIdxFile(join(dir, 'nope'))).rejects.toMatchObject({ code: 'not-found' });
    const bad = join(dir, 'bad.idx');
    await writeFile(bad, idxBytes(0x08, [4], [1, 2]));
    await expect(readIdxFile(bad)).rejects.toThrow(`${bad}: not a valid IDX file: truncated`);
  });
});
