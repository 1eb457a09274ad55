/**
 * An in-memory dataset held in plain typed arrays (not tensors), so holding it costs no TF.js memory and batches are
 * made as tensors only for the step that uses them.
 */
export interface Dataset {
  /** Features, row-major: example i occupies `x[i * featureSize .. (i + 1) * featureSize)`. */
  readonly x: Float32Array;
  /**
   * Targets: class indices (Int32Array, one per example) for classification, or real targets (Float32Array,
   * `targetSize` per example) for regression.
   */
  readonly y: Int32Array | Float32Array;
  /** Number of examples. */
  readonly n: number;
  /** Shape of one example, e.g. `[28, 28, 1]` for MNIST images (channels last) or `[d]` for tabular data. */
  readonly featureShape: readonly number[];
  /** Number of classes, for classification data. */
  readonly numClasses?: number;
  /** Values per target, for regression data (1 when absent). */
  readonly targetSize?: number;
  /** Optional class names, for reports. */
  readonly classNames?: readonly string[];
  /** Where the data came from (dataset name, file or directory), for reports. */
  readonly source?: string;
}

/** A dataset's train and test parts (the test part may be absent for train-only files). */
export interface DatasetSplits {
  readonly train?: Dataset;
  readonly test?: Dataset;
}

/** Number of feature values per example. */
export function featureSize(data: Pick<Dataset, 'featureShape'>): number {
  return data.featureShape.reduce((a, b) => a * b, 1);
}

/** Whether the dataset holds class labels. */
export function isClassification(data: Dataset): data is Dataset & { y: Int32Array; numClasses: number } {
  return data.y instanceof Int32Array && data.numClasses !== undefined;
}

/** Values per target: 1 for class labels, `targetSize` (default 1) for regression targets. */
export function targetWidth(data: Pick<Dataset, 'y' | 'targetSize'>): number {
  return data.y instanceof Int32Array ? 1 : (data.targetSize ?? 1);
}
