import type * as tf from '@tensorflow/tfjs';
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { Dataset } from '../data/dataset.js';
import { loadImageDataset, type ImageDatasetSplits } from '../data/image-datasets.js';
import { loadModel } from '../models/file-io.js';
import { splitOutputActivation } from '../models/logits.js';
import { buildZooModel, isZooModelName } from '../models/zoo.js';
import { BayescompError } from '../util/errors.js';
import { RUN_FILES, requireRunModel } from './run-dir.js';

/** Options shared by commands that read a dataset. */
export interface DataOptions {
  /** Directory to look in first (`--data-dir`). */
  readonly dataDir?: string;
  /** Allow downloading a named dataset (`--no-download` turns it off). */
  readonly download?: boolean;
}

/** Loads `--data` (a dataset name or a directory of IDX files). */
export async function resolveDataset(spec: string, options: DataOptions = {}): Promise<ImageDatasetSplits> {
  return loadImageDataset(spec, { dir: options.dataDir, download: options.download ?? true });
}

/** Where a model came from. */
export interface ResolvedModel {
  /** The model as stored (what `train` saves back: a user's model keeps its softmax). */
  readonly model: tf.LayersModel;
  /** The same network producing logits (shares the weights), which training and evaluation use. */
  readonly logits: tf.LayersModel;
  readonly source: 'zoo' | 'file' | 'run';
  /** The zoo name or the path read. */
  readonly origin: string;
}

/** Options applied when `--model` names a zoo model. */
export interface ZooModelOptions {
  /** Dropout rate (MC dropout); 0 or absent builds the plain model. */
  readonly dropout?: number;
}

/**
 * Resolves `--model`: a zoo name (built for the data's input shape and class count, seeded), a `model.json` (or its
 * directory), or a run directory (its `model/`).
 */
export async function resolveModel(
  spec: string,
  data: Dataset | undefined,
  seed: number,
  zoo: ZooModelOptions = {},
): Promise<ResolvedModel> {
  if (isZooModelName(spec)) {
    const model = buildZooModel(spec, {
      inputShape: data ? [...data.featureShape] : undefined,
      numClasses: data?.numClasses,
      seed,
      ...(zoo.dropout ? { dropout: zoo.dropout } : {}),
    });
    return { model, logits: model, source: 'zoo', origin: spec };
  }
  const isDir = await stat(spec).then(
    (s) => s.isDirectory(),
    () => undefined,
  );
  if (isDir === undefined) {
    throw new BayescompError(
      'not-found',
      `model '${spec}' is neither a zoo model (lenet300, lenet5, mlp, cnn) nor a file`,
    );
  }
  const fromRun = isDir && (await exists(join(spec, RUN_FILES.run)));
  if (fromRun && !(await exists(join(spec, RUN_FILES.model))) && (await exists(join(spec, 'members')))) {
    throw new BayescompError(
      'bad-config',
      `${spec} is a deep-ensemble run: give one member's directory (${join(spec, 'members', '0')}) as --model`,
    );
  }
  const model = await loadModel(fromRun ? await requireRunModel(spec) : spec);
  return {
    model,
    logits: splitOutputActivation(model).logits,
    source: fromRun ? 'run' : 'file',
    origin: spec,
  };
}

async function exists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  );
}
