import * as tf from '@tensorflow/tfjs';
import type { Random } from '../runtime/random.js';
import { BayescompError } from '../util/errors.js';
import {
  type BaseLayerArgs,
  BayesianLayer,
  type BayesianLayerArgs,
  type LocalReparameterisationArgs,
} from './bayesianLayer.js';
import { localReparameterisedDense } from './localReparameterisation.js';
import { randomSigns } from './noise.js';

/** Arguments of {@link BayesianDense}: `units` plus the Bayesian and standard layer arguments. */
export interface BayesianDenseArgs extends BayesianLayerArgs, BaseLayerArgs {
  /** Number of output units. */
  readonly units: number;
}

/**
 * A fully connected layer with a posterior over its kernel (and optionally its bias): y = act(x·W + b) with
 * W ~ q(W). Inputs of rank > 2 are mapped along their last axis, as `tf.layers.dense` does. Local reparameterisation
 * by default (Kingma et al. 2015: y ~ N(x·μ, x²·σ²) per example).
 */
export class BayesianDense extends BayesianLayer {
  static readonly className = 'BayesianDense';
  readonly units: number;

  constructor(args: BayesianDenseArgs) {
    super(args);
    if (!(Number.isInteger(args.units) && args.units > 0)) {
      throw new BayescompError(
        'bad-config',
        `BayesianDense: units must be a positive integer, got ${args.units}`,
      );
    }
    this.units = args.units;
  }

  protected kernelShape(inputShape: tf.Shape): number[] {
    const last = inputShape[inputShape.length - 1];
    if (last === null || last === undefined) {
      throw new BayescompError(
        'bad-shape',
        `BayesianDense '${this.name}': the last input dimension must be known`,
      );
    }
    return [last, this.units];
  }

  protected outputCount(): number {
    return this.units;
  }

  protected kernelAxes(): { input: number; output: number } {
    return { input: 0, output: 1 };
  }

  protected override prepareInput(x: tf.Tensor): tf.Tensor {
    return x.rank === 2 ? x : tf.reshape(x, [-1, x.shape[x.rank - 1]]);
  }

  protected override restoreOutput(y: tf.Tensor, input: tf.Tensor): tf.Tensor {
    return input.rank === 2 ? y : tf.reshape(y, [...input.shape.slice(0, -1), this.units]);
  }

  protected linear(x: tf.Tensor, w: tf.Tensor): tf.Tensor {
    // The built-in gradient forms only the gradients the tape needs; the runtime's BatchMatMul wrapper turns its
    // transposed products into explicit transposes and plain products on wasm.
    return tf.matMul(x as tf.Tensor2D, w as tf.Tensor2D);
  }

  protected linearOutputShape(x: tf.Tensor): number[] {
    return [x.shape[0], this.units];
  }

  /** {@link localReparameterisedDense} (same values and gradients as the composition); composed with group scales. */
  protected override localReparameterised(args: LocalReparameterisationArgs): tf.Tensor {
    if (args.outputScale) return super.localReparameterised(args);
    return localReparameterisedDense({
      x: args.x as tf.Tensor2D,
      mean: args.mean as tf.Tensor2D,
      variance: args.variance as tf.Tensor2D,
      noise: args.noise as tf.Tensor2D,
      biasMean: args.biasMean as tf.Tensor1D | undefined,
      biasVariance: args.biasVariance as tf.Tensor1D | undefined,
    });
  }

  protected scaleChannels(x: tf.Tensor, scales: tf.Tensor2D): tf.Tensor {
    return tf.mul(x, scales);
  }

  protected flipoutSigns(x: tf.Tensor, channels: number, random: Random): tf.Tensor {
    return randomSigns([x.shape[0], channels], random);
  }

  override computeOutputShape(inputShape: tf.Shape | tf.Shape[]): tf.Shape {
    const shape = (Array.isArray(inputShape[0]) ? inputShape[0] : inputShape) as tf.Shape;
    return [...shape.slice(0, -1), this.units];
  }

  override getConfig(): tf.serialization.ConfigDict {
    return { ...super.getConfig(), units: this.units, ...this.bayesianConfig() };
  }
}
tf.serialization.registerClass(BayesianDense);

/** A {@link BayesianDense} layer (factory in the style of `tf.layers.dense`). */
export function bayesianDense(args: BayesianDenseArgs): BayesianDense {
  return new BayesianDense(args);
}
