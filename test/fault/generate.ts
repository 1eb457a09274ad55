import { mkdir, symlink, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { encodeIdx } from '../../src/data/idx.js';
import { Random } from '../../src/runtime/random.js';

/**
 * Generators of malformed inputs for the fault suite: IDX datasets (raw and gzipped), CSV files, and TF.js model
 * directories (model.json + weight shards). Every case is derived from a small valid input by one seeded mutation, so
 * the suite is deterministic and each failure names the mutation that caused it.
 */

/** One file of a case, relative to the case directory; `symlinkTo` makes a symbolic link instead. */
export interface FaultFile {
  readonly path: string;
  readonly data?: Uint8Array | string;
  readonly symlinkTo?: string;
  /** Make a directory instead of a file. */
  readonly directory?: boolean;
}

/** A malformed (or possibly still valid) input. */
export interface FaultCase {
  /** Unique, names the mutation, e.g. `idx/train-images/gz/truncate@16`. */
  readonly id: string;
  readonly kind: 'idx' | 'csv' | 'model' | 'checkpoint';
  readonly files: readonly FaultFile[];
  /**
   * True when the input is certainly invalid (a loader must refuse it); false when the mutation may leave a valid
   * file (a flipped data byte), where loading is fine too.
   */
  readonly mustFail: boolean;
  /** Files invalid on their own (an IDX file a file-level parser must refuse). */
  readonly invalidFiles?: readonly string[];
  /**
   * Model cases whose `model.json` and shards are consistent, so that only building the model (TF.js classes,
   * topology against weights) finds the problem: `readModelArtifacts` may accept them, `loadModel` must not.
   * Checkpoint cases that only a resume finds (another run's settings): `readCheckpoint` may accept them.
   */
  readonly buildLevel?: boolean;
}

/** Writes a case's files under `root/<id with / replaced>` and returns that directory. */
export async function materialize(root: string, c: FaultCase): Promise<string> {
  const dir = join(root, c.id.replace(/[^\w.@+-]+/g, '_'));
  await mkdir(dir, { recursive: true });
  for (const f of c.files) {
    const path = join(dir, f.path);
    await mkdir(dirname(path), { recursive: true });
    if (f.directory) await mkdir(path, { recursive: true });
    else if (f.symlinkTo !== undefined) await symlink(f.symlinkTo, path);
    else await writeFile(path, f.data ?? '');
  }
  return dir;
}

// ---------------------------------------------------------------------------------------------------------------
// IDX

/** A valid tiny image dataset: `n` 4×4 images of 3 classes (class k brightens row k). */
export function tinyImages(n: number, seed: number): { images: Uint8Array; labels: Uint8Array } {
  const random = new Random(seed);
  const images = new Uint8Array(n * 16);
  const labels = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    const k = i % 3;
    labels[i] = k;
    for (let p = 0; p < 16; p++)
      images[i * 16 + p] = Math.floor(random.uniform() * 60) + (p >> 2 === k ? 180 : 0);
  }
  return { images, labels };
}

export const IDX_NAMES = {
  trainImages: 'train-images-idx3-ubyte',
  trainLabels: 'train-labels-idx1-ubyte',
  testImages: 't10k-images-idx3-ubyte',
  testLabels: 't10k-labels-idx1-ubyte',
} as const;

/** The four files of a valid dataset (12 train, 6 test examples), raw IDX bytes by stem. */
export function validIdxFiles(): Record<keyof typeof IDX_NAMES, Uint8Array> {
  const train = tinyImages(12, 1);
  const test = tinyImages(6, 2);
  return {
    trainImages: encodeIdx(train.images, [12, 4, 4]),
    trainLabels: encodeIdx(train.labels, [12]),
    testImages: encodeIdx(test.images, [6, 4, 4]),
    testLabels: encodeIdx(test.labels, [6]),
  };
}

/** A whole dataset directory's files with `replace` substituted (undefined removes the file), gzipped or raw. */
function datasetFiles(
  replace: Partial<Record<keyof typeof IDX_NAMES, Uint8Array | undefined | 'dir'>>,
  gz: boolean,
): FaultFile[] {
  const valid = validIdxFiles();
  const files: FaultFile[] = [];
  for (const key of Object.keys(IDX_NAMES) as (keyof typeof IDX_NAMES)[]) {
    const name = IDX_NAMES[key] + (gz ? '.gz' : '');
    if (key in replace) {
      const r = replace[key];
      if (r === undefined) continue;
      if (r === 'dir') files.push({ path: name, directory: true });
      // A replacement is given raw; in a gz case it is gzipped unless it already is (a damaged gzip stream).
      else files.push({ path: name, data: gz && !(r[0] === 0x1f && r[1] === 0x8b) ? gzipSync(r) : r });
    } else {
      files.push({ path: name, data: gz ? gzipSync(valid[key]) : valid[key] });
    }
  }
  return files;
}

function withByte(bytes: Uint8Array, at: number, value: number): Uint8Array {
  const out = bytes.slice();
  out[at] = value;
  return out;
}

function withUint32(bytes: Uint8Array, at: number, value: number): Uint8Array {
  const out = bytes.slice();
  new DataView(out.buffer).setUint32(at, value >>> 0, false);
  return out;
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}

/** Malformed IDX datasets: every section boundary, flipped header bytes, wrong types, absurd sizes, gzip damage. */
export function idxCases(): FaultCase[] {
  const cases: FaultCase[] = [];
  const valid = validIdxFiles();
  const add = (
    id: string,
    replace: Parameters<typeof datasetFiles>[0],
    mustFail: boolean,
    encodings: readonly boolean[] = [false, true],
    fileLevel = false,
  ) => {
    for (const gz of encodings) {
      const invalidFiles = fileLevel
        ? Object.keys(replace).map((k) => IDX_NAMES[k as keyof typeof IDX_NAMES] + (gz ? '.gz' : ''))
        : [];
      cases.push({
        id: `idx/${id}/${gz ? 'gz' : 'raw'}`,
        kind: 'idx',
        files: datasetFiles(replace, gz),
        mustFail,
        invalidFiles,
      });
    }
  };
  const addFile = (id: string, replace: Parameters<typeof datasetFiles>[0], encodings?: readonly boolean[]) =>
    add(id, replace, true, encodings, true);
  for (const key of ['trainImages', 'trainLabels'] as const) {
    const bytes = valid[key];
    const ndims = bytes[3];
    const header = 4 + 4 * ndims;
    const file = key === 'trainImages' ? 'images' : 'labels';
    // Truncated at every section boundary: inside the magic number, after it, inside the dimensions, after the
    // header, one byte into the data, half-way, one byte short.
    const cuts = [
      0,
      2,
      4,
      4 + 2,
      header - 1,
      header,
      header + 1,
      header + ((bytes.length - header) >> 1),
      bytes.length - 1,
    ];
    for (const cut of cuts) addFile(`${file}/truncate@${cut}`, { [key]: bytes.slice(0, cut) });
    addFile(`${file}/trailing-byte`, { [key]: concat(bytes, new Uint8Array([7])) });
    addFile(`${file}/magic-byte0`, { [key]: withByte(bytes, 0, 0x08) });
    addFile(`${file}/type-unknown`, { [key]: withByte(bytes, 2, 0x0a) });
    addFile(`${file}/type-float64`, { [key]: withByte(bytes, 2, 0x0e) });
    addFile(`${file}/type-int16`, { [key]: withByte(bytes, 2, 0x0b) });
    addFile(`${file}/ndims-0`, { [key]: withByte(bytes, 3, 0) });
    addFile(`${file}/ndims-255`, { [key]: withByte(bytes, 3, 255) });
    addFile(`${file}/ndims+1`, { [key]: withByte(bytes, 3, ndims + 1) });
    addFile(`${file}/dim0-2^31-1`, { [key]: withUint32(bytes, 4, 0x7fffffff) });
    addFile(`${file}/dim0-2^32-1`, { [key]: withUint32(bytes, 4, 0xffffffff) });
    addFile(`${file}/dim0-zero`, { [key]: withUint32(bytes, 4, 0) });
    addFile(`${file}/dim0-plus1`, { [key]: withUint32(bytes, 4, bytes[7] + 1) });
    if (ndims > 1) addFile(`${file}/dim1-x1000`, { [key]: withUint32(bytes, 8, 4000) });
    // Damaged gzip streams (the replacement already starts with the gzip magic number).
    const gz = gzipSync(bytes);
    for (const cut of [2, 10, gz.length >> 1, gz.length - 4])
      addFile(`${file}/gzip-truncate@${cut}`, { [key]: gz.slice(0, cut) }, [true]);
    addFile(`${file}/gzip-bad-crc`, { [key]: withByte(gz, gz.length - 6, gz[gz.length - 6] ^ 0xff) }, [true]);
    addFile(
      `${file}/gzip-garbage`,
      { [key]: concat(new Uint8Array([0x1f, 0x8b]), new Uint8Array(40).fill(0x55)) },
      [true],
    );
  }
  // Flipped data bytes: an image byte stays a valid image; a label byte becomes label 255 (still loadable for a
  // directory dataset: 256 classes).
  add(
    'images/flip-data',
    { trainImages: withByte(valid.trainImages, 40, valid.trainImages[40] ^ 0xff) },
    false,
  );
  add(
    'labels/flip-data',
    { trainLabels: withByte(valid.trainLabels, 9, valid.trainLabels[9] ^ 0xff) },
    false,
  );
  // Wrong element types and values.
  const train = tinyImages(12, 1);
  const floats = (at: number, value: number) =>
    Float32Array.from(train.images, (v, i) => (i === at ? value : v / 255));
  add(
    'images/float32-nan',
    {
      trainImages: encodeIdx(floats(5, NaN), [12, 4, 4]),
    },
    true,
  );
  add(
    'images/float32-inf',
    {
      trainImages: encodeIdx(floats(7, -Infinity), [12, 4, 4]),
    },
    true,
  );
  add(
    'images/float64-huge',
    {
      trainImages: encodeIdx(
        Float64Array.from(train.images, () => 1e300),
        [12, 4, 4],
      ),
    },
    true,
  );
  add('images/int32', { trainImages: encodeIdx(Int32Array.from(train.images), [12, 4, 4]) }, true);
  add('images/rank2', { trainImages: encodeIdx(train.images, [12, 16]) }, true);
  add('images/rank5', { trainImages: encodeIdx(train.images, [12, 2, 2, 2, 2]) }, true);
  add('images/count-mismatch', { trainImages: encodeIdx(train.images.slice(0, 11 * 16), [11, 4, 4]) }, true);
  add('images/test-size-differs', { testImages: encodeIdx(new Uint8Array(6 * 25), [6, 5, 5]) }, true);
  add('labels/float32', { trainLabels: encodeIdx(Float32Array.from(train.labels), [12]) }, true);
  add(
    'labels/float32-fraction',
    {
      trainLabels: encodeIdx(
        Float32Array.from(train.labels, (v) => v + 0.5),
        [12],
      ),
    },
    true,
  );
  add(
    'labels/int8-negative',
    {
      trainLabels: encodeIdx(
        Int8Array.from(train.labels, (v, i) => (i === 3 ? -1 : v)),
        [12],
      ),
    },
    true,
  );
  add(
    'labels/int32-2^31-1',
    {
      trainLabels: encodeIdx(
        Int32Array.from(train.labels, (v, i) => (i === 2 ? 2 ** 31 - 1 : v)),
        [12],
      ),
    },
    true,
  );
  add('labels/rank2', { trainLabels: encodeIdx(train.labels, [6, 2]) }, true);
  // Missing and misplaced files.
  add('missing/train-labels', { trainLabels: undefined }, true);
  add('missing/train-images', { trainImages: undefined }, true);
  add(
    'missing/everything',
    { trainImages: undefined, trainLabels: undefined, testImages: undefined, testLabels: undefined },
    true,
    [false],
  );
  add('dir-instead-of-file', { trainImages: 'dir' }, true);
  add('empty-files', { trainImages: new Uint8Array(0), trainLabels: new Uint8Array(0) }, true, [false], true);
  return cases;
}

// ---------------------------------------------------------------------------------------------------------------
// CSV

const VALID_CSV = ['a,b,c,label', '0.5,1,2,cat', '1.5,-2,3e-1,dog', '2,3,4,cat', '-1,0,.5,dog', ''].join(
  '\n',
);

/** Malformed CSV files (each a `train.csv`; cases named `test-*` also hold a `test.csv`). */
export function csvCases(): FaultCase[] {
  const cases: FaultCase[] = [];
  const add = (id: string, text: string | Uint8Array, mustFail: boolean, test?: string) =>
    cases.push({
      id: `csv/${id}`,
      kind: 'csv',
      files: [
        { path: 'train.csv', data: text },
        ...(test !== undefined ? [{ path: 'test.csv', data: test }] : []),
      ],
      mustFail,
    });
  const lines = VALID_CSV.split('\n');
  // Truncated at every line boundary and in the middle of every line.
  let offset = 0;
  for (const [i, line] of lines.slice(0, -1).entries()) {
    const mid = offset + (line.length >> 1);
    add(`truncate-mid-line${i + 1}@${mid}`, VALID_CSV.slice(0, mid), i <= 1);
    offset += line.length + 1;
    add(`truncate-after-line${i + 1}@${offset}`, VALID_CSV.slice(0, offset), i === 0);
  }
  add('empty', '', true);
  add('bom-only', '\uFEFF', true);
  add('whitespace-only', '  \n\n \n', true);
  add('header-only', 'a,b,label\n', true);
  add('ragged-short', 'a,b,label\n1,2,x\n3,y\n', true);
  add('ragged-long', 'a,b,label\n1,2,x\n3,4,5,y\n', true);
  add('non-numeric-feature', 'a,b,label\n1,two,x\n3,4,y\n', true);
  add('empty-feature', 'a,b,label\n1,,x\n3,4,y\n', true);
  add('nan-feature', 'a,b,label\nNaN,2,x\n3,4,y\n', true);
  add('infinity-word', 'a,b,label\nInfinity,2,x\n3,4,y\n', true);
  add('1e999', 'a,b,label\n1e999,2,x\n3,4,y\n', true);
  add('float32-overflow-1e39', 'a,b,label\n1,-1e39,x\n3,4,y\n', true);
  add('hex-number', 'a,b,label\n0x10,2,x\n3,4,y\n', true);
  add('duplicate-header', 'a,a,label\n1,2,x\n3,4,y\n', true);
  add('empty-header-name', 'a,,label\n1,2,x\n3,4,y\n', true);
  add('unterminated-quote', 'a,b,label\n"1,2,x\n3,4,y\n', true);
  add('quote-in-field', 'a,b,label\n1,2"3,x\n3,4,y\n', true);
  add('nul-bytes', 'a,b,label\n1,\u00002,x\n3,4,y\n', true);
  add('semicolon-delimited', 'a;b;label\n1;2;x\n3;4;y\n', true);
  add('only-target-column', 'label\nx\ny\n', true);
  add('test-header-differs', VALID_CSV, true, 'a,b,d,label\n1,2,3,cat\n');
  add('test-ragged', VALID_CSV, true, 'a,b,c,label\n1,2,cat\n');
  add('test-unknown-class-ok', VALID_CSV, false, 'a,b,c,label\n1,2,3,bird\n');
  const random = new Random(17);
  add(
    'binary-garbage',
    Uint8Array.from({ length: 300 }, () => random.int(256)),
    true,
  );
  add('utf16le', new Uint8Array(Buffer.from('\uFEFFa,b,label\n1,2,x\n', 'utf16le')), true);
  // Flipped bytes at seeded positions: may still parse (a digit for a digit), must never crash.
  const bytes = new TextEncoder().encode(VALID_CSV);
  for (let k = 0; k < 12; k++) {
    const at = random.int(bytes.length);
    const flipped = bytes.slice();
    flipped[at] ^= 1 << random.int(8);
    add(`flip${k}@${at}`, flipped, false);
  }
  return cases;
}

// ---------------------------------------------------------------------------------------------------------------
// TF.js models

/** The files of a valid saved model: `model.json` text and its weight shards by name. */
export interface ModelBase {
  readonly modelJson: string;
  readonly shards: ReadonlyArray<readonly [string, Uint8Array]>;
}

type Json = Record<string, unknown>;
interface ManifestEntryJson {
  name: string;
  shape: number[];
  dtype: string;
  quantization?: Json;
}

/** Malformed TF.js Layers models, derived from a valid single-shard `base` and a valid sharded `sharded` save. */
export function modelCases(base: ModelBase, sharded: ModelBase): FaultCase[] {
  const cases: FaultCase[] = [];
  const [weightsName, weights] = base.shards[0];
  const buildLevel =
    /^(layer|model-class|activation|initializer|weight-(missing|extra|renamed)|shape-transposed|topology-)/;
  const add = (id: string, files: FaultFile[], mustFail = true) =>
    cases.push({ id: `model/${id}`, kind: 'model', files, mustFail, buildLevel: buildLevel.test(id) });
  const json = (): Json => JSON.parse(base.modelJson) as Json;
  const manifest = (j: Json) =>
    (j.weightsManifest as Array<{ paths: string[]; weights: ManifestEntryJson[] }>)[0];
  const layers = (j: Json) =>
    ((j.modelTopology as Json).config as Json).layers as Array<{ class_name: string; config: Json }>;
  const withJson = (id: string, edit: (j: Json) => void, bin: Uint8Array = weights, mustFail = true) => {
    const j = json();
    edit(j);
    add(
      id,
      [
        { path: 'model.json', data: JSON.stringify(j) },
        { path: weightsName, data: bin },
      ],
      mustFail,
    );
  };
  const entries = manifest(json()).weights;
  const sizes = entries.map((e) => e.shape.reduce((a, b) => a * b, 1) * 4);
  const offsets = sizes.map((_, i) => sizes.slice(0, i).reduce((a, b) => a + b, 0));

  // model.json truncated mid-way: at every eighth, at each top-level section, and empty.
  const text = base.modelJson;
  const sections = ['"modelTopology"', '"weightsManifest"', '"paths"', '"weights"', '"shape"'].map((s) =>
    text.indexOf(s),
  );
  const cuts = [
    0,
    1,
    ...Array.from({ length: 7 }, (_, k) => Math.floor(((k + 1) * text.length) / 8)),
    ...sections,
    text.length - 1,
  ];
  for (const cut of [...new Set(cuts)].filter((c) => c >= 0))
    add(`json-truncate@${cut}`, [
      { path: 'model.json', data: text.slice(0, cut) },
      { path: weightsName, data: weights },
    ]);
  // model.json with flipped bytes at seeded positions: usually invalid JSON or a changed name; must never crash.
  const random = new Random(23);
  const jsonBytes = new TextEncoder().encode(text);
  for (let k = 0; k < 12; k++) {
    const at = random.int(jsonBytes.length);
    const flipped = jsonBytes.slice();
    flipped[at] ^= 1 << random.int(7);
    add(
      `json-flip${k}@${at}`,
      [
        { path: 'model.json', data: flipped },
        { path: weightsName, data: weights },
      ],
      false,
    );
  }
  // Weight shard short, long, absent, flipped.
  for (const cut of [0, 4, weights.length >> 1, weights.length - 4, weights.length - 1])
    add(`shard-truncate@${cut}`, [
      { path: 'model.json', data: text },
      { path: weightsName, data: weights.slice(0, cut) },
    ]);
  add('shard-extra-byte', [
    { path: 'model.json', data: text },
    { path: weightsName, data: concat(weights, new Uint8Array(1)) },
  ]);
  add('shard-extra-word', [
    { path: 'model.json', data: text },
    { path: weightsName, data: concat(weights, new Uint8Array(4)) },
  ]);
  add('shard-missing', [{ path: 'model.json', data: text }]);
  add('shard-is-directory', [
    { path: 'model.json', data: text },
    { path: weightsName, directory: true },
  ]);
  add('model-json-missing', [{ path: weightsName, data: weights }]);
  add('model-json-is-directory', [
    { path: 'model.json', directory: true },
    { path: weightsName, data: weights },
  ]);
  // A flipped low mantissa bit of one weight: still a valid (slightly different) model.
  add(
    'shard-flip-mantissa',
    [
      { path: 'model.json', data: text },
      { path: weightsName, data: withByte(weights, 8, weights[8] ^ 1) },
    ],
    false,
  );
  // Sharded saves: one shard short, one missing, an extra shard listed, shards swapped (same sizes: loads).
  const shardFiles = (edit?: (files: Array<[string, Uint8Array]>) => void, modelJson = sharded.modelJson) => {
    const files = sharded.shards.map(([n, d]) => [n, d] as [string, Uint8Array]);
    edit?.(files);
    return [{ path: 'model.json', data: modelJson }, ...files.map(([n, d]) => ({ path: n, data: d }))];
  };
  add(
    'sharded/shard2-short',
    shardFiles((f) => (f[1][1] = f[1][1].slice(0, f[1][1].length - 8))),
  );
  add(
    'sharded/shard2-missing',
    shardFiles((f) => f.splice(1, 1)),
  );
  add(
    'sharded/last-shard-empty',
    shardFiles((f) => (f[f.length - 1][1] = new Uint8Array(0))),
  );
  const extraListed = JSON.parse(sharded.modelJson) as Json;
  manifest(extraListed).paths.push('group1-shard9of9.bin');
  add(
    'sharded/extra-shard-listed',
    shardFiles((f) => f.push(['group1-shard9of9.bin', new Uint8Array(16)]), JSON.stringify(extraListed)),
  );
  add(
    'sharded/shards-swapped',
    shardFiles((f) => {
      if (f.length > 2 && f[0][1].length === f[1][1].length) [f[0][1], f[1][1]] = [f[1][1], f[0][1]];
    }),
    false,
  );

  // Manifest paths outside the model directory.
  const outside: Array<[string, string]> = [
    ['dotdot', `../${weightsName}`],
    ['dotdot-deep', `sub/../../${weightsName}`],
    ['absolute-etc', '/etc/hostname'],
    ['absolute-proc', '/proc/self/environ'],
    ['windows-drive', 'C:\\weights.bin'],
    ['windows-unc', '\\\\server\\share\\weights.bin'],
    ['file-url', 'file:///etc/passwd'],
    ['http-url', 'http://127.0.0.1:9/weights.bin'],
    ['nul-byte', `${weightsName}\u0000.txt`],
    ['empty-path', ''],
  ];
  for (const [name, path] of outside) withJson(`path-${name}`, (j) => (manifest(j).paths = [path]));
  add('path-symlink-out', [
    {
      path: 'model.json',
      data: JSON.stringify({ ...json(), weightsManifest: [{ ...manifest(json()), paths: ['link.bin'] }] }),
    },
    { path: 'link.bin', symlinkTo: '/etc/hostname' },
  ]);

  // Unknown or malformed layer classes.
  withJson('layer-unknown-class', (j) => (layers(j)[1].class_name = 'EvilLayer'));
  withJson('layer-lambda', (j) => (layers(j)[1].class_name = 'Lambda'));
  withJson('layer-class-number', (j) => ((layers(j)[1] as Json).class_name = 42));
  withJson('layer-config-null', (j) => ((layers(j)[1] as Json).config = null));
  withJson('layers-not-array', (j) => (((j.modelTopology as Json).config as Json).layers = { a: 1 }));
  withJson('model-class-unknown', (j) => ((j.modelTopology as Json).class_name = 'EvilModel'));
  withJson('activation-unknown', (j) => (layers(j)[1].config.activation = 'evil'));
  withJson(
    'initializer-unknown',
    (j) => (layers(j)[1].config.kernel_initializer = { class_name: 'Evil', config: {} }),
  );

  // Missing, extra, duplicate and renamed weights (bytes kept consistent with the manifest).
  withJson('weight-missing', (j) => manifest(j).weights.pop(), weights.slice(0, offsets[offsets.length - 1]));
  withJson(
    'weight-extra',
    (j) => manifest(j).weights.push({ name: 'extra/kernel', shape: [2], dtype: 'float32' }),
    concat(weights, new Uint8Array(8)),
  );
  withJson('weight-duplicate-name', (j) => (manifest(j).weights[1].name = manifest(j).weights[0].name));
  withJson('weight-renamed', (j) => (manifest(j).weights[0].name = 'nonexistent/kernel'));
  withJson('weight-no-name', (j) => delete (manifest(j).weights[0] as Partial<ManifestEntryJson>).name);
  // Wrong dtypes.
  withJson('dtype-float64', (j) => (manifest(j).weights[0].dtype = 'float64'));
  withJson('dtype-string', (j) => (manifest(j).weights[0].dtype = 'string'));
  withJson('dtype-complex64', (j) => (manifest(j).weights[0].dtype = 'complex64'));
  withJson('dtype-missing', (j) => delete (manifest(j).weights[0] as Partial<ManifestEntryJson>).dtype);
  withJson('dtype-int32-kernel', (j) => (manifest(j).weights[0].dtype = 'int32'), weights, false);
  withJson('quantization-unknown', (j) => (manifest(j).weights[0].quantization = { dtype: 'int4' }));
  withJson(
    'quantization-uint8-nan-scale',
    (j) => (manifest(j).weights[0].quantization = { dtype: 'uint8', min: 0, scale: null }),
  );
  withJson(
    'quantization-float16-wrong-bytes',
    (j) => (manifest(j).weights[0].quantization = { dtype: 'float16' }),
  );
  // Absurd or inconsistent shapes.
  withJson('shape-negative', (j) => (manifest(j).weights[0].shape = [-16, -8]));
  withJson('shape-fraction', (j) => (manifest(j).weights[0].shape = [1.5, 8]));
  withJson('shape-huge', (j) => (manifest(j).weights[0].shape = [1e9, 1e9]));
  withJson('shape-2^53', (j) => (manifest(j).weights[0].shape = [2 ** 53, 2]));
  withJson('shape-string', (j) => ((manifest(j).weights[0] as unknown as Json).shape = '16,8'));
  withJson(
    'shape-transposed',
    (j) => (manifest(j).weights[0].shape = [...manifest(j).weights[0].shape].reverse()),
  );
  withJson('topology-units-1e9', (j) => (layers(j)[1].config.units = 1e9));
  withJson('topology-units-2^31', (j) => (layers(j)[1].config.units = 2 ** 31));
  withJson('topology-units-negative', (j) => (layers(j)[1].config.units = -8));
  add('topology-units-1e400', [
    { path: 'model.json', data: text.replace(/"units":\s*\d+/, '"units":1e400') },
    { path: weightsName, data: weights },
  ]);
  withJson('topology-input-1e6x1e6', (j) => {
    const first = layers(j)[0].config;
    first.batch_input_shape = [null, 1e6, 1e6, 1];
  });
  // Non-finite weights.
  const nonFinite = (at: number, value: number) => {
    const out = weights.slice();
    new DataView(out.buffer).setFloat32(at, value, true);
    return out;
  };
  add('weights-nan', [
    { path: 'model.json', data: text },
    { path: weightsName, data: nonFinite(0, NaN) },
  ]);
  add('weights-inf-bias', [
    { path: 'model.json', data: text },
    { path: weightsName, data: nonFinite(offsets[1], Infinity) },
  ]);
  add('weights-minus-inf-last', [
    { path: 'model.json', data: text },
    { path: weightsName, data: nonFinite(weights.length - 4, -Infinity) },
  ]);
  const half = new Uint8Array(weights.length / 2);
  new DataView(half.buffer).setUint16(6, 0x7e00, true); // a float16 NaN
  withJson(
    'weights-float16-nan',
    (j) => manifest(j).weights.forEach((w) => (w.quantization = { dtype: 'float16' })),
    half,
  );
  // Not a Layers model at all.
  withJson('format-graph-model', (j) => (j.format = 'graph-model'));
  withJson('format-unknown', (j) => (j.format = 'evil-model'));
  withJson('topology-missing', (j) => delete j.modelTopology);
  withJson('topology-string', (j) => (j.modelTopology = 'Sequential'));
  withJson('manifest-object', (j) => (j.weightsManifest = { paths: [weightsName] }));
  withJson('manifest-paths-not-array', (j) => ((manifest(j) as Json).paths = weightsName));
  withJson('manifest-weights-missing', (j) => delete (manifest(j) as Partial<{ weights: unknown }>).weights);
  add('json-top-level-array', [
    { path: 'model.json', data: '[1,2,3]' },
    { path: weightsName, data: weights },
  ]);
  add('json-null', [
    { path: 'model.json', data: 'null' },
    { path: weightsName, data: weights },
  ]);
  add('json-deep-nesting', [
    { path: 'model.json', data: '['.repeat(200_000) + ']'.repeat(200_000) },
    { path: weightsName, data: weights },
  ]);
  add('json-binary', [
    { path: 'model.json', data: Uint8Array.from({ length: 200 }, () => random.int(256)) },
    { path: weightsName, data: weights },
  ]);
  return cases;
}

// ---------------------------------------------------------------------------------------------------------------
// Interrupted runs

/**
 * Writes a small learnable image dataset in MNIST's IDX layout: `n` training and `n / 4` test images of 8×8 pixels in
 * 4 classes (class k brightens quadrant k), seeded. Used by the kill-and-resume tests.
 */
export async function writeQuadrantDataset(dir: string, n: number, seed: number): Promise<void> {
  const random = new Random(seed);
  const make = (count: number) => {
    const images = new Uint8Array(count * 64);
    const labels = new Uint8Array(count);
    for (let i = 0; i < count; i++) {
      const k = random.int(4);
      labels[i] = k;
      for (let p = 0; p < 64; p++) {
        const quadrant = ((p >> 3) >> 2) * 2 + ((p & 7) >> 2);
        images[i * 64 + p] = Math.min(255, Math.floor(random.uniform() * 120) + (quadrant === k ? 100 : 0));
      }
    }
    return { images, labels };
  };
  const train = make(n);
  const test = make(n >> 2);
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, IDX_NAMES.trainImages), encodeIdx(train.images, [n, 8, 8]));
  await writeFile(join(dir, IDX_NAMES.trainLabels), encodeIdx(train.labels, [n]));
  await writeFile(join(dir, IDX_NAMES.testImages), encodeIdx(test.images, [n >> 2, 8, 8]));
  await writeFile(join(dir, IDX_NAMES.testLabels), encodeIdx(test.labels, [n >> 2]));
}

// ---------------------------------------------------------------------------------------------------------------
// Training checkpoints

/** The files of a valid run directory with a checkpoint. */
export interface RunDirBase {
  readonly runJson: string;
  readonly checkpointJson: string;
  readonly binName: string;
  readonly bin: Uint8Array;
}

// Edits of arbitrary JSON: any field may be replaced by anything, which is the point of the fixtures.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type LooseJson = Record<string, any>;

/** Damaged checkpoints in otherwise valid run directories (what `train --resume` reads). */
export function checkpointCases(base: RunDirBase): FaultCase[] {
  const cases: FaultCase[] = [];
  const add = (
    id: string,
    checkpointJson: string | Uint8Array,
    bin: Uint8Array | null = base.bin,
    mustFail = true,
  ) =>
    cases.push({
      id: `checkpoint/${id}`,
      kind: 'checkpoint',
      files: [
        { path: 'run.json', data: base.runJson },
        { path: 'checkpoint.json', data: checkpointJson },
        ...(bin ? [{ path: base.binName, data: bin }] : []),
      ],
      mustFail,
      buildLevel: resumeLevel.test(id),
    });
  // Consistent checkpoints of another run or model: readCheckpoint may accept them, resuming must not.
  const resumeLevel =
    /^(manifest-entry-removed|manifest-shape-transposed|optimizer-class-other|objective-other|seed-other|batch-size-other)$/;
  const text = base.checkpointJson;
  const edit = (id: string, change: (j: LooseJson) => void, bin?: Uint8Array) => {
    const j = JSON.parse(text) as LooseJson;
    change(j);
    add(id, JSON.stringify(j), bin);
  };
  for (const cut of [0, 1, text.length >> 2, text.length >> 1, (3 * text.length) >> 2, text.length - 2])
    add(`json-truncate@${cut}`, text.slice(0, cut));
  const random = new Random(31);
  const bytes = new TextEncoder().encode(text);
  for (let k = 0; k < 6; k++) {
    const at = random.int(bytes.length);
    const flipped = bytes.slice();
    flipped[at] ^= 1 << random.int(7);
    add(`json-flip${k}@${at}`, flipped, base.bin, false);
  }
  add('bin-truncated', text, base.bin.slice(0, base.bin.length - 4));
  add('bin-extended', text, concat(base.bin, new Uint8Array(4)));
  add('bin-missing', text, null);
  edit('format', (j) => (j.format = 'evil-checkpoint'));
  edit('version-2', (j) => (j.version = 2));
  edit('weights-file-dotdot', (j) => (j.weightsFile = '../checkpoint-1-x.bin'));
  edit('weights-file-absolute', (j) => (j.weightsFile = '/etc/passwd'));
  edit('weights-file-other', (j) => (j.weightsFile = 'checkpoint-9-deadbeef.bin'));
  edit('weights-bytes-plus4', (j) => (j.weightsBytes += 4));
  edit('weights-bytes-string', (j) => (j.weightsBytes = 'many'));
  edit('manifest-missing', (j) => delete j.manifest);
  edit('manifest-shape-string', (j) => (j.manifest[0].shape = 'abc'));
  edit('manifest-shape-huge', (j) => (j.manifest[0].shape = [1e9, 1e9]));
  edit('manifest-offset-negative', (j) => (j.manifest[0].offset = -4));
  edit('manifest-offset-odd', (j) => (j.manifest[0].offset = 2));
  edit('manifest-group-unknown', (j) => (j.manifest[0].group = 'evil'));
  edit('manifest-dtype-float64', (j) => (j.manifest[0].dtype = 'float64'));
  edit('manifest-entry-removed', (j) => j.manifest.splice(0, 1));
  edit('manifest-shape-transposed', (j) => (j.manifest[0].shape = [...j.manifest[0].shape].reverse()));
  edit('random-short', (j) => (j.random = [1, 2]));
  edit('epoch-negative', (j) => (j.epoch = -1));
  edit('global-step-fraction', (j) => (j.globalStep = 1.5));
  edit('optimizer-missing', (j) => delete j.optimizer);
  edit('optimizer-class-other', (j) => (j.optimizer.className = 'SGDOptimizer'));
  edit('objective-other', (j) => (j.objective.name = 'elbo'));
  edit('seed-other', (j) => (j.seed = 99));
  edit('batch-size-other', (j) => (j.run.batchSize = 7));
  edit('history-object', (j) => (j.history = { 0: 1 }));
  add('json-null', 'null');
  add('json-array', '[]');
  return cases;
}
