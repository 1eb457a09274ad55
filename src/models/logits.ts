import * as tf from '@tensorflow/tfjs';
import { BayescompError } from '../util/errors.js';

/** The link between a model's logits and what it outputs: probabilities by softmax or sigmoid, or the logits. */
export type OutputActivation = 'softmax' | 'sigmoid' | 'linear';

/** A model split into its logits and its output activation by {@link splitOutputActivation}. */
export interface LogitsSplit {
  /**
   * A model from the same inputs to the pre-activation of the original output. It shares the original's layers and
   * weight variables: training or changing one changes the other. Disposing it frees nothing (the weights belong to
   * the original model); dispose the original when both are done. When the original already produces logits, this
   * is the original model itself.
   */
  readonly logits: tf.LayersModel;
  /** The activation that turns `logits` into the original output: model(x) = activation(logits(x)). */
  readonly outputActivation: OutputActivation;
}

/**
 * Splits a single-output Sequential or functional model into logits and output activation, so that the library can
 * work on logits as it does throughout (cross-entropy, GGN curvature, probit predictive). Recognised endings:
 * a Dense/Conv (any layer with an `activation` option) whose activation is softmax or sigmoid — the way Keras and the
 * TF.js converter usually store classifiers — a separate `Activation('softmax' | 'sigmoid')` layer, and a `Softmax`
 * layer over the last axis — also when they end a model nested as the last layer. Any other ending is taken to
 * produce logits already and the model comes back unchanged with `outputActivation: 'linear'`. A custom layer with a
 * folded softmax must implement {@link PreActivationCallable}, else this throws `bad-config`.
 */
export function splitOutputActivation(model: tf.LayersModel): LogitsSplit {
  if (model.outputs.length !== 1) {
    throw new BayescompError(
      'bad-config',
      `model '${model.name}' has ${model.outputs.length} outputs; expected one`,
    );
  }
  const output = model.outputs[0];
  const layer = output.sourceLayer;
  const node = layer.inboundNodes[output.nodeIndex];
  const config = layer.getConfig();
  const className = layer.getClassName();
  const name = `${model.name}_logits`;

  if (layer instanceof tf.LayersModel) {
    // A classifier nested as the last layer (e.g. a Sequential head inside a functional model): split it and apply
    // its logits model, which shares its layers, where the nested model was applied.
    const inner = splitOutputActivation(layer);
    if (inner.outputActivation === 'linear') return { logits: model, outputActivation: 'linear' };
    const preActivation = inner.logits.apply(
      node.inputTensors.length === 1 ? node.inputTensors[0] : node.inputTensors,
    );
    return {
      logits: new LogitsModel({ inputs: model.inputs, outputs: preActivation as tf.SymbolicTensor, name }),
      outputActivation: inner.outputActivation,
    };
  }

  if (className === 'Activation' || className === 'Softmax') {
    const activation =
      className === 'Softmax' ? softmaxOverLastAxis(config, output.shape.length) : config.activation;
    if (activation !== 'softmax' && activation !== 'sigmoid')
      return { logits: model, outputActivation: 'linear' };
    const preActivation = node.inputTensors[0];
    return {
      logits: new LogitsModel({ inputs: model.inputs, outputs: preActivation, name }),
      outputActivation: activation,
    };
  }
  const activation = config.activation;
  if (activation === 'softmax' || activation === 'sigmoid') {
    if (!canComputePreActivation(layer, activation)) {
      throw new BayescompError(
        'bad-config',
        `cannot take the logits before the ${activation} folded into layer '${layer.name}' (${className}): ` +
          `give it activation 'linear' followed by an Activation('${activation}') layer, or implement ` +
          'callWithoutActivation(inputs, kwargs) on the layer class',
      );
    }
    const view = new PreActivationView(layer);
    const preActivation = view.apply(
      node.inputTensors.length === 1 ? node.inputTensors[0] : node.inputTensors,
    );
    return {
      logits: new LogitsModel({ inputs: model.inputs, outputs: preActivation as tf.SymbolicTensor, name }),
      outputActivation: activation,
    };
  }
  return { logits: model, outputActivation: 'linear' };
}

/** Applies an {@link OutputActivation} to logits along the last axis. */
export function applyOutputActivation(logits: tf.Tensor, activation: OutputActivation): tf.Tensor {
  switch (activation) {
    case 'softmax':
      return tf.softmax(logits);
    case 'sigmoid':
      return tf.sigmoid(logits);
    case 'linear':
      return tf.clone(logits);
  }
}

function softmaxOverLastAxis(config: tf.serialization.ConfigDict, rank: number): string | undefined {
  const axis = config.axis;
  return axis === undefined || axis === -1 || axis === rank - 1 ? 'softmax' : undefined;
}

type DisposeResult = ReturnType<tf.layers.Layer['dispose']>;

/** A functional model whose layers all belong to another model: disposing it must not free their weights. */
class LogitsModel extends tf.LayersModel {
  override dispose(): DisposeResult {
    return { refCountAfterDispose: 0, numDisposedVariables: 0 };
  }
}

/**
 * What a custom layer with a built-in activation can implement so that its logits can be taken: the same
 * computation as `call` without the final activation, on the same weights.
 */
export interface PreActivationCallable {
  callWithoutActivation(
    inputs: tf.Tensor | tf.Tensor[],
    kwargs: Record<string, unknown>,
  ): tf.Tensor | tf.Tensor[];
}

function hasCallWithoutActivation(layer: tf.layers.Layer): layer is tf.layers.Layer & PreActivationCallable {
  return typeof (layer as Partial<PreActivationCallable>).callWithoutActivation === 'function';
}

/**
 * Whether the layer keeps its activation where TF.js's Dense and Conv keep it — an `activation` object whose class
 * name is the configured activation — so swapping that object out is known to remove it. Custom layers that store
 * theirs elsewhere must implement {@link PreActivationCallable} instead.
 */
function holdsSwappableActivation(layer: tf.layers.Layer, activation: string): boolean {
  const held = (layer as unknown as { activation?: { getClassName?: () => string } }).activation;
  return typeof held?.getClassName === 'function' && held.getClassName() === activation;
}

function canComputePreActivation(layer: tf.layers.Layer, activation: string): boolean {
  return hasCallWithoutActivation(layer) || holdsSwappableActivation(layer, activation);
}

/** TF.js's identity activation as Dense and Conv look it up: by class name `linear` for their fused kernels. */
const LINEAR_ACTIVATION = {
  getClassName: (): string => 'linear',
  apply: (x: tf.Tensor): tf.Tensor => x,
  getConfig: (): tf.serialization.ConfigDict => ({}),
};

/**
 * A view of a layer with a folded activation that computes the same thing without the activation, on the same
 * weight variables. It reports the source's class name and config (with `activation: 'linear'`) and the source's
 * weights, so that serialising the logits model gives an ordinary Dense/Conv layer with the same weight names, and
 * code that inspects layers by class name (Laplace, Bayesian conversion) treats it as the layer it stands for.
 */
class PreActivationView extends tf.layers.Layer {
  static readonly className = 'BayescompPreActivationView';

  constructor(readonly source: tf.layers.Layer) {
    super({ name: source.name, trainable: source.trainable, dtype: source.dtype });
  }

  override build(): void {
    this.built = true;
  }

  override get trainableWeights(): tf.LayerVariable[] {
    return this.source.trainableWeights;
  }
  override set trainableWeights(_weights: tf.LayerVariable[]) {
    throw new Error('the weights of a pre-activation view belong to its source layer');
  }
  override get nonTrainableWeights(): tf.LayerVariable[] {
    return this.source.nonTrainableWeights;
  }
  override set nonTrainableWeights(_weights: tf.LayerVariable[]) {
    throw new Error('the weights of a pre-activation view belong to its source layer');
  }
  override get weights(): tf.LayerVariable[] {
    return this.source.weights;
  }

  override computeOutputShape(inputShape: tf.Shape | tf.Shape[]): tf.Shape | tf.Shape[] {
    return this.source.computeOutputShape(inputShape);
  }

  override call(inputs: tf.Tensor | tf.Tensor[], kwargs: Record<string, unknown>): tf.Tensor | tf.Tensor[] {
    if (hasCallWithoutActivation(this.source)) return this.source.callWithoutActivation(inputs, kwargs);
    // Dense and Conv keep their activation in a private field that their `call` reads; swapping it for the identity
    // for the duration of this synchronous call reuses their exact computation (fused kernels included).
    const source = this.source as unknown as { activation: unknown };
    const saved = source.activation;
    source.activation = LINEAR_ACTIVATION;
    try {
      return this.source.call(inputs, kwargs);
    } finally {
      source.activation = saved;
    }
  }

  override getClassName(): string {
    return this.source.getClassName();
  }

  override getConfig(): tf.serialization.ConfigDict {
    return { ...this.source.getConfig(), name: this.name, activation: 'linear' };
  }

  override dispose(): DisposeResult {
    return { refCountAfterDispose: 0, numDisposedVariables: 0 };
  }
}
