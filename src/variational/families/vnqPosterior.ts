import * as tf from '@tensorflow/tfjs';
import { getGlobalRandom, type Random } from '../../runtime/random.js';
import { requireConfig } from '../../util/errors.js';
import { gaussianLogDensity } from '../gaussianKl.js';
import { LOG_ALPHA_CLIP, sparseLogAlpha } from '../logUniformKl.js';
import { standardNormal } from '../noise.js';
import {
  type FamilyBuildContext,
  type FamilyOptionValue,
  type FamilySpec,
  type GaussianMoments,
  meanInitializer,
  numberOption,
  type PosteriorFamily,
  registerPosteriorFamily,
  rowBlock,
} from './posteriorFamily.js';
import { quantizingPriorKl, vnqCodebookIndices, VNQ_TAU } from './quantizingPrior.js';

/** Options of the VNQ (quantizing prior) family. */
export interface VnqOptions {
  /** Initial codebook value r of the ternary codebook [−r, 0, r]. Default 0.2. */
  readonly codebookInit?: number;
  /**
   * Learning-rate factor of r (Achterhold et al. 2018 train it with the learning rate × 0.01). Implemented by the
   * parametrisation r = factor · raw with `raw` the trained variable: under Adam (invariant to gradient scale) r then
   * moves `factor` times as fast as with a direct parametrisation; under plain SGD `factor²` times. Default 0.01.
   */
  readonly codebookLrScale?: number;
  /** Width τ of the spike weighting functions. Default 0.075. */
  readonly tau?: number;
  /** Initial log σ² of every weight. Default −8 (the paper's LeNet-5 setting). */
  readonly initLogSigma2?: number;
  /** Standard deviation of the N(0, s²) initialisation of θ; Glorot-normal when absent. */
  readonly initStd?: number;
  /** log α is clipped to [−c, c] in the KL. Default 10. */
  readonly logAlphaClip?: number;
}

/** A {@link FamilySpec} for Variational Network Quantization (`vnq`). */
export function vnqFamily(options: VnqOptions = {}): FamilySpec {
  return { name: VnqPosterior.familyName, options: { ...options } };
}

/** Range log σ² is clipped to wherever it is read (Achterhold et al. 2018, §4). */
export const VNQ_LOG_SIGMA2_RANGE = [-10, 1] as const;

/**
 * Variational Network Quantization (Achterhold, Köhler, Schmeink & Genewein 2018): q(w) = N(θ, σ²) per weight with
 * the multi-spike "quantizing" log-uniform prior p(w) ∝ Σ_k a_k/|w − c_k| (eq. 12) over the ternary codebook
 * [−r, 0, r] (K = 3, a_k = 1/3), r learned. The KL is the approximation of eq. 16–17 ({@link quantizingPriorKl}),
 * log σ² is clipped to (−10, 1). After training, {@link quantizedWeights} prunes weights with log α ≥ 3 (relative
 * to 0, as Sparse VD) and snaps the others to the nearest codebook value (eq. 15), with no fine-tuning.
 *
 * {@link logAlpha} is log α relative to 0, so a layer's `pruned-mean` prediction is the pruned but unquantised model.
 */
export class VnqPosterior implements PosteriorFamily {
  static readonly familyName = 'vnq';
  readonly familyName = VnqPosterior.familyName;
  /** The factor between the trained variable and r (see {@link VnqOptions.codebookLrScale}). */
  readonly codebookLrScale: number;
  private readonly codebookInit: number;
  private readonly tau: number;
  private readonly initLogSigma2: number;
  private readonly initStd: number | undefined;
  private readonly clip: number;
  private theta?: tf.LayerVariable;
  private logSigma2?: tf.LayerVariable;
  private codebookRaw?: tf.LayerVariable;

  constructor(options: Readonly<Record<string, FamilyOptionValue>> = {}) {
    this.codebookInit = numberOption(options, 'codebookInit', 0.2);
    this.codebookLrScale = numberOption(options, 'codebookLrScale', 0.01);
    this.tau = numberOption(options, 'tau', VNQ_TAU);
    this.initLogSigma2 = numberOption(options, 'initLogSigma2', -8);
    const initStd = options.initStd;
    this.initStd = typeof initStd === 'number' ? initStd : undefined;
    this.clip = numberOption(options, 'logAlphaClip', LOG_ALPHA_CLIP);
    requireConfig(
      this.codebookInit > 0,
      `vnq family: codebookInit must be positive, got ${this.codebookInit}`,
    );
    requireConfig(
      this.codebookLrScale > 0,
      `vnq family: codebookLrScale must be positive, got ${this.codebookLrScale}`,
    );
    requireConfig(this.tau > 0, `vnq family: tau must be positive, got ${this.tau}`);
  }

  getOptions(): Record<string, FamilyOptionValue> {
    const options: Record<string, FamilyOptionValue> = {
      codebookInit: this.codebookInit,
      codebookLrScale: this.codebookLrScale,
      tau: this.tau,
      initLogSigma2: this.initLogSigma2,
      logAlphaClip: this.clip,
    };
    if (this.initStd !== undefined) options.initStd = this.initStd;
    return options;
  }

  build(context: FamilyBuildContext): void {
    const seed = getGlobalRandom().tfSeed();
    const init = meanInitializer(this.initStd, seed);
    this.theta = context.addWeight(`${context.name}_theta`, context.shape, init, true);
    this.logSigma2 = context.addWeight(
      `${context.name}_log_sigma2`,
      context.shape,
      tf.initializers.constant({ value: this.initLogSigma2 }),
      true,
    );
    this.codebookRaw = context.addWeight(
      `${context.name}_codebook_raw`,
      [],
      tf.initializers.constant({ value: this.codebookInit / this.codebookLrScale }),
      true,
    );
  }

  private vars(): { theta: tf.Tensor; logSigma2: tf.Tensor; r: tf.Scalar } {
    if (!this.theta || !this.logSigma2 || !this.codebookRaw)
      throw new Error('VnqPosterior used before build()');
    const [lo, hi] = VNQ_LOG_SIGMA2_RANGE;
    return {
      theta: this.theta.read(),
      logSigma2: tf.clipByValue(this.logSigma2.read(), lo, hi),
      r: tf.abs(tf.mul(this.codebookRaw.read(), this.codebookLrScale)) as tf.Scalar,
    };
  }

  /** The trained variable behind r (r = {@link codebookLrScale} · |raw|), e.g. for a per-variable learning rate. */
  codebookVariable(): tf.LayerVariable {
    if (!this.codebookRaw) throw new Error('VnqPosterior used before build()');
    return this.codebookRaw;
  }

  /** The codebook [−r, 0, r] as a tensor (differentiable in r). */
  codebook(): tf.Tensor1D {
    return tf.tidy(() => {
      const { r } = this.vars();
      return tf.stack([tf.neg(r), tf.zerosLike(r), r]) as tf.Tensor1D;
    });
  }

  /** The codebook values [−r, 0, r] as numbers. */
  codebookValues(): number[] {
    const codebook = this.codebook();
    const values = Array.from(codebook.dataSync());
    codebook.dispose();
    return values;
  }

  /** Sets r (e.g. from the range of pretrained weights before VNQ training). */
  setCodebookScale(r: number): void {
    requireConfig(r > 0 && Number.isFinite(r), `vnq family: the codebook value must be positive, got ${r}`);
    const raw = this.codebookVariable();
    tf.tidy(() => {
      raw.write(tf.scalar(r / this.codebookLrScale));
    });
  }

  mean(): tf.Tensor {
    return this.vars().theta.clone();
  }

  variance(): tf.Tensor {
    return tf.tidy(() => tf.exp(this.vars().logSigma2));
  }

  localMoments(): GaussianMoments {
    return { mean: this.mean(), variance: this.variance() };
  }

  sample(random: Random): tf.Tensor {
    return tf.tidy(() => {
      const { theta, logSigma2 } = this.vars();
      return tf.add(theta, tf.mul(tf.exp(tf.mul(0.5, logSigma2)), standardNormal(theta.shape, random)));
    });
  }

  /** log α = log σ² − log(θ² + 1e-8) relative to the spike at 0, clipped (the pruning criterion). */
  logAlpha(): tf.Tensor {
    return tf.tidy(() => {
      const { theta, logSigma2 } = this.vars();
      return sparseLogAlpha(theta, logSigma2, this.clip);
    });
  }

  kl(): tf.Scalar {
    return tf.tidy(() => {
      const { theta, logSigma2, r } = this.vars();
      const centres = tf.stack([tf.neg(r), r]) as tf.Tensor1D;
      return quantizingPriorKl(theta, logSigma2, centres, { tau: this.tau, logAlphaClip: this.clip });
    });
  }

  klPart(part: number, parts: number): tf.Scalar {
    return tf.tidy(() => {
      const { theta, logSigma2, r } = this.vars();
      const centres = tf.stack([tf.neg(r), r]) as tf.Tensor1D;
      return quantizingPriorKl(rowBlock(theta, part, parts), rowBlock(logSigma2, part, parts), centres, {
        tau: this.tau,
        logAlphaClip: this.clip,
      });
    });
  }

  logPosterior(w: tf.Tensor): tf.Scalar {
    return tf.tidy(() => gaussianLogDensity(w, this.vars().theta, this.variance()));
  }

  /** Codebook index (0: −r, 1: 0, 2: r) of every weight after pruning at `threshold` and snapping (int32). */
  codebookIndices(threshold = 3): tf.Tensor {
    return tf.tidy(() => vnqCodebookIndices(this.vars().theta, this.logAlpha(), this.codebook(), threshold));
  }

  /** The quantised weights: 0 where log α ≥ `threshold`, else the codebook value nearest θ (eq. 15). */
  quantizedWeights(threshold = 3): tf.Tensor {
    return tf.tidy(() => tf.gather(this.codebook(), this.codebookIndices(threshold)));
  }

  initialise(values: tf.Tensor, logSigma2: number | tf.Tensor): void {
    if (!this.theta || !this.logSigma2) throw new Error('VnqPosterior used before build()');
    const target = this.logSigma2;
    this.theta.write(values);
    tf.tidy(() => {
      target.write(typeof logSigma2 === 'number' ? tf.fill(values.shape, logSigma2) : logSigma2.clone());
    });
  }
}

registerPosteriorFamily(VnqPosterior.familyName, (options) => new VnqPosterior(options));
