import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { BayescompError } from '../util/errors.js';
import type { Dataset, DatasetSplits } from './dataset.js';
import { type DownloadOptions, DownloadUnavailableError, downloadPublishedFiles } from './dataset-download.js';
import {
  type CandidateDir,
  type DatasetSearchOptions,
  datasetSearchDirs,
  embeddedSearchDirs,
  userCacheDir,
} from './dataset-locations.js';
import type { IdxArray } from './idx.js';
import { readIdxFile } from './idx-file.js';
import {
  IDX_FILE_STEMS,
  type ImageDatasetEntry,
  type ImageSplitName,
  imageDatasetEntry,
  imageDatasetNames,
} from './image-dataset-catalog.js';

/** Options for {@link loadImageDataset}. */
export interface LoadImageDatasetOptions extends DatasetSearchOptions, DownloadOptions {
  /** Download a named dataset into the user cache when it is found nowhere. Default: true. */
  readonly download?: boolean;
}

/** A loaded image dataset and where it was read from. */
export interface ImageDatasetSplits extends DatasetSplits {
  /** The dataset's name, or the directory for an unnamed one. */
  readonly name: string;
  /** The directory the IDX files were read from. */
  readonly dir: string;
  /** How the directory was found. */
  readonly origin: CandidateDir['origin'] | 'download' | 'path';
  readonly numClasses: number;
  readonly classNames?: readonly string[];
}

/** The IDX files of one split present in a directory. */
interface SplitFiles {
  readonly images?: string;
  readonly labels?: string;
}

type DirFiles = Readonly<Record<ImageSplitName, SplitFiles>>;

/**
 * Loads an image dataset in MNIST's IDX layout as train/test splits with pixels scaled to [0, 1] (Float32, channels
 * last: `featureShape` `[rows, cols, 1]`) and integer class labels.
 *
 * `nameOrDir` is a catalogue name (`fashion-mnist`, `mnist`, the embedded `fashion-mnist-subset` and
 * `mnist-subset`, or one added with `registerImageDataset`) or a directory holding
 * `train-images-idx3-ubyte[.gz]`, `train-labels-idx1-ubyte[.gz]`, `t10k-images-idx3-ubyte[.gz]` and
 * `t10k-labels-idx1-ubyte[.gz]` (a directory with only the `t10k` pair is a test-only dataset).
 *
 * A name is looked up in the directories of `datasetSearchDirs` (explicit `dir`, `$BAYESCOMP_DATA`, the user cache,
 * `/usr/share/datasets/<name>`); embedded names only in an explicit `dir` and the package's `data/` folder. When it
 * is found nowhere and downloads are allowed, the published files are downloaded into the user cache and checked
 * against their published checksums. Otherwise a `not-found` error lists every place searched and how to get the
 * data.
 */
export async function loadImageDataset(
  nameOrDir: string,
  options: LoadImageDatasetOptions = {},
): Promise<ImageDatasetSplits> {
  const located = await locateImageDataset(nameOrDir, options);
  return readImageDatasetDir(located.dir, {
    name: located.entry?.name ?? located.dir,
    origin: located.origin,
    entry: located.entry,
  });
}

/** Where {@link locateImageDataset} found a dataset. */
export interface LocatedImageDataset {
  readonly dir: string;
  readonly origin: ImageDatasetSplits['origin'];
  readonly entry?: ImageDatasetEntry;
}

/**
 * Finds (and, for a downloadable name, downloads if needed) the directory holding a dataset's IDX files, without
 * reading them. See {@link loadImageDataset} for the search order.
 */
export async function locateImageDataset(
  nameOrDir: string,
  options: LoadImageDatasetOptions = {},
): Promise<LocatedImageDataset> {
  const entry = imageDatasetEntry(nameOrDir);
  if (!entry) {
    if (await isDirectory(nameOrDir)) return { dir: nameOrDir, origin: 'path' };
    throw new BayescompError(
      'not-found',
      `unknown dataset '${nameOrDir}': not a known name (${imageDatasetNames().join(', ')}) nor an existing directory`,
    );
  }
  const candidates = entry.embedded
    ? embeddedSearchDirs(entry.name, options)
    : datasetSearchDirs(entry.name, options);
  const looked: string[] = [];
  if (!entry.embedded && !(options.env ?? process.env).BAYESCOMP_DATA) looked.push('$BAYESCOMP_DATA (unset)');
  for (const candidate of candidates) {
    const problem = await missingFor(entry, candidate.dir);
    if (!problem) return { dir: candidate.dir, origin: candidate.origin, entry };
    looked.push(`${candidate.dir} (${problem})`);
  }
  let downloadNote: string;
  let retry: string | undefined;
  if (entry.embedded) {
    downloadNote = 'it is embedded in the package, whose data/ folder seems incomplete';
  } else if (!entry.mirrors?.length || !entry.files?.length) {
    downloadNote = 'no download source is known for it';
  } else if (options.download === false) {
    downloadNote = 'downloads are disabled';
    retry = `allow the download (from ${new URL(entry.mirrors[0]).host})`;
  } else {
    const target = join(userCacheDir(options), entry.name);
    try {
      await downloadMissing(entry, target, options);
      return { dir: target, origin: 'download', entry };
    } catch (err) {
      if (!(err instanceof DownloadUnavailableError)) throw err;
      downloadNote = `download failed: ${err.message}`;
      retry = 'retry the download with network access';
    }
  }
  throw new BayescompError('not-found', notFoundMessage(entry, looked, downloadNote, retry));
}

function notFoundMessage(
  entry: ImageDatasetEntry,
  looked: readonly string[],
  downloadNote: string,
  retry: string | undefined,
): string {
  const passDir =
    'put the IDX files (train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz, t10k-images-idx3-ubyte.gz, ' +
    't10k-labels-idx1-ubyte.gz) in a directory and pass --data DIR';
  const ways = entry.embedded
    ? ['reinstall bayescomp, or regenerate data/ with `npx tsx scripts/make-subsets.ts` in a clone', passDir]
    : [
        ...(entry.systemPackage ? [`apt-get install ${entry.systemPackage}`] : []),
        passDir,
        `set BAYESCOMP_DATA=DIR (searched as DIR/${entry.name} and DIR)`,
        ...(retry ? [retry] : []),
      ];
  return (
    `dataset '${entry.name}' not found; looked in: ${looked.join(', ')}; ${downloadNote}; ` +
    `to get it: ${ways.join(', or ')}`
  );
}

/** Downloads whichever of the entry's published files are not already in `target`. */
async function downloadMissing(entry: ImageDatasetEntry, target: string, options: DownloadOptions): Promise<void> {
  const missing = [];
  for (const file of entry.files ?? []) {
    const stem = file.name.replace(/\.gz$/, '');
    if (!(await findFile(target, stem))) missing.push(file);
  }
  await downloadPublishedFiles(entry.mirrors ?? [], missing, target, options);
}

/** Why `dir` does not hold the entry's files (a short phrase), or undefined when it does. */
async function missingFor(entry: ImageDatasetEntry, dir: string): Promise<string | undefined> {
  if (!(await isDirectory(dir))) return 'no such directory';
  const files = await scanDirectory(dir);
  const missing: string[] = [];
  for (const split of entry.splits) {
    if (!files[split].images) missing.push(`${IDX_FILE_STEMS[split].images}[.gz]`);
    if (!files[split].labels) missing.push(`${IDX_FILE_STEMS[split].labels}[.gz]`);
  }
  return missing.length ? `missing ${missing.join(', ')}` : undefined;
}

/** Options for {@link readImageDatasetDir}. */
export interface ReadImageDatasetDirOptions {
  /** Name recorded in the result; default: the directory. */
  readonly name?: string;
  readonly origin?: ImageDatasetSplits['origin'];
  /** Catalogue entry giving class names and the splits that must be present. */
  readonly entry?: ImageDatasetEntry;
}

/**
 * Reads the IDX files of a directory in MNIST's layout. Image and label counts must agree, labels must be
 * non-negative integers (below the number of class names for a catalogue dataset) and both splits must have the
 * same image size; otherwise a `bad-format` error names the file and the disagreement.
 */
export async function readImageDatasetDir(
  dir: string,
  options: ReadImageDatasetDirOptions = {},
): Promise<ImageDatasetSplits> {
  const files = await scanDirectory(dir);
  const entry = options.entry;
  const splits = entry?.splits ?? (['train', 'test'] as const);
  const raw: Partial<Record<ImageSplitName, { images: IdxArray; labels: IdxArray; files: Required<SplitFiles> }>> =
    {};
  for (const split of splits) {
    const { images, labels } = files[split];
    if (!images && !labels) continue;
    if (!images || !labels) {
      const [has, lacks] = images ? ['images', 'labels'] : ['labels', 'images'];
      throw new BayescompError(
        'not-found',
        `has the ${split} ${has} but not ${IDX_FILE_STEMS[split][lacks as 'images' | 'labels']}[.gz]`,
        { file: dir },
      );
    }
    raw[split] = { images: await readIdxFile(images), labels: await readIdxFile(labels), files: { images, labels } };
  }
  if (!raw.train && !raw.test) {
    throw new BayescompError(
      'not-found',
      `no IDX dataset files (expected ${IDX_FILE_STEMS.test.images}[.gz] and ${IDX_FILE_STEMS.test.labels}[.gz], ` +
        `and optionally the train- pair)`,
      { file: dir },
    );
  }
  const numClasses =
    entry?.classNames.length ??
    Math.max(...Object.values(raw).map((r) => maxLabel(r.labels, r.files.labels))) + 1;
  const name = options.name ?? dir;
  const result: { train?: Dataset; test?: Dataset } = {};
  for (const split of ['train', 'test'] as const) {
    const r = raw[split];
    if (!r) continue;
    result[split] = imageDatasetFromIdx(r.images, r.labels, {
      imagesFile: r.files.images,
      labelsFile: r.files.labels,
      numClasses,
      classNames: entry?.classNames,
      source: `${name} ${split}`,
    });
  }
  if (result.train && result.test && result.train.featureShape.join() !== result.test.featureShape.join()) {
    throw new BayescompError(
      'bad-format',
      `test images are ${result.test.featureShape.slice(0, 2).join('×')} but train images are ` +
        `${result.train.featureShape.slice(0, 2).join('×')}`,
      { file: raw.test?.files.images },
    );
  }
  return {
    ...result,
    name,
    dir,
    origin: options.origin ?? 'path',
    numClasses,
    ...(entry ? { classNames: entry.classNames } : {}),
  };
}

/** What {@link imageDatasetFromIdx} needs besides the arrays. */
export interface ImageIdxInfo {
  /** Files the arrays came from, for error messages. */
  readonly imagesFile: string;
  readonly labelsFile: string;
  readonly numClasses: number;
  readonly classNames?: readonly string[];
  readonly source?: string;
}

/**
 * Builds a {@link Dataset} from parsed image and label IDX arrays. Images are `[n, rows, cols]` (or
 * `[n, rows, cols, channels]`) of unsigned bytes, scaled by 1/255 to [0, 1], or of floats, kept as they are;
 * labels are `[n]` integers in `[0, numClasses)`.
 */
export function imageDatasetFromIdx(images: IdxArray, labels: IdxArray, info: ImageIdxInfo): Dataset {
  const rank = images.dims.length;
  if (rank !== 3 && rank !== 4) {
    throw new BayescompError(
      'bad-format',
      `image file must have 3 dimensions (images × rows × columns), found ${rank}: [${images.dims.join(', ')}]`,
      { file: info.imagesFile },
    );
  }
  if (images.type !== 'uint8' && images.type !== 'float32' && images.type !== 'float64') {
    throw new BayescompError('bad-format', `image pixels must be ubyte or float, found ${images.type}`, {
      file: info.imagesFile,
    });
  }
  if (labels.dims.length !== 1) {
    throw new BayescompError(
      'bad-format',
      `label file must have 1 dimension, found ${labels.dims.length}: [${labels.dims.join(', ')}]`,
      { file: info.labelsFile },
    );
  }
  const n = images.dims[0];
  if (labels.dims[0] !== n) {
    throw new BayescompError(
      'bad-format',
      `holds ${labels.dims[0]} labels but ${info.imagesFile} holds ${n} images`,
      { file: info.labelsFile },
    );
  }
  const y = toLabels(labels, info.labelsFile, info.numClasses);
  const x = new Float32Array(images.values.length);
  if (images.type === 'uint8') {
    const v = images.values;
    for (let i = 0; i < v.length; i++) x[i] = v[i] / 255;
  } else {
    x.set(images.values);
    const bad = x.findIndex((v) => !Number.isFinite(v));
    if (bad >= 0) {
      throw new BayescompError(
        'bad-format',
        `pixel ${bad} is ${x[bad]} (as float32); image values must be finite`,
        { file: info.imagesFile },
      );
    }
  }
  return {
    x,
    y,
    n,
    featureShape: [images.dims[1], images.dims[2], rank === 4 ? images.dims[3] : 1],
    numClasses: info.numClasses,
    ...(info.classNames ? { classNames: info.classNames } : {}),
    ...(info.source ? { source: info.source } : {}),
  };
}

function toLabels(labels: IdxArray, file: string, numClasses: number): Int32Array {
  if (labels.type === 'float32' || labels.type === 'float64') {
    throw new BayescompError('bad-format', `labels must be integers, found ${labels.type}`, { file });
  }
  const y = Int32Array.from(labels.values);
  for (let i = 0; i < y.length; i++) {
    if (y[i] < 0 || y[i] >= numClasses) {
      throw new BayescompError(
        'bad-format',
        `label ${y[i]} at index ${i} is outside the ${numClasses} classes 0..${numClasses - 1}`,
        { file },
      );
    }
  }
  return y;
}

/** More classes than any real image dataset has (ImageNet-21k: 21,841); a larger label is a corrupt labels file. */
export const MAX_IMAGE_CLASSES = 100_000;

function maxLabel(labels: IdxArray, file: string): number {
  let max = -1;
  for (const [i, v] of labels.values.entries()) {
    if (v < 0) throw new BayescompError('bad-format', `negative label ${v}`, { file });
    if (!Number.isInteger(v) || v >= MAX_IMAGE_CLASSES) {
      throw new BayescompError(
        'bad-format',
        `label ${v} at index ${i} is not a class index below ${MAX_IMAGE_CLASSES}; the labels file is corrupt`,
        { file },
      );
    }
    if (v > max) max = v;
  }
  return max;
}

/** The IDX files present in `dir`, preferring `<stem>.gz` over the raw `<stem>`. */
async function scanDirectory(dir: string): Promise<DirFiles> {
  const out = {} as Record<ImageSplitName, SplitFiles>;
  for (const split of ['train', 'test'] as const) {
    out[split] = {
      images: await findFile(dir, IDX_FILE_STEMS[split].images),
      labels: await findFile(dir, IDX_FILE_STEMS[split].labels),
    };
  }
  return out;
}

async function findFile(dir: string, stem: string): Promise<string | undefined> {
  for (const name of [`${stem}.gz`, stem]) {
    const path = join(dir, name);
    try {
      if ((await stat(path)).isFile()) return path;
    } catch {
      // Absent: try the next spelling.
    }
  }
  return undefined;
}

async function isDirectory(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isDirectory();
  } catch {
    return false;
  }
}
