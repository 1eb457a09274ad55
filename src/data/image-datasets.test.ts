import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync, gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BayescompError } from '../util/errors.js';
import type { FetchLike } from './dataset-download.js';
import { embeddedDataDir } from './dataset-locations.js';
import { encodeIdx } from './idx.js';
import { FASHION_MNIST_CLASS_NAMES, registerImageDataset } from './image-dataset-catalog.js';
import { loadImageDataset } from './image-datasets.js';

let root: string;
beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'bayescomp-images-'));
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

/** Gzipped IDX files for `n` 2×3 images whose pixels are `label * 10 + pixel index` and whose labels are given. */
function tinyFiles(labels: number[]): { images: Uint8Array; labels: Uint8Array } {
  const n = labels.length;
  const pixels = Uint8Array.from({ length: n * 6 }, (_, i) => labels[Math.floor(i / 6)] * 10 + (i % 6));
  return {
    // Copies, because a small Buffer from gzipSync is a view into a shared pool.
    images: Uint8Array.from(gzipSync(encodeIdx(pixels, [n, 2, 3]))),
    labels: Uint8Array.from(gzipSync(encodeIdx(Uint8Array.from(labels), [n]))),
  };
}

async function writeTinyDataset(dir: string, train: number[] | undefined, test: number[]): Promise<void> {
  await mkdir(dir, { recursive: true });
  if (train) {
    const t = tinyFiles(train);
    await writeFile(join(dir, 'train-images-idx3-ubyte.gz'), t.images);
    await writeFile(join(dir, 'train-labels-idx1-ubyte.gz'), t.labels);
  }
  const t = tinyFiles(test);
  await writeFile(join(dir, 't10k-images-idx3-ubyte.gz'), t.images);
  await writeFile(join(dir, 't10k-labels-idx1-ubyte.gz'), t.labels);
}

function countClasses(y: Int32Array, k: number): number[] {
  const c = new Array<number>(k).fill(0);
  y.forEach((v) => c[v]++);
  return c;
}

const noEnv = { env: {}, systemDirs: [] as string[] };

describe('embedded datasets', () => {
  it('loads fashion-mnist-subset from the package data folder, scaled to [0, 1]', async () => {
    const d = await loadImageDataset('fashion-mnist-subset', noEnv);
    expect(d.origin).toBe('embedded');
    expect(d.dir).toBe(join(embeddedDataDir(), 'fashion-mnist-subset'));
    expect(d.classNames).toEqual(FASHION_MNIST_CLASS_NAMES);
    const train = d.train!;
    const test = d.test!;
    expect([train.n, test.n]).toEqual([5000, 1000]);
    expect(train.featureShape).toEqual([28, 28, 1]);
    expect(train.x.length).toBe(5000 * 784);
    expect(countClasses(train.y as Int32Array, 10)).toEqual(new Array(10).fill(500));
    expect(countClasses(test.y as Int32Array, 10)).toEqual(new Array(10).fill(100));
    // Independent decoding: pixel bytes start after the 16-byte header of a 3-dimensional IDX file.
    const raw = gunzipSync(await readFile(join(d.dir, 'train-images-idx3-ubyte.gz')));
    for (const k of [0, 1, 783, 784 * 2500 + 400, 5000 * 784 - 1]) expect(train.x[k]).toBeCloseTo(raw[16 + k] / 255, 7);
    let min = Infinity;
    let max = -Infinity;
    for (const v of train.x) {
      min = Math.min(min, v);
      max = Math.max(max, v);
    }
    expect([min, max]).toEqual([0, 1]);
  });

  it('holds exactly the files, with the SHA-256s, that data/README.md documents', async () => {
    const readme = await readFile(join(embeddedDataDir(), 'README.md'), 'utf8');
    const rows = [...readme.matchAll(/^\| `((?:fashion-)?mnist-subset\/[^`]+)` \|.*\| `([0-9a-f]{64})` \|$/gm)];
    expect(rows.map((r) => r[1]).sort()).toEqual(
      [
        ...['train', 't10k'].flatMap((p) => [`fashion-mnist-subset/${p}-images-idx3-ubyte.gz`, `fashion-mnist-subset/${p}-labels-idx1-ubyte.gz`]),
        'mnist-subset/t10k-images-idx3-ubyte.gz',
        'mnist-subset/t10k-labels-idx1-ubyte.gz',
      ].sort(),
    );
    for (const [, file, sha] of rows) {
      const bytes = await readFile(join(embeddedDataDir(), file));
      expect(createHash('sha256').update(bytes).digest('hex'), file).toBe(sha);
    }
  });

  it('loads the test-only mnist-subset', async () => {
    const d = await loadImageDataset('mnist-subset', noEnv);
    expect(d.train).toBeUndefined();
    expect(d.test!.n).toBe(1000);
    expect(d.numClasses).toBe(10);
    expect(d.classNames![7]).toBe('7');
    const counts = countClasses(d.test!.y as Int32Array, 10);
    // Proportional to the MNIST test set's class sizes (980, 1135, ..., 1009 of 10000), within one example.
    const full = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009];
    counts.forEach((c, i) => expect(Math.abs(c - full[i] / 10)).toBeLessThanOrEqual(1));
  });
});

describe('directories in MNIST layout', () => {
  it('reads a test-only directory, taking the number of classes from the labels', async () => {
    const dir = join(root, 'test-only');
    await writeTinyDataset(dir, undefined, [0, 3, 1]);
    const d = await loadImageDataset(dir, noEnv);
    expect(d.origin).toBe('path');
    expect(d.train).toBeUndefined();
    expect(d.numClasses).toBe(4);
    expect(d.test!.featureShape).toEqual([2, 3, 1]);
    expect(Array.from(d.test!.y)).toEqual([0, 3, 1]);
    expect(d.test!.x[6 + 5]).toBeCloseTo(35 / 255, 7);
  });

  it('rejects image and label counts that disagree, naming the label file', async () => {
    const dir = join(root, 'mismatch');
    await writeTinyDataset(dir, undefined, [0, 1, 2]);
    await writeFile(join(dir, 't10k-labels-idx1-ubyte.gz'), gzipSync(encodeIdx(Uint8Array.of(0, 1), [2])));
    await expect(loadImageDataset(dir, noEnv)).rejects.toThrow(
      `${join(dir, 't10k-labels-idx1-ubyte.gz')}: holds 2 labels but ${join(dir, 't10k-images-idx3-ubyte.gz')} holds 3 images`,
    );
  });

  it('rejects images without labels and labels outside a named dataset\'s classes', async () => {
    const dir = join(root, 'half');
    await writeTinyDataset(dir, undefined, [0]);
    await rm(join(dir, 't10k-labels-idx1-ubyte.gz'));
    await expect(loadImageDataset(dir, noEnv)).rejects.toThrow(/has the test images but not t10k-labels-idx1-ubyte/);

    const named = join(root, 'named', 'mnist-subset');
    await writeTinyDataset(named, undefined, [0, 12]);
    const err = await loadImageDataset('mnist-subset', { ...noEnv, dir: join(root, 'named') }).catch((e) => e);
    expect(err).toBeInstanceOf(BayescompError);
    expect(err.code).toBe('bad-format');
    expect(err.message).toMatch(/label 12 at index 1 is outside the 10 classes 0\.\.9$/);
  });

  it('passes on a truncated file as a bad-format error naming it', async () => {
    const dir = join(root, 'truncated');
    await writeTinyDataset(dir, undefined, [0, 1]);
    const raw = encodeIdx(Uint8Array.of(0, 1), [2]);
    await writeFile(join(dir, 't10k-labels-idx1-ubyte'), raw.subarray(0, raw.length - 1));
    await rm(join(dir, 't10k-labels-idx1-ubyte.gz'));
    await expect(loadImageDataset(dir, noEnv)).rejects.toThrow(
      `${join(dir, 't10k-labels-idx1-ubyte')}: not a valid IDX file: truncated: expected 2 bytes of data for uint8 [2], found 1`,
    );
  });

  it('says an unknown name is neither a dataset nor a directory', async () => {
    await expect(loadImageDataset('no-such-set', noEnv)).rejects.toMatchObject({
      code: 'not-found',
      message: expect.stringMatching(/^unknown dataset 'no-such-set': not a known name \(fashion-mnist, /),
    });
  });
});

describe('looking up named datasets', () => {
  const tiny = tinyFiles([1, 0]);
  const tinyTest = tinyFiles([1]);
  const published = [
    { name: 'train-images-idx3-ubyte.gz', bytes: tiny.images },
    { name: 'train-labels-idx1-ubyte.gz', bytes: tiny.labels },
    { name: 't10k-images-idx3-ubyte.gz', bytes: tinyTest.images },
    { name: 't10k-labels-idx1-ubyte.gz', bytes: tinyTest.labels },
  ];
  const hash = (alg: string, b: Uint8Array) => createHash(alg).update(b).digest('hex');
  registerImageDataset({
    name: 'tiny-remote',
    description: 'test dataset',
    classNames: ['a', 'b'],
    splits: ['train', 'test'],
    mirrors: ['https://first.invalid/', 'https://second.invalid/'],
    files: published.map((f) => ({ name: f.name, md5: hash('md5', f.bytes), sha256: hash('sha256', f.bytes) })),
    systemPackage: 'dataset-tiny',
  });

  /** A fetch where the first mirror's host does not resolve and the second serves `serve(name)`. */
  function fakeFetch(serve: (name: string) => Uint8Array | number, calls: string[]): FetchLike {
    return async (url) => {
      calls.push(url);
      if (url.startsWith('https://first.invalid/')) {
        throw new TypeError('fetch failed', { cause: { code: 'ENOTFOUND' } });
      }
      const body = serve(url.slice('https://second.invalid/'.length));
      if (typeof body === 'number') return { ok: false, status: body, statusText: 'Not Found', arrayBuffer: async () => new ArrayBuffer(0) };
      return { ok: true, status: 200, arrayBuffer: async () => Uint8Array.from(body).buffer };
    };
  }

  it('searches the explicit dir, then $BAYESCOMP_DATA/<name>, $BAYESCOMP_DATA, the cache, the system dirs', async () => {
    const base = join(root, 'order');
    const places = {
      explicit: join(base, 'explicit'),
      env: join(base, 'env', 'tiny-remote'),
      cache: join(base, 'cache', 'tiny-remote'),
      system: join(base, 'system', 'tiny-remote'),
    };
    // Each place holds a test set with a different single label, so the loaded label tells where it came from.
    const labelOf = { explicit: 0, env: 1, cache: 0, system: 1 };
    for (const [k, dir] of Object.entries(places)) {
      await writeTinyDataset(dir, [0, 1], [labelOf[k as keyof typeof labelOf]]);
    }
    const opts = {
      env: { BAYESCOMP_DATA: join(base, 'env') },
      cacheDir: join(base, 'cache'),
      systemDirs: [join(base, 'system')],
      download: false,
    };
    expect((await loadImageDataset('tiny-remote', { ...opts, dir: places.explicit })).origin).toBe('explicit');
    expect((await loadImageDataset('tiny-remote', opts)).origin).toBe('env');
    await rm(places.env, { recursive: true });
    expect((await loadImageDataset('tiny-remote', opts)).origin).toBe('cache');
    await rm(places.cache, { recursive: true });
    const sys = await loadImageDataset('tiny-remote', opts);
    expect([sys.origin, sys.dir, sys.classNames]).toEqual(['system', places.system, ['a', 'b']]);
  });

  it('accepts $BAYESCOMP_DATA itself when it holds the files', async () => {
    const env = join(root, 'env-root');
    await writeTinyDataset(env, [0, 1], [1]);
    const d = await loadImageDataset('tiny-remote', {
      env: { BAYESCOMP_DATA: env },
      cacheDir: join(root, 'env-root-cache'),
      systemDirs: [],
      download: false,
    });
    expect([d.origin, d.dir]).toEqual(['env', env]);
  });

  it('fails offline with one line listing every place and how to get the data', async () => {
    const base = join(root, 'missing');
    await mkdir(join(base, 'cache', 'fashion-mnist'), { recursive: true });
    await writeTinyDataset(join(base, 'cache', 'fashion-mnist'), undefined, [0]);
    const err = await loadImageDataset('fashion-mnist', {
      dir: join(base, 'given'),
      env: { BAYESCOMP_DATA: join(base, 'env') },
      cacheDir: join(base, 'cache'),
      systemDirs: [join(base, 'sys')],
      download: false,
    }).catch((e) => e);
    expect(err).toBeInstanceOf(BayescompError);
    expect(err.code).toBe('not-found');
    const m: string = err.message;
    expect(m).not.toMatch(/\n/);
    for (const place of [
      `${join(base, 'given')} (no such directory)`,
      `${join(base, 'given', 'fashion-mnist')} (no such directory)`,
      `${join(base, 'env', 'fashion-mnist')} (no such directory)`,
      `${join(base, 'env')} (no such directory)`,
      `${join(base, 'cache', 'fashion-mnist')} (missing train-images-idx3-ubyte[.gz], train-labels-idx1-ubyte[.gz])`,
      `${join(base, 'sys', 'fashion-mnist')} (no such directory)`,
    ]) {
      expect(m).toContain(place);
    }
    expect(m).toContain('downloads are disabled');
    expect(m).toContain('allow the download (from fashion-mnist.s3-website.eu-central-1.amazonaws.com)');
    expect(m).toContain('apt-get install dataset-fashion-mnist');
    expect(m).toContain('--data DIR');
    expect(m).toContain('BAYESCOMP_DATA=DIR');
  });

  it('downloads into the cache from the next mirror, verifies, and reuses the files', async () => {
    const cacheDir = join(root, 'dl-cache');
    const calls: string[] = [];
    const fetch = fakeFetch((name) => published.find((f) => f.name === name)!.bytes, calls);
    const d = await loadImageDataset('tiny-remote', { ...noEnv, cacheDir, fetch });
    expect(d.origin).toBe('download');
    expect(d.dir).toBe(join(cacheDir, 'tiny-remote'));
    expect(Array.from(d.train!.y)).toEqual([1, 0]);
    expect(calls).toHaveLength(8);
    expect((await readdir(d.dir)).sort()).toEqual(published.map((f) => f.name).sort());
    for (const f of published) expect((await readFile(join(d.dir, f.name))).equals(f.bytes)).toBe(true);
    const again = await loadImageDataset('tiny-remote', { ...noEnv, cacheDir, fetch });
    expect(again.origin).toBe('cache');
    expect(calls).toHaveLength(8);
  });

  it('fetches only the files missing from a partial cache', async () => {
    const cacheDir = join(root, 'dl-partial');
    await writeTinyDataset(join(cacheDir, 'tiny-remote'), undefined, [1]);
    const calls: string[] = [];
    const fetch = fakeFetch((name) => published.find((f) => f.name === name)!.bytes, calls);
    await loadImageDataset('tiny-remote', { ...noEnv, cacheDir, fetch });
    expect(calls.filter((u) => u.startsWith('https://second')).map((u) => u.split('/').pop())).toEqual([
      'train-images-idx3-ubyte.gz',
      'train-labels-idx1-ubyte.gz',
    ]);
  });

  it('rejects a download whose checksum does not match and leaves no file behind', async () => {
    const cacheDir = join(root, 'dl-bad');
    const fetch = fakeFetch((name) => {
      const bytes = published.find((f) => f.name === name)!.bytes.slice();
      if (name.startsWith('t10k-images')) bytes[bytes.length - 1] ^= 1;
      return bytes;
    }, []);
    const err = await loadImageDataset('tiny-remote', { ...noEnv, cacheDir, fetch }).catch((e) => e);
    expect(err).toBeInstanceOf(BayescompError);
    expect(err.code).toBe('network');
    expect(err.file).toBe(join(cacheDir, 'tiny-remote', 't10k-images-idx3-ubyte.gz'));
    const expectedMd5 = hash('md5', published[2].bytes);
    expect(err.message).toMatch(
      new RegExp(
        `checksum mismatch in the download from https://second\\.invalid/t10k-images-idx3-ubyte\\.gz: expected MD5 ${expectedMd5}, got [0-9a-f]{32} \\(\\d+ bytes\\); nothing was written$`,
      ),
    );
    const left = await readdir(join(cacheDir, 'tiny-remote')).catch(() => []);
    expect(left).toEqual([]);
  });

  it('checks downloads of the real datasets against the published MD5s', async () => {
    const cacheDir = join(root, 'dl-real');
    const fetch: FetchLike = async () => ({ ok: true, status: 200, arrayBuffer: async () => new ArrayBuffer(10) });
    const err = await loadImageDataset('fashion-mnist', { ...noEnv, cacheDir, fetch }).catch((e) => e);
    expect(err.code).toBe('network');
    // MD5 of the official train-images-idx3-ubyte.gz, from the Fashion-MNIST README.
    expect(err.message).toContain('expected MD5 8d4fb7e6c68d591d4c3dfef9ec88bf0d, got a63c90cc3684ad8b0a2176a6a8fe9005');
    expect(await readdir(join(cacheDir, 'fashion-mnist')).catch(() => [])).toEqual([]);
  });

  it('reports unreachable mirrors as not-found with every reason', async () => {
    const cacheDir = join(root, 'dl-offline');
    const err = await loadImageDataset('tiny-remote', { ...noEnv, cacheDir, fetch: fakeFetch(() => 404, []) }).catch(
      (e) => e,
    );
    expect(err.code).toBe('not-found');
    expect(err.message).toContain(
      'download failed: could not download train-images-idx3-ubyte.gz (https://first.invalid/train-images-idx3-ubyte.gz: fetch failed (ENOTFOUND); https://second.invalid/train-images-idx3-ubyte.gz: HTTP 404 Not Found)',
    );
    expect(err.message).toContain('apt-get install dataset-tiny');
    expect(err.message).toContain('looked in: $BAYESCOMP_DATA (unset), ');
    expect(err.message).toContain('retry the download with network access');
    expect(await readdir(join(cacheDir, 'tiny-remote')).catch(() => [])).toEqual([]);
  });
});
