import * as tf from '@tensorflow/tfjs';
import type { Random } from '../runtime/random.js';
import { BayescompError } from '../util/errors.js';
import { type BaseLayerArgs, BayesianLayer, type BayesianLayerArgs } from './bayesianLayer.js';
import { randomSigns } from './noise.js';

/** Arguments of {@link BayesianConv2D} (channels-last only, like the TF.js default). */
export interface BayesianConv2DArgs extends BayesianLayerArgs, BaseLayerArgs {
  readonly filters: number;
  readonly kernelSize: number | [number, number];
  readonly strides?: number | [number, number];
  readonly padding?: 'valid' | 'same';
  readonly dilationRate?: number | [number, number];
  /** Only `channelsLast` is supported. */
  readonly dataFormat?: 'channelsLast';
}

function pair(value: number | readonly number[], what: string): [number, number] {
  const result: number[] = typeof value === 'number' ? [value, value] : [...value];
  if (result.length !== 2 || !result.every((v) => Number.isInteger(v) && v > 0)) {
    throw new BayescompError(
      'bad-config',
      `BayesianConv2D: ${what} must be a positive integer or a pair, got ${String(value)}`,
    );
  }
  return [result[0], result[1]];
}

/** Output length of a convolution along one axis (as Keras computes it). */
function convOutputLength(
  length: number | null,
  kernel: number,
  padding: string,
  stride: number,
  dilation: number,
) {
  if (length === null) return null;
  const dilated = kernel + (kernel - 1) * (dilation - 1);
  const full = padding === 'same' ? length : length - dilated + 1;
  return Math.floor((full + stride - 1) / stride);
}

/**
 * A 2-D convolution (NHWC) with a posterior over its filters. Local reparameterisation uses the mean-field
 * approximation of seed 001: the output is drawn as N(x ⋆ μ, x² ⋆ σ²) independently per position, which has the exact
 * marginal mean and variance of every output element but ignores their spatial correlation.
 */
export class BayesianConv2D extends BayesianLayer {
  static readonly className = 'BayesianConv2D';
  readonly filters: number;
  readonly kernelSize: [number, number];
  readonly strides: [number, number];
  readonly padding: 'valid' | 'same';
  readonly dilationRate: [number, number];

  constructor(args: BayesianConv2DArgs) {
    super(args);
    if (!(Number.isInteger(args.filters) && args.filters > 0)) {
      throw new BayescompError(
        'bad-config',
        `BayesianConv2D: filters must be a positive integer, got ${args.filters}`,
      );
    }
    if (args.dataFormat !== undefined && args.dataFormat !== 'channelsLast') {
      throw new BayescompError('bad-config', `BayesianConv2D: only channelsLast data is supported`);
    }
    this.filters = args.filters;
    this.kernelSize = pair(args.kernelSize, 'kernelSize');
    this.strides = pair(args.strides ?? 1, 'strides');
    this.padding = args.padding ?? 'valid';
    this.dilationRate = pair(args.dilationRate ?? 1, 'dilationRate');
    if (this.padding !== 'valid' && this.padding !== 'same') {
      throw new BayescompError('bad-config', `BayesianConv2D: padding must be 'valid' or 'same'`);
    }
  }

  protected kernelShape(inputShape: tf.Shape): number[] {
    const channels = inputShape[3];
    if (inputShape.length !== 4 || channels === null || channels === undefined) {
      throw new BayescompError(
        'bad-shape',
        `BayesianConv2D '${this.name}': expects [batch, height, width, channels] inputs`,
      );
    }
    return [this.kernelSize[0], this.kernelSize[1], channels, this.filters];
  }

  protected outputCount(): number {
    return this.filters;
  }

  protected kernelAxes(): { input: number; output: number } {
    return { input: 2, output: 3 };
  }

  protected linear(x: tf.Tensor, w: tf.Tensor): tf.Tensor {
    return tf.conv2d(
      x as tf.Tensor4D,
      w as tf.Tensor4D,
      this.strides,
      this.padding,
      'NHWC',
      this.dilationRate,
    );
  }

  protected linearOutputShape(x: tf.Tensor): number[] {
    return this.computeOutputShape(x.shape) as number[];
  }

  protected scaleChannels(x: tf.Tensor, scales: tf.Tensor2D): tf.Tensor {
    return tf.mul(x, tf.reshape(scales, [scales.shape[0], 1, 1, scales.shape[1]]));
  }

  protected flipoutSigns(x: tf.Tensor, channels: number, random: Random): tf.Tensor {
    return randomSigns([x.shape[0], 1, 1, channels], random);
  }

  override computeOutputShape(inputShape: tf.Shape | tf.Shape[]): tf.Shape {
    const shape = (Array.isArray(inputShape[0]) ? inputShape[0] : inputShape) as tf.Shape;
    return [
      shape[0],
      convOutputLength(shape[1], this.kernelSize[0], this.padding, this.strides[0], this.dilationRate[0]),
      convOutputLength(shape[2], this.kernelSize[1], this.padding, this.strides[1], this.dilationRate[1]),
      this.filters,
    ];
  }

  override getConfig(): tf.serialization.ConfigDict {
    return {
      ...super.getConfig(),
      filters: this.filters,
      kernelSize: [...this.kernelSize],
      strides: [...this.strides],
      padding: this.padding,
      dilationRate: [...this.dilationRate],
      dataFormat: 'channelsLast',
      ...this.bayesianConfig(),
    };
  }
}
tf.serialization.registerClass(BayesianConv2D);

/** A {@link BayesianConv2D} layer (factory in the style of `tf.layers.conv2d`). */
export function bayesianConv2d(args: BayesianConv2DArgs): BayesianConv2D {
  return new BayesianConv2D(args);
}
