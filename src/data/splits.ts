import type { Random } from '../runtime/random.js';
import { BayescompError } from '../util/errors.js';
import { type Dataset, featureSize, isClassification, targetWidth } from './dataset.js';

/** Values per target of a dataset (1 for class labels). */

/**
 * The examples at `indices`, in that order, as a new dataset with copied arrays (the original stays usable).
 * Out-of-range indices throw a RangeError.
 */
export function subsetDataset(data: Dataset, indices: ArrayLike<number>): Dataset {
  const fs = featureSize(data);
  const ts = targetWidth(data);
  const m = indices.length;
  const x = new Float32Array(m * fs);
  const y = data.y instanceof Int32Array ? new Int32Array(m * ts) : new Float32Array(m * ts);
  for (let i = 0; i < m; i++) {
    const src = indices[i];
    if (!(src >= 0 && src < data.n) || !Number.isInteger(src)) {
      throw new RangeError(`subsetDataset: index ${src} is outside 0..${data.n - 1}`);
    }
    x.set(data.x.subarray(src * fs, (src + 1) * fs), i * fs);
    y.set(data.y.subarray(src * ts, (src + 1) * ts), i * ts);
  }
  return { ...data, x, y, n: m };
}

/** Example indices grouped by class label, each group in ascending order. */
export function indicesByClass(labels: Int32Array, numClasses: number): number[][] {
  const groups: number[][] = Array.from({ length: numClasses }, () => []);
  labels.forEach((label, i) => groups[label].push(i));
  return groups;
}

/**
 * Splits `total` into integer shares proportional to `weights` that sum exactly to `total` (Hamilton's
 * largest-remainder method; ties go to the lower index so the result is deterministic).
 */
export function proportionalAllocation(weights: readonly number[], total: number): number[] {
  const sum = weights.reduce((a, b) => a + b, 0);
  if (sum <= 0) return weights.map(() => 0);
  const quotas = weights.map((w) => (total * w) / sum);
  const shares = quotas.map(Math.floor);
  let left = total - shares.reduce((a, b) => a + b, 0);
  const order = quotas.map((q, i) => i).sort((a, b) => quotas[b] - shares[b] - (quotas[a] - shares[a]) || a - b);
  for (const i of order) {
    if (left <= 0) break;
    shares[i]++;
    left--;
  }
  return shares;
}

/** How many examples {@link stratifiedSample} draws: the same number from every class, or a total. */
export type StratifiedSampleSize = { readonly perClass: number } | { readonly total: number };

/**
 * Indices (ascending) of a seeded class-stratified sample: `perClass` from every class, or `total` spread over the
 * classes in proportion to their sizes (largest remainder). Each class's examples are drawn without replacement.
 */
export function stratifiedSampleIndices(data: Dataset, size: StratifiedSampleSize, random: Random): Int32Array {
  if (!isClassification(data)) {
    throw new BayescompError('bad-config', 'a stratified sample needs class labels; this dataset has real targets');
  }
  return stratifiedLabelIndices(data.y, data.numClasses, size, random);
}

/** {@link stratifiedSampleIndices} working on the labels alone (labels in `0..numClasses-1`). */
export function stratifiedLabelIndices(
  labels: Int32Array,
  numClasses: number,
  size: StratifiedSampleSize,
  random: Random,
): Int32Array {
  const groups = indicesByClass(labels, numClasses);
  let counts: number[];
  if ('perClass' in size) {
    requireCount(size.perClass, 'perClass');
    groups.forEach((g, c) => {
      if (g.length < size.perClass) {
        throw new BayescompError(
          'bad-config',
          `class ${c} has ${g.length} examples, fewer than the ${size.perClass} per class requested`,
        );
      }
    });
    counts = groups.map(() => size.perClass);
  } else {
    requireCount(size.total, 'total');
    if (size.total > labels.length) {
      throw new BayescompError('bad-config', `cannot sample ${size.total} examples from ${labels.length}`);
    }
    counts = proportionalAllocation(
      groups.map((g) => g.length),
      size.total,
    );
  }
  const chosen: number[] = [];
  groups.forEach((g, c) => chosen.push(...drawWithoutReplacement(g, counts[c], random)));
  return Int32Array.from(chosen).sort();
}

/** {@link stratifiedSampleIndices} as a dataset (examples kept in their original order). */
export function stratifiedSample(data: Dataset, size: StratifiedSampleSize, random: Random): Dataset {
  return subsetDataset(data, stratifiedSampleIndices(data, size, random));
}

/** A dataset divided into the part to train on and the part to validate on. */
export interface TrainValidationSplit {
  readonly train: Dataset;
  readonly validation: Dataset;
  /** Indices into the original dataset, ascending. */
  readonly trainIndices: Int32Array;
  readonly validationIndices: Int32Array;
}

/** Options for {@link trainValidationSplit}. */
export interface TrainValidationSplitOptions {
  /**
   * Keep each class's share the same in both parts (each class contributes its proportional share of the
   * validation examples, largest remainder). Default: true for class labels, false for real targets.
   */
  readonly stratify?: boolean;
}

/**
 * Partitions `data` into train and validation parts, `round(validationFraction · n)` examples going to validation,
 * chosen with the seeded `random`. Both parts keep the original example order.
 */
export function trainValidationSplit(
  data: Dataset,
  validationFraction: number,
  random: Random,
  options: TrainValidationSplitOptions = {},
): TrainValidationSplit {
  if (!(validationFraction > 0 && validationFraction < 1)) {
    throw new BayescompError('bad-config', `validation fraction must be in (0, 1), got ${validationFraction}`);
  }
  const nValidation = Math.round(validationFraction * data.n);
  if (nValidation === 0 || nValidation === data.n) {
    throw new BayescompError(
      'bad-config',
      `validation fraction ${validationFraction} of ${data.n} examples leaves one part empty`,
    );
  }
  const stratify = options.stratify ?? isClassification(data);
  let validation: number[];
  if (stratify) {
    if (!isClassification(data)) {
      throw new BayescompError('bad-config', 'cannot stratify a split of real-valued targets');
    }
    validation = [];
    const groups = indicesByClass(data.y, data.numClasses);
    const counts = proportionalAllocation(
      groups.map((g) => g.length),
      nValidation,
    );
    groups.forEach((g, c) => validation.push(...drawWithoutReplacement(g, counts[c], random)));
  } else {
    validation = Array.from(random.permutation(data.n).subarray(0, nValidation));
  }
  const inValidation = new Uint8Array(data.n);
  for (const i of validation) inValidation[i] = 1;
  const validationIndices = new Int32Array(nValidation);
  const trainIndices = new Int32Array(data.n - nValidation);
  let v = 0;
  let t = 0;
  for (let i = 0; i < data.n; i++) {
    if (inValidation[i]) validationIndices[v++] = i;
    else trainIndices[t++] = i;
  }
  return {
    train: subsetDataset(data, trainIndices),
    validation: subsetDataset(data, validationIndices),
    trainIndices,
    validationIndices,
  };
}

/** `count` distinct elements of `pool`, chosen uniformly (partial Fisher–Yates on a copy). */
function drawWithoutReplacement(pool: readonly number[], count: number, random: Random): number[] {
  const a = pool.slice();
  for (let i = 0; i < count; i++) {
    const j = i + random.int(a.length - i);
    const tmp = a[i];
    a[i] = a[j];
    a[j] = tmp;
  }
  return a.slice(0, count);
}

function requireCount(value: number, what: string): void {
  if (!(value >= 0) || !Number.isInteger(value)) {
    throw new BayescompError('bad-config', `${what} must be a non-negative integer, got ${value}`);
  }
}
