import * as tf from '@tensorflow/tfjs';
import type { Random } from '../runtime/random.js';
import { BayescompError } from '../util/errors.js';
import './families/gaussianPosterior.js';
import './families/logUniformPosterior.js';
import {
  createFamily,
  type FamilySpec,
  type GroupScales,
  type PosteriorFamily,
  type FamilyOptionValue,
  type WeightInitializer,
} from './families/posteriorFamily.js';
import { LRT_VARIANCE_EPSILON } from './localReparameterisation.js';
import { noiseSource, standardNormal } from './noise.js';

/**
 * How a Bayesian layer turns its posterior into stochastic outputs during training and sampling:
 * - `local`: local reparameterisation (Kingma, Salimans & Welling 2015): the pre-activation is drawn as
 *   N(x·μ, x²·σ²) per example; for convolutions the mean-field variant N(x ⋆ μ, x² ⋆ σ²) (seed 001);
 * - `shared`: one weight sample w ~ q for the whole batch (plain reparameterisation; what Rényi bounds need);
 * - `flipout`: one perturbation Δ = σ ⊙ ε per batch, decorrelated across examples by random sign vectors
 *   (Wen et al. 2018, eq. 4): x·μ + ((x ⊙ s)·Δ) ⊙ r.
 */
export type Reparameterisation = 'local' | 'shared' | 'flipout';

/**
 * What a Bayesian layer computes outside training: `sample` (stochastic, for Monte-Carlo prediction), `mean`
 * (posterior means, the "weight scaling" rule) or `pruned-mean` (posterior means with weights of log α ≥ threshold set
 * to zero, Molchanov et al. 2017). During training (`training: true`) the layer always samples.
 */
export type PredictionMode = 'sample' | 'mean' | 'pruned-mean';

/** Arguments shared by the Bayesian layers (besides the usual layer arguments such as `name` and `inputShape`). */
export interface BayesianLayerArgs {
  /** Posterior/prior family of the kernel. Default: mean-field Gaussian with N(0, 1) prior. */
  readonly family?: FamilySpec;
  /** Whether the layer has a bias. Default true. */
  readonly useBias?: boolean;
  /** Family of a Bayesian bias; absent or null keeps the bias deterministic (seed 001, "deterministic parameters"). */
  readonly biasFamily?: FamilySpec | null;
  /** Reparameterisation used when sampling. Default `local`. */
  readonly reparameterisation?: Reparameterisation;
  /** Behaviour outside training. Default `sample`. */
  readonly predictionMode?: PredictionMode;
  /** log α threshold above which `pruned-mean` zeroes a weight. Default 3. */
  readonly pruneThreshold?: number;
  /** Activation name as in TF.js (`relu`, `linear`, …). Default linear. */
  readonly activation?: string;
}

/** Standard TF.js layer arguments (name, inputShape, trainable, …). */
export type BaseLayerArgs = NonNullable<ConstructorParameters<typeof tf.layers.Layer>[0]>;

/** A concrete draw of a layer's weights (kernel, and bias when the layer has one). */
export interface WeightSample {
  readonly kernel: tf.Tensor;
  readonly bias?: tf.Tensor;
}

/** What {@link BayesianLayer} hands to its local reparameterisation: input, kernel moments, bias moments, noise. */
export interface LocalReparameterisationArgs {
  /** The layer input (already multiplied by input group scales). */
  readonly x: tf.Tensor;
  readonly mean: tf.Tensor;
  readonly variance: tf.Tensor;
  /** Output group scales `[batch, outputs]` of hierarchical families. */
  readonly outputScale?: tf.Tensor2D;
  /** Standard normal noise shaped like the linear map's output. */
  readonly noise: tf.Tensor;
  /** The deterministic bias, or the Bayesian bias's mean. */
  readonly biasMean?: tf.Tensor;
  /** The Bayesian bias's variance. */
  readonly biasVariance?: tf.Tensor;
}

/**
 * Common machinery of {@link BayesianDense} and {@link BayesianConv2D}: families, bias, reparameterisation modes,
 * prediction modes, KL and sampling. Subclasses supply the linear map (product or convolution) and shapes.
 */
export abstract class BayesianLayer extends tf.layers.Layer {
  readonly familySpec: FamilySpec;
  readonly biasFamilySpec: FamilySpec | null;
  readonly useBias: boolean;
  reparameterisation: Reparameterisation;
  predictionMode: PredictionMode;
  pruneThreshold: number;
  readonly activationName: string;
  kernelFamily?: PosteriorFamily;
  biasFamily?: PosteriorFamily;
  /** The deterministic bias variable (when the bias is not Bayesian). */
  biasVariable?: tf.LayerVariable;
  private activationLayer?: tf.layers.Layer;
  private weightSample?: WeightSample;

  constructor(args: BayesianLayerArgs & BaseLayerArgs) {
    super(args);
    this.familySpec = args.family ?? { name: 'gaussian', options: {} };
    this.biasFamilySpec = args.biasFamily ?? null;
    this.useBias = args.useBias ?? true;
    this.reparameterisation = args.reparameterisation ?? 'local';
    this.predictionMode = args.predictionMode ?? 'sample';
    this.pruneThreshold = args.pruneThreshold ?? 3;
    this.activationName = args.activation ?? 'linear';
    if (!['local', 'shared', 'flipout'].includes(this.reparameterisation)) {
      throw new BayescompError('bad-config', `unknown reparameterisation '${this.reparameterisation}'`);
    }
    if (!['sample', 'mean', 'pruned-mean'].includes(this.predictionMode)) {
      throw new BayescompError('bad-config', `unknown prediction mode '${this.predictionMode}'`);
    }
    if (this.activationName !== 'linear') {
      this.activationLayer = tf.layers.activation({
        activation: this.activationName as Parameters<typeof tf.layers.activation>[0]['activation'],
      });
    }
  }

  /** Shape of the kernel for a given input shape. */
  protected abstract kernelShape(inputShape: tf.Shape): number[];
  /** Number of outputs (units or filters): the bias length. */
  protected abstract outputCount(): number;
  /** Kernel axis of the inputs and outputs (for group families). */
  protected abstract kernelAxes(): { input: number; output: number };
  /** The layer's linear map of `x` with kernel `w` (no bias). */
  protected abstract linear(x: tf.Tensor, w: tf.Tensor): tf.Tensor;
  /** Multiplies the input (input = true) or output channels by per-example scales `[batch, channels]`. */
  protected abstract scaleChannels(x: tf.Tensor, scales: tf.Tensor2D): tf.Tensor;
  /** Random sign tensor broadcastable against the input (input = true) or output of the linear map, for Flipout. */
  protected abstract flipoutSigns(x: tf.Tensor, channels: number, random: Random): tf.Tensor;
  /** Shape of {@link linear}'s result for input `x`. */
  protected abstract linearOutputShape(x: tf.Tensor): number[];

  /**
   * Local reparameterisation with the layer's linear map, as a composition of TF.js ops:
   * y = (z ⊙ (x·μ) + b_μ) + sqrt(z² ⊙ (x²·σ²) + b_σ² + 1e-8) ⊙ ε, where output group scales z multiply the weights,
   * not the bias ((z·w̃)·x has mean z·m and variance z²·v). Subclasses may replace it by a fused op with the same
   * values and gradients.
   */
  protected localReparameterised(args: LocalReparameterisationArgs): tf.Tensor {
    const { x, mean, variance, outputScale, noise, biasMean, biasVariance } = args;
    let m = this.linear(x, mean);
    let v = this.linear(tf.square(x), variance);
    if (outputScale) {
      m = this.scaleChannels(m, outputScale);
      v = this.scaleChannels(v, tf.square(outputScale) as tf.Tensor2D);
    }
    if (biasMean) m = tf.add(m, biasMean);
    if (biasVariance) v = tf.add(v, biasVariance);
    return tf.add(m, tf.mul(tf.sqrt(tf.add(v, LRT_VARIANCE_EPSILON)), noise));
  }

  /** Reshapes inputs to what {@link linear} accepts and back (dense layers flatten leading axes). */
  protected prepareInput(x: tf.Tensor): tf.Tensor {
    return x;
  }
  protected restoreOutput(y: tf.Tensor, _input: tf.Tensor): tf.Tensor {
    return y;
  }

  override build(inputShape: tf.Shape | tf.Shape[]): void {
    const shape = (Array.isArray(inputShape[0]) ? inputShape[0] : inputShape) as tf.Shape;
    const kernelShape = this.kernelShape(shape);
    const addWeight = (
      name: string,
      weightShape: readonly number[],
      initializer: WeightInitializer,
      trainable: boolean,
    ) => this.addWeight(name, weightShape.slice(), 'float32', initializer, undefined, trainable);
    const axes = this.kernelAxes();
    this.kernelFamily = createFamily(this.familySpec);
    this.kernelFamily.build({
      name: 'kernel',
      shape: kernelShape,
      addWeight,
      inputAxis: axes.input,
      outputAxis: axes.output,
    });
    if (this.useBias) {
      if (this.biasFamilySpec) {
        this.biasFamily = createFamily(this.biasFamilySpec);
        this.biasFamily.build({ name: 'bias', shape: [this.outputCount()], addWeight, outputAxis: 0 });
      } else {
        this.biasVariable = addWeight('bias', [this.outputCount()], tf.initializers.zeros(), true);
      }
    }
    this.built = true;
  }

  /** The kernel family (throws before the layer is built). */
  family(): PosteriorFamily {
    if (!this.kernelFamily) throw new Error(`Bayesian layer '${this.name}' used before it was built`);
    return this.kernelFamily;
  }

  /** Forces the next forward passes to use these weights (for per-sample objectives); `undefined` clears it. */
  setWeightSample(sample: WeightSample | undefined): void {
    this.weightSample = sample;
  }

  /** One draw of the kernel (and bias: a draw when Bayesian, the value when deterministic). */
  sampleWeights(random: Random = noiseSource()): WeightSample {
    const kernel = this.family().sample(random);
    return {
      kernel,
      bias: this.biasFamily ? this.biasFamily.sample(random) : this.biasVariable?.read().clone(),
    };
  }

  /** Posterior-mean weights; with `pruned`, kernel entries whose log α ≥ {@link pruneThreshold} are zero. */
  meanWeights(pruned = false): WeightSample {
    return tf.tidy(() => {
      const family = this.family();
      let kernel = family.mean();
      if (pruned) kernel = tf.mul(kernel, this.keepMask());
      const bias = this.biasFamily ? this.biasFamily.mean() : this.biasVariable?.read().clone();
      return bias ? { kernel, bias } : { kernel };
    });
  }

  /** 1 where a kernel weight is kept (log α < threshold), 0 where pruned; all ones for families without log α. */
  keepMask(): tf.Tensor {
    const family = this.family();
    return tf.tidy(() => {
      if (!family.logAlpha) return tf.onesLike(family.mean());
      return tf.cast(tf.less(family.logAlpha(), this.pruneThreshold), 'float32');
    });
  }

  /** log p(w) − log q(w) of a weight sample (kernel and Bayesian bias); throws when a family lacks densities. */
  logDensityRatio(sample: WeightSample): tf.Scalar {
    return tf.tidy(() => {
      let total = densityRatio(this.family(), sample.kernel, this.name);
      if (this.biasFamily && sample.bias)
        total = tf.add(total, densityRatio(this.biasFamily, sample.bias, this.name));
      return total as tf.Scalar;
    });
  }

  /** KL(q ‖ p) of the layer's Bayesian weights (kernel, and bias when Bayesian). */
  kl(): tf.Scalar {
    return tf.tidy(() => {
      const kernelKl = this.family().kl();
      return (this.biasFamily ? tf.add(kernelKl, this.biasFamily.kl()) : kernelKl) as tf.Scalar;
    });
  }

  /**
   * Part `part` of `parts` of {@link kl}, for data-parallel workers: each family's own split where it has one
   * ({@link PosteriorFamily.klPart}), otherwise its whole KL in part 0. The parts sum to {@link kl}.
   */
  klPart(part: number, parts: number): tf.Scalar {
    return tf.tidy(() => {
      const families = this.biasFamily ? [this.family(), this.biasFamily] : [this.family()];
      const terms = families.map((f) =>
        f.klPart ? f.klPart(part, parts) : part === 0 ? f.kl() : tf.scalar(0),
      );
      return (terms.length === 1 ? terms[0] : tf.addN(terms)) as tf.Scalar;
    });
  }

  override call(inputs: tf.Tensor | tf.Tensor[], kwargs: Record<string, unknown>): tf.Tensor {
    return tf.tidy(() => {
      const original = Array.isArray(inputs) ? inputs[0] : inputs;
      const x = this.prepareInput(original);
      const mode = kwargs.training === true ? 'sample' : this.predictionMode;
      let y: tf.Tensor;
      if (this.weightSample) {
        y = this.affine(x, this.weightSample);
      } else if (mode !== 'sample') {
        y = this.affine(x, this.meanWeights(mode === 'pruned-mean'));
      } else if (this.reparameterisation === 'shared') {
        y = this.affine(x, this.sampleWeights(noiseSource()));
      } else {
        y = this.stochasticForward(x, this.reparameterisation, noiseSource());
      }
      y = this.restoreOutput(y, original);
      return this.activationLayer ? (this.activationLayer.apply(y) as tf.Tensor) : y;
    });
  }

  private affine(x: tf.Tensor, weights: WeightSample): tf.Tensor {
    const y = this.linear(x, weights.kernel);
    return weights.bias ? tf.add(y, weights.bias) : y;
  }

  /** Local reparameterisation or Flipout, with the family's per-example group scales when it has them. */
  private stochasticForward(x: tf.Tensor, mode: 'local' | 'flipout', random: Random): tf.Tensor {
    const family = this.family();
    const batch = x.shape[0];
    const scales: GroupScales = family.sampleGroupScales ? family.sampleGroupScales(batch, random) : {};
    const input = scales.input ? this.scaleChannels(x, scales.input) : x;
    const { mean, variance } = family.localMoments();
    let y: tf.Tensor;
    if (mode === 'local') {
      const biasMoments = this.biasFamily?.localMoments();
      y = this.localReparameterised({
        x: input,
        mean,
        variance,
        outputScale: scales.output,
        biasMean: biasMoments ? biasMoments.mean : this.biasVariable?.read(),
        biasVariance: biasMoments?.variance,
        noise: standardNormal(this.linearOutputShape(input), random),
      });
    } else {
      const perturbation = tf.mul(tf.sqrt(variance), standardNormal(mean.shape, random));
      const inputSigns = this.flipoutSigns(input, this.kernelAxisSize(mean, true), random);
      const base = this.linear(input, mean);
      const outputSigns = this.flipoutSigns(base, this.outputCount(), random);
      y = tf.add(base, tf.mul(this.linear(tf.mul(input, inputSigns), perturbation), outputSigns));
      if (scales.output) y = this.scaleChannels(y, scales.output);
      if (this.biasFamily) {
        const biasMoments = this.biasFamily.localMoments();
        const biasNoise = tf.mul(tf.sqrt(biasMoments.variance), standardNormal(y.shape, random));
        y = tf.add(y, tf.add(biasMoments.mean, biasNoise));
      } else if (this.biasVariable) {
        y = tf.add(y, this.biasVariable.read());
      }
    }
    return y;
  }

  private kernelAxisSize(kernel: tf.Tensor, input: boolean): number {
    const axes = this.kernelAxes();
    return kernel.shape[input ? axes.input : axes.output];
  }

  /** Fraction bookkeeping for sparsity reports: pruned and total kernel weights (log α ≥ threshold is pruned). */
  sparsityCounts(): { pruned: number; total: number } {
    const mask = this.keepMask();
    const kept = tf.tidy(() => tf.sum(mask).dataSync()[0]);
    const total = mask.size;
    mask.dispose();
    return { pruned: total - kept, total };
  }

  /** The Bayesian part of `getConfig()` (families with their options, modes, activation). */
  protected bayesianConfig(): tf.serialization.ConfigDict {
    return {
      family: specConfig(this.kernelFamily, this.familySpec),
      useBias: this.useBias,
      biasFamily: this.biasFamilySpec ? specConfig(this.biasFamily, this.biasFamilySpec) : null,
      reparameterisation: this.reparameterisation,
      predictionMode: this.predictionMode,
      pruneThreshold: this.pruneThreshold,
      activation: this.activationName,
    };
  }
}

function specConfig(family: PosteriorFamily | undefined, spec: FamilySpec): tf.serialization.ConfigDict {
  const options: Record<string, FamilyOptionValue> = family
    ? family.getOptions()
    : { ...(spec.options ?? {}) };
  return { name: spec.name, options };
}

function densityRatio(family: PosteriorFamily, w: tf.Tensor, layer: string): tf.Scalar {
  if (!family.logPrior || !family.logPosterior) {
    throw new BayescompError(
      'bad-config',
      `layer '${layer}': the '${family.familyName}' family has no normalised log densities (needed by Rényi/Monte-Carlo objectives; use the gaussian family)`,
    );
  }
  return tf.sub(family.logPrior(w), family.logPosterior(w)) as tf.Scalar;
}
