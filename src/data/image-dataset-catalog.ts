/**
 * The image datasets bayescomp knows by name: where to download them, the published checksums of the official files,
 * and their class names. Datasets stored in MNIST's four-file IDX layout can be added with
 * {@link registerImageDataset}.
 */

/** Which part of a dataset a file holds. */
export type ImageSplitName = 'train' | 'test';

/** One file of a dataset as published: its name and the checksums of its bytes (hex). */
export interface PublishedFile {
  readonly name: string;
  /** MD5 of the published (gzipped) file. */
  readonly md5?: string;
  /** SHA-256 of the published (gzipped) file. */
  readonly sha256?: string;
}

/** A named dataset in MNIST's layout: images and labels for each split. */
export interface ImageDatasetEntry {
  readonly name: string;
  /** One line for listings and error messages. */
  readonly description: string;
  readonly classNames: readonly string[];
  /** The splits the dataset has (`mnist-subset` is test-only). */
  readonly splits: readonly ImageSplitName[];
  /** Committed in the package's `data/` folder: never searched elsewhere nor downloaded. */
  readonly embedded?: boolean;
  /** Base URLs tried in order; each file is fetched from `mirror + file.name`. */
  readonly mirrors?: readonly string[];
  /** The published files with checksums, when the dataset can be downloaded. */
  readonly files?: readonly PublishedFile[];
  /** How to install it with the system package manager, if packaged. */
  readonly systemPackage?: string;
}

/** The four file stems of MNIST's layout; each may end in `.gz`. */
export const IDX_FILE_STEMS: Readonly<Record<ImageSplitName, { images: string; labels: string }>> = {
  train: { images: 'train-images-idx3-ubyte', labels: 'train-labels-idx1-ubyte' },
  test: { images: 't10k-images-idx3-ubyte', labels: 't10k-labels-idx1-ubyte' },
};

/** Fashion-MNIST's labels (Xiao, Rasul & Vollgraf 2017, README of zalandoresearch/fashion-mnist). */
export const FASHION_MNIST_CLASS_NAMES: readonly string[] = [
  'T-shirt/top',
  'Trouser',
  'Pullover',
  'Dress',
  'Coat',
  'Sandal',
  'Shirt',
  'Sneaker',
  'Bag',
  'Ankle boot',
];

/** MNIST's labels: the digits. */
export const MNIST_CLASS_NAMES: readonly string[] = ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9'];

const catalog = new Map<string, ImageDatasetEntry>();

/** Adds (or replaces) a named dataset, e.g. a private mirror of an MNIST-layout dataset. */
export function registerImageDataset(entry: ImageDatasetEntry): void {
  catalog.set(entry.name, entry);
}

/** The catalogue entry for `name`, or undefined when the name is not known. */
export function imageDatasetEntry(name: string): ImageDatasetEntry | undefined {
  return catalog.get(name);
}

/** Names of every known dataset, sorted. */
export function imageDatasetNames(): string[] {
  return [...catalog.keys()].sort();
}

registerImageDataset({
  name: 'fashion-mnist',
  description: 'Fashion-MNIST, 60000 train / 10000 test 28×28 grey images of 10 clothing classes',
  classNames: FASHION_MNIST_CLASS_NAMES,
  splits: ['train', 'test'],
  systemPackage: 'dataset-fashion-mnist',
  // The download links and MD5s published in the Fashion-MNIST README ("Get the Data").
  mirrors: [
    'http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/',
    'https://github.com/zalandoresearch/fashion-mnist/raw/master/data/fashion/',
  ],
  files: [
    { name: 'train-images-idx3-ubyte.gz', md5: '8d4fb7e6c68d591d4c3dfef9ec88bf0d' },
    { name: 'train-labels-idx1-ubyte.gz', md5: '25c81989df183df01b3e8a0aad5dffbe' },
    { name: 't10k-images-idx3-ubyte.gz', md5: 'bef4ecab320f06d8554ea6380940ec79' },
    { name: 't10k-labels-idx1-ubyte.gz', md5: 'bb300cfdad3c16e7a12a480ee83cd310' },
  ],
});

registerImageDataset({
  name: 'mnist',
  description: 'MNIST, 60000 train / 10000 test 28×28 grey images of handwritten digits',
  classNames: MNIST_CLASS_NAMES,
  splits: ['train', 'test'],
  // yann.lecun.com now often refuses downloads; these mirrors serve the identical files (same checksums).
  mirrors: [
    'https://ossci-datasets.s3.amazonaws.com/mnist/',
    'https://storage.googleapis.com/cvdf-datasets/mnist/',
    'http://yann.lecun.com/exdb/mnist/',
  ],
  files: [
    {
      name: 'train-images-idx3-ubyte.gz',
      md5: 'f68b3c2dcbeaaa9fbdd348bbdeb94873',
      sha256: '440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609',
    },
    {
      name: 'train-labels-idx1-ubyte.gz',
      md5: 'd53e105ee54ea40749a09fcbcd1e9432',
      sha256: '3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c',
    },
    {
      name: 't10k-images-idx3-ubyte.gz',
      md5: '9fb629c4189551a2d022fa330f9573f3',
      sha256: '8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6',
    },
    {
      name: 't10k-labels-idx1-ubyte.gz',
      md5: 'ec29112dd5afa0611ce80d1b7f02629c',
      sha256: 'f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6',
    },
  ],
});

registerImageDataset({
  name: 'fashion-mnist-subset',
  description: 'embedded class-balanced Fashion-MNIST subset, 5000 train / 1000 test (see data/README.md)',
  classNames: FASHION_MNIST_CLASS_NAMES,
  splits: ['train', 'test'],
  embedded: true,
});

registerImageDataset({
  name: 'mnist-subset',
  description: 'embedded stratified MNIST test subset, 1000 images, for out-of-distribution checks',
  classNames: MNIST_CLASS_NAMES,
  splits: ['test'],
  embedded: true,
});
