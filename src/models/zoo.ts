import * as tf from '@tensorflow/tfjs';
import { getGlobalRandom, Random } from '../runtime/random.js';
import { BayescompError, requireConfig } from '../util/errors.js';

/**
 * What the last layer of a zoo model outputs: `linear` (default) gives logits, which is what every bayescomp method
 * expects; `softmax` folds the softmax into the last Dense layer, the way Keras users usually build classifiers.
 */
export type ZooOutputActivation = 'linear' | 'softmax';

/** Kernel initialisers the zoo offers; biases always start at zero. */
export type ZooInitializer = 'glorotUniform' | 'heNormal' | 'heUniform';

/** Options every zoo builder accepts. */
export interface ZooOptions {
  /** Shape of one example, without the batch dimension. Default `[28, 28, 1]` (MNIST-style images). */
  readonly inputShape?: readonly number[];
  /** Number of classes, i.e. units of the last Dense layer. Default 10. */
  readonly numClasses?: number;
  /** Activation of the last layer. Default `linear` (logits). */
  readonly outputActivation?: ZooOutputActivation;
  /**
   * Seed for the kernel initialisers: the same seed gives bit-identical initial weights. Default: drawn from the
   * library-wide generator ({@link getGlobalRandom}), so `setGlobalSeed` also makes the zoo reproducible.
   */
  readonly seed?: number;
  /** Kernel initialiser. Default `glorotUniform` (the Keras and TF.js default). */
  readonly initializer?: ZooInitializer;
}

/** Options of {@link mlp}. */
export interface MlpOptions extends ZooOptions {
  /** Units of each hidden Dense layer. Default `[300, 100]`. */
  readonly hiddenUnits?: readonly number[];
  /** Activation of the hidden layers. Default `relu`. */
  readonly activation?: HiddenActivation;
  /** Dropout rate after each hidden layer; 0 (default) adds no Dropout layers. */
  readonly dropout?: number;
}

/** Options of {@link cnn}. */
export interface CnnOptions extends ZooOptions {
  /** Filters of each convolution block (conv → max-pool 2×2). Default `[16, 32]`. */
  readonly filters?: readonly number[];
  /** Square kernel size of the convolutions. Default 3. */
  readonly kernelSize?: number;
  /** Convolution padding. Default `same`. */
  readonly padding?: 'same' | 'valid';
  /** Units of the hidden Dense layers after flattening. Default `[128]`. */
  readonly denseUnits?: readonly number[];
  /** Activation of the hidden layers. Default `relu`. */
  readonly activation?: HiddenActivation;
  /** Dropout rate before each Dense layer; 0 (default) adds no Dropout layers. */
  readonly dropout?: number;
}

/** Hidden-layer activations the zoo accepts. */
export type HiddenActivation = 'relu' | 'tanh' | 'sigmoid' | 'elu' | 'selu' | 'softplus' | 'linear';

/** Names accepted by {@link buildZooModel}. */
export type ZooModelName = 'lenet300' | 'lenet5' | 'mlp' | 'cnn';

/** One entry of {@link ZOO_MODELS}. */
export interface ZooModelInfo {
  readonly name: ZooModelName;
  readonly description: string;
}

/** The zoo, for `--help` texts and reports. */
export const ZOO_MODELS: readonly ZooModelInfo[] = [
  {
    name: 'lenet300',
    description:
      'LeNet-300-100: flatten → dense 300 relu → dense 100 relu → dense 10 (266,610 parameters on 28×28)',
  },
  {
    name: 'lenet5',
    description:
      'LeNet-5-Caffe 20-50-800-500: conv 20@5×5 → pool → conv 50@5×5 → pool → dense 500 → dense 10 (431,080 parameters)',
  },
  {
    name: 'mlp',
    description: 'multilayer perceptron with configurable hidden sizes, activation and dropout',
  },
  {
    name: 'cnn',
    description: 'small CNN: conv 16@3×3 → pool → conv 32@3×3 → pool → dense 128 → dense 10, configurable',
  },
];

/** Builds a zoo model by name; `options` may carry the {@link MlpOptions}/{@link CnnOptions} of that model. */
export function buildZooModel(name: string, options: MlpOptions & CnnOptions = {}): tf.Sequential {
  switch (name) {
    case 'lenet300':
      return lenet300(options);
    case 'lenet5':
      return lenet5(options);
    case 'mlp':
      return mlp(options);
    case 'cnn':
      return cnn(options);
    default:
      throw new BayescompError(
        'bad-config',
        `unknown zoo model '${name}' (known: ${ZOO_MODELS.map((m) => m.name).join(', ')})`,
      );
  }
}

/** Whether `name` is one of the zoo's model names. */
export function isZooModelName(name: string): name is ZooModelName {
  return ZOO_MODELS.some((m) => m.name === name);
}

/** Options of the fixed LeNet architectures: the common ones plus dropout for MC dropout. */
export interface LeNetOptions extends ZooOptions {
  /**
   * Dropout rate on every hidden representation entering a Dense layer (Gal & Ghahramani 2016's "lenet-ip"
   * placement for MC dropout): LeNet-300-100 gets `dropout_1` after `dense_1` and `dropout_2` after `dense_2`;
   * LeNet-5 gets `dropout_1` after `flatten` and `dropout_2` after `dense_1`. Dropout has no weights, so the
   * parameter count is unchanged. 0 (default) adds no layers: the model is exactly the plain LeNet.
   */
  readonly dropout?: number;
}

/**
 * LeNet-300-100 (LeCun et al. 1998): flatten → dense 300 relu → dense 100 relu → dense `numClasses`. Layers are named
 * `flatten`, `dense_1`, `dense_2`, `dense_3` (plus `dropout_i` with {@link LeNetOptions.dropout}). On 28×28 inputs it
 * has 266,610 parameters.
 */
export function lenet300(options: LeNetOptions = {}): tf.Sequential {
  return buildMlp(
    { ...options, hiddenUnits: [300, 100], activation: 'relu', dropout: options.dropout ?? 0 },
    'lenet300',
  );
}

/**
 * LeNet-5-Caffe ("20-50-800-500", the variant used by Louizos et al. 2017 and Molchanov et al. 2017): conv 20@5×5
 * valid relu → max-pool 2 → conv 50@5×5 valid relu → max-pool 2 → flatten (800 on 28×28) → dense 500 relu → dense
 * `numClasses`. Layers are named `conv_1`, `pool_1`, `conv_2`, `pool_2`, `flatten`, `dense_1`, `dense_2` (plus
 * `dropout_i` with {@link LeNetOptions.dropout}). On 28×28×1 inputs it has 431,080 parameters.
 */
export function lenet5(options: LeNetOptions = {}): tf.Sequential {
  return buildCnn(
    {
      ...options,
      filters: [20, 50],
      kernelSize: 5,
      padding: 'valid',
      denseUnits: [500],
      activation: 'relu',
      dropout: options.dropout ?? 0,
    },
    'lenet5',
  );
}

/**
 * A multilayer perceptron: flatten (when the input has more than one axis) → for each hidden size a Dense layer
 * (`dense_1`, `dense_2`, …) with optional Dropout (`dropout_1`, …) → Dense `numClasses`.
 */
export function mlp(options: MlpOptions = {}): tf.Sequential {
  return buildMlp(options, 'mlp');
}

function buildMlp(options: MlpOptions, modelName: string): tf.Sequential {
  const common = resolveCommon(options);
  const hidden = options.hiddenUnits ?? [300, 100];
  const activation = options.activation ?? 'relu';
  const dropout = options.dropout ?? 0;
  hidden.forEach((u) => requirePositiveInt(u, 'hidden units'));
  requireConfig(dropout >= 0 && dropout < 1, `dropout must be in [0, 1), got ${dropout}`);

  const model = tf.sequential({ name: modelName });
  const first = { inputShape: [...common.inputShape] };
  let needsInputShape = true;
  if (common.inputShape.length > 1) {
    model.add(tf.layers.flatten({ ...first, name: 'flatten' }));
    needsInputShape = false;
  }
  let denseIndex = 0;
  for (const [i, units] of hidden.entries()) {
    model.add(
      tf.layers.dense({
        ...(needsInputShape ? first : {}),
        units,
        activation,
        kernelInitializer: common.kernelInitializer(),
        biasInitializer: 'zeros',
        name: `dense_${++denseIndex}`,
      }),
    );
    needsInputShape = false;
    if (dropout > 0) model.add(tf.layers.dropout({ rate: dropout, name: `dropout_${i + 1}` }));
  }
  model.add(
    tf.layers.dense({
      ...(needsInputShape ? first : {}),
      units: common.numClasses,
      activation: common.outputActivation,
      kernelInitializer: common.kernelInitializer(),
      biasInitializer: 'zeros',
      name: `dense_${++denseIndex}`,
    }),
  );
  return model;
}

/**
 * A small convolutional network: for each entry of `filters` a block conv k×k (`conv_i`) → max-pool 2×2 (`pool_i`),
 * then flatten → Dense hidden layers (`dense_1`, …, optional `dropout_i` before each) → Dense `numClasses`.
 */
export function cnn(options: CnnOptions = {}): tf.Sequential {
  return buildCnn(options, 'cnn');
}

function buildCnn(options: CnnOptions, modelName: string): tf.Sequential {
  const common = resolveCommon(options);
  const filters = options.filters ?? [16, 32];
  const kernelSize = options.kernelSize ?? 3;
  const padding = options.padding ?? 'same';
  const denseUnits = options.denseUnits ?? [128];
  const activation = options.activation ?? 'relu';
  const dropout = options.dropout ?? 0;
  requireConfig(common.inputShape.length === 3, `a CNN needs an input shape [height, width, channels]`);
  filters.forEach((f) => requirePositiveInt(f, 'filters'));
  denseUnits.forEach((u) => requirePositiveInt(u, 'dense units'));
  requirePositiveInt(kernelSize, 'kernel size');
  requireConfig(dropout >= 0 && dropout < 1, `dropout must be in [0, 1), got ${dropout}`);

  let [height, width] = common.inputShape;
  const model = tf.sequential({ name: modelName });
  for (const [i, f] of filters.entries()) {
    if (padding === 'valid') {
      height -= kernelSize - 1;
      width -= kernelSize - 1;
    }
    height = Math.floor(height / 2);
    width = Math.floor(width / 2);
    requireConfig(
      height >= 1 && width >= 1,
      `input shape [${common.inputShape.join(', ')}] is too small for ${filters.length} conv/pool blocks`,
    );
    model.add(
      tf.layers.conv2d({
        ...(i === 0 ? { inputShape: [...common.inputShape] } : {}),
        filters: f,
        kernelSize,
        padding,
        activation,
        kernelInitializer: common.kernelInitializer(),
        biasInitializer: 'zeros',
        name: `conv_${i + 1}`,
      }),
    );
    model.add(tf.layers.maxPooling2d({ poolSize: 2, strides: 2, name: `pool_${i + 1}` }));
  }
  model.add(tf.layers.flatten({ name: 'flatten' }));
  const units = [...denseUnits, common.numClasses];
  for (const [i, u] of units.entries()) {
    const last = i === units.length - 1;
    if (dropout > 0) model.add(tf.layers.dropout({ rate: dropout, name: `dropout_${i + 1}` }));
    model.add(
      tf.layers.dense({
        units: u,
        activation: last ? common.outputActivation : activation,
        kernelInitializer: common.kernelInitializer(),
        biasInitializer: 'zeros',
        name: `dense_${i + 1}`,
      }),
    );
  }
  return model;
}

type KernelInitializer = ReturnType<typeof tf.initializers.glorotUniform>;

interface ResolvedCommon {
  readonly inputShape: readonly number[];
  readonly numClasses: number;
  readonly outputActivation: ZooOutputActivation;
  /** A fresh, seeded initialiser per call: each layer gets its own seed from one stream. */
  readonly kernelInitializer: () => KernelInitializer;
}

function resolveCommon(options: ZooOptions): ResolvedCommon {
  const inputShape = options.inputShape ?? [28, 28, 1];
  const numClasses = options.numClasses ?? 10;
  const outputActivation = options.outputActivation ?? 'linear';
  requireConfig(inputShape.length >= 1, 'input shape must have at least one axis');
  inputShape.forEach((d) => requirePositiveInt(d, 'input shape entries'));
  requirePositiveInt(numClasses, 'number of classes');
  requireConfig(
    outputActivation === 'linear' || outputActivation === 'softmax',
    `output activation must be 'linear' or 'softmax', got '${String(outputActivation)}'`,
  );
  // Each layer draws its own seed from one stream, so layers differ but the model is reproducible from one seed.
  const random = options.seed === undefined ? getGlobalRandom().fork() : new Random(options.seed);
  const kind = options.initializer ?? 'glorotUniform';
  const kernelInitializer = (): KernelInitializer => {
    const seed = random.tfSeed();
    switch (kind) {
      case 'glorotUniform':
        return tf.initializers.glorotUniform({ seed });
      case 'heNormal':
        return tf.initializers.heNormal({ seed });
      case 'heUniform':
        return tf.initializers.heUniform({ seed });
      default:
        throw new BayescompError('bad-config', `unknown initializer '${String(kind)}'`);
    }
  };
  return { inputShape, numClasses, outputActivation, kernelInitializer };
}

function requirePositiveInt(value: number, what: string): void {
  requireConfig(Number.isInteger(value) && value > 0, `${what} must be positive integers, got ${value}`);
}
