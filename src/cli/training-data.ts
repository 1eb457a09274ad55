import type { Dataset } from '../data/dataset.js';
import type { ImageDatasetSplits } from '../data/image-datasets.js';
import { trainValidationSplit } from '../data/splits.js';
import { Random } from '../runtime/random.js';
import { BayescompError } from '../util/errors.js';
import { resolveDataset } from './resolve-inputs.js';

/** The data of one `bayescomp train` run. */
export interface TrainingData {
  readonly splits: ImageDatasetSplits;
  /** What the network is fitted to (the training split, less the validation part). */
  readonly train: Dataset;
  /** Evaluated after each epoch: the held-out part with `--validation-split`, else the test split. */
  readonly validation?: Dataset;
  /** The run's final figures are computed here: the test split, else the validation part. */
  readonly test?: Dataset;
}

/** The options of `train` that choose its data. */
export interface TrainingDataOptions {
  readonly data: string;
  readonly dataDir?: string;
  readonly download?: boolean;
  readonly validationSplit: number;
  readonly seed: number;
}

/** Loads `--data` and splits off `--validation-split` (stratified, seeded by `--seed`). */
export async function loadTrainingData(options: TrainingDataOptions): Promise<TrainingData> {
  const splits = await resolveDataset(options.data, { dataDir: options.dataDir, download: options.download });
  if (!splits.train)
    throw new BayescompError('bad-config', `${splits.name} has no training split (only t10k files)`);
  let train = splits.train;
  let validation = splits.test;
  if (options.validationSplit > 0) {
    const parts = trainValidationSplit(train, options.validationSplit, new Random(options.seed), {
      stratify: true,
    });
    train = parts.train;
    validation = parts.validation;
  }
  return { splits, train, validation, test: splits.test ?? validation };
}
